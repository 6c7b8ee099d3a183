package enums

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/parley-go/parley/codegen/testdata/enums/level"
	"github.com/parley-go/parley/rpc"
)

// palette implements Palette, recording that a method ran.
type palette struct{ ran *bool }

func (p palette) Paint(_ context.Context, c Color) (Color, error) { *p.ran = true; return c, nil }
func (p palette) Sized(s Size) (Size, error)                      { *p.ran = true; return s, nil }
func (p palette) Shapes(shapes []Shape) (int, error)              { *p.ran = true; return len(shapes), nil }
func (p palette) ByColor(map[Color][]*Shape) error                { *p.ran = true; return nil }
func (p palette) Urgent(*level.Level) error                       { *p.ran = true; return nil }
func (p palette) Fixed([3]Size) error                             { *p.ran = true; return nil }
func (p palette) Plain(s string, _ int) (string, error)           { *p.ran = true; return s, nil }
func (p palette) Chmod(m Perm) (Perm, error)                      { *p.ran = true; return m, nil }
func (p palette) Plan(Task, Day) error                            { *p.ran = true; return nil }
func (p palette) Mask(m level.Mask) (level.Mask, error)           { *p.ran = true; return m, nil }

// TestEnumsAreChecked calls the generated handlers over HTTP: values in
// their enums reach the method, and any other is refused with
// invalid_argument naming where it is.
func TestEnumsAreChecked(t *testing.T) {
	cases := []struct {
		method string
		args   string
		err    string // the error message; "" for success
	}{
		{"paint", `["green"]`, ""},
		{"paint", `["blue"]`, `argument c: "blue" is not a Color (want "red" or "green")`},
		{"sized", `[3]`, ""},
		{"sized", `[4]`, `argument s: 4 is not a Size (want 1, 2 or 3)`},
		{"shapes", `[[{"color":"red","tint":"green","size":2,"layers":["red"],"grid":[[1,2],[3,1]],"level":1,"quoted":"1","inline":{"c":"red"},"kids":[null,{"color":"green","grid":[[1,1],[1,1]],"quoted":"3","inline":{"c":"green"}}]}]]`, ""},
		{"shapes", `[[{"color":"red","tint":"pink","grid":[[1,1],[1,1]],"quoted":"1","inline":{"c":"red"}}]]`, `argument shapes: [0].tint: "pink" is not a Color (want "red" or "green")`},
		{"shapes", `[[{"color":"red","size":9,"grid":[[1,1],[1,1]],"quoted":"1","inline":{"c":"red"}}]]`, `argument shapes: [0].size: 9 is not a Size (want 1, 2 or 3)`},
		{"shapes", `[[{"color":"red","grid":[[1,1],[1,0]],"quoted":"1","inline":{"c":"red"}}]]`, `argument shapes: [0].grid[1][1]: 0 is not a Size (want 1, 2 or 3)`},
		{"shapes", `[[{"color":"red","grid":[[1,1],[1,1]],"quoted":"1","inline":{"c":"red"},"kids":[{"color":"red","layers":["red","blue"],"grid":[[1,1],[1,1]],"quoted":"1","inline":{"c":"red"}}]}]]`, `argument shapes: [0].kids[0].layers[1]: "blue" is not a Color (want "red" or "green")`},
		{"shapes", `[[{"color":"red","grid":[[1,1],[1,1]],"quoted":"1","inline":{"c":"red"},"byName":{"x":"teal"}}]]`, `argument shapes: [0].byName["x"]: "teal" is not a Color (want "red" or "green")`},
		{"shapes", `[[{"color":"red","grid":[[1,1],[1,1]],"quoted":"1","inline":{"c":"red"},"counts":{"mauve":1}}]]`, `argument shapes: [0].counts["mauve"]: "mauve" is not a Color (want "red" or "green")`},
		{"shapes", `[[{"color":"red","grid":[[1,1],[1,1]],"quoted":"5","inline":{"c":"red"}}]]`, `argument shapes: [0].quoted: 5 is not a Size (want 1, 2 or 3)`},
		{"shapes", `[[{"color":"red","grid":[[1,1],[1,1]],"quoted":"1","inline":{"c":"gold"}}]]`, `argument shapes: [0].inline.c: "gold" is not a Color (want "red" or "green")`},
		{"shapes", `[[{"color":"red","grid":[[1,1],[1,1]],"quoted":"1","inline":{"c":"red"},"level":2}]]`, `argument shapes: [0].level: 2 is not a Level (want -1, 0 or 1)`},
		{"byColor", `[{"green":[null]}]`, ""},
		{"byColor", `[{"grey":[]}]`, `argument m: ["grey"]: "grey" is not a Color (want "red" or "green")`},
		{"urgent", `[null]`, ""},
		{"urgent", `[-1]`, ""},
		{"urgent", `[7]`, `argument l: 7 is not a Level (want -1, 0 or 1)`},
		{"fixed", `[[1,2,3]]`, ""},
		{"fixed", `[[1,2,-3]]`, `argument sizes: [2]: -3 is not a Size (want 1, 2 or 3)`},
		{"plain", `["anything", 5]`, ""},
		{"chmod", `[3]`, ""}, // Read|Write: flags combine
		{"chmod", `[0]`, ""},
		{"chmod", `[255]`, ""},
		{"mask", `[3]`, ""},                  // flags of another package
		{"plan", `[{"Color":"red"}, 4]`, ""}, // prio, due and tint left out
		{"plan", `[{"Color":"red","prio":0,"due":0,"tint":""}, 1]`, ""},
		{"plan", `[{"Color":"red","prio":2,"due":2,"tint":"green"}, 2]`, ""},
		{"plan", `[{"Color":""}, 1]`, `argument t: Color: "" is not a Color (want "red" or "green")`},
		{"plan", `[{"Color":"red","prio":4}, 1]`, `argument t: prio: 4 is not a Size (want 1, 2 or 3)`},
		{"plan", `[{"Color":"red","due":3}, 1]`, `argument t: due: 3 is not a Day (want 1, 2 or 4)`},
		{"plan", `[{"Color":"red","tint":"blue"}, 1]`, `argument t: tint: "blue" is not a Color (want "red" or "green")`},
		{"plan", `[{"Color":"red"}, 3]`, `argument on: 3 is not a Day (want 1, 2 or 4)`},
		{"plan", `[{"Color":"red"}, 0]`, `argument on: 0 is not a Day (want 1, 2 or 4)`},
	}
	srv := rpc.NewServer()
	var ran bool
	RegisterPalette(srv, palette{ran: &ran})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	for _, c := range cases {
		t.Run(c.method+c.args, func(t *testing.T) {
			ran = false
			body := `{"calls":[{"id":1,"service":"Palette","method":"` + c.method + `","args":` + c.args + `}]}`
			req, err := http.NewRequest("POST", ts.URL+"/parley/call", bytes.NewBufferString(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Parley", "1")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var reply struct {
				Results []struct {
					Error *rpc.Error `json:"error"`
				} `json:"results"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
				t.Fatal(err)
			}
			if len(reply.Results) != 1 {
				t.Fatalf("got %d results, want 1", len(reply.Results))
			}
			got := reply.Results[0].Error
			switch {
			case c.err == "" && got != nil:
				t.Fatalf("got error %v, want success", got)
			case c.err == "" && !ran:
				t.Fatal("the method did not run")
			case c.err != "" && got == nil:
				t.Fatalf("got success, want %s", c.err)
			case c.err != "" && (got.Code != rpc.CodeInvalidArgument || got.Message != c.err):
				t.Fatalf("got %s %q, want invalid_argument %q", got.Code, got.Message, c.err)
			case c.err != "" && ran:
				t.Fatal("the method ran with a value outside its enum")
			}
		})
	}
}
