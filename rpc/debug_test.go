package rpc

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// golden reads a .d.ts the generator wrote for its tests.
func golden(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile("../codegen/testdata/" + path)
	require.NoError(t, err)
	return string(b)
}

func TestDebugArgsTemplate(t *testing.T) {
	t.Parallel()
	palette := parseDecls(golden(t, "enums/Palette.d.ts.golden"))
	store := parseDecls(golden(t, "types/Store.d.ts.golden"))
	for _, tc := range []struct {
		name  string
		sig   string
		n     int
		decls tsDecls
		want  string
	}{
		{"no parameters", "ping(): Promise<void>", 0, store, `[]`},
		{"primitives", "reserved(new_: string, class_: number, options_: boolean, parley_: string, in_: string[]): Promise<void>", 5, store,
			`["", 0, false, "", []]`},
		{"no signature", "", 2, store, `[null, null]`},
		{"string enum: its first value", "paint(c: Color): Promise<Color>", 1, palette, `["red"]`},
		{"number enum: its first value", "urgent(l: Level | null): Promise<void>", 1, palette, `[-1]`},
		{"flags are a number", "chmod(p: Perm): Promise<Perm>", 1, palette, `[0]`},
		{"fixed-length array", "fixed(sizes: Size[] /* length 3 */): Promise<void>", 1, palette, `[[]]`},
		{"records", "byColor(m: Partial<Record<Color, (Shape | null)[]>>): Promise<void>", 1, palette, `[{}]`},
		{"unknown and Blob", "put(f: Blob | null, v: unknown): Promise<number>", 2, store, `[null, null]`},
		{"inline object", "box(size: { w: number; h?: number }): Promise<Record<string, Point | null>>", 1, store, `[{"w":0,"h":0}]`},
		{"nullable interface", "near(p: Point, within: number | null, at: string[]): Promise<string[]>", 3, store, `[{"lat":0,"lng":0}, 0, []]`},
		{"an undeclared type", "get(x: Nowhere): Promise<void>", 1, store, `[null]`},
		{"more parameters than the signature names", "get(id: string): Promise<void>", 2, store, `["", null]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, argsTemplate(tc.sig, tc.n, tc.decls))
		})
	}

	t.Run("interfaces with their fields, in order, ending recursion in null", func(t *testing.T) {
		t.Parallel()
		got := argsTemplate("tree(root: Tree, depth: number): Promise<Tree>", 2, store)
		assert.Equal(t, `[{"label":"","children":[]}, 0]`, got, "short: on one line")

		got = argsTemplate("get(item: Item | null): Promise<void>", 1, store)
		var args []map[string]any
		require.NoError(t, json.Unmarshal([]byte(got), &args))
		require.Len(t, args, 1)
		item := args[0]
		assert.Nil(t, item["parent"], "Item inside Item is null")
		assert.Equal(t, map[string]any{"lat": 0.0, "lng": 0.0}, item["where"])
		assert.Equal(t, map[string]any{"W": 0.0, "H": 0.0}, item["size"])
		assert.Equal(t, "", item["kebab-case"], "quoted property names")
		assert.Equal(t, "", item["-"])
		assert.Equal(t, false, item["ok"])
		assert.Equal(t, map[string]any{}, item["attrs"])
		assert.Regexp(t, `^\[\n  \{\n    "created": "",\n    "version": 0,`, got, "fields in declaration order")
	})

	t.Run("shapes with enums in every place", func(t *testing.T) {
		t.Parallel()
		var args []map[string]any
		require.NoError(t, json.Unmarshal([]byte(argsTemplate("plan(t: Task, on: Day): Promise<void>", 1, palette)), &args))
		assert.Equal(t, []map[string]any{{"prio": 1.0, "due": 1.0, "Color": "red", "tint": "red"}}, args)
	})
}

var textareas = regexp.MustCompile(`(?s)data-service="([^"]*)" data-method="([^"]*)">.*?<textarea[^>]*>(.*?)</textarea>`)

func TestDebugPageForms(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithDebugPage())
	noop := func(context.Context, Args) (any, error) { return nil, nil }
	f.srv.Register(ServiceDesc{Name: "Palette", Types: golden(t, "enums/Palette.d.ts.golden"), Methods: []MethodDesc{
		{Name: "paint", Signature: "paint(c: Color): Promise<Color>", Params: []string{"c"}, Handler: noop},
		{Name: "plain", Signature: "plain(s: string, n: number): Promise<string>", Params: []string{"s", "n"}, Handler: noop},
	}})
	status, _, page := f.client(t).get("/parley/")
	require.Equal(t, http.StatusOK, status)

	forms := map[string]string{}
	for _, m := range textareas.FindAllStringSubmatch(page, -1) {
		forms[m[1]+"."+m[2]] = html.UnescapeString(m[3])
	}
	assert.Equal(t, `["red"]`, forms["Palette.paint"], "pre-filled by type")
	assert.Equal(t, `["", 0]`, forms["Palette.plain"])
	assert.Equal(t, `[null, null]`, forms["Calc.add"], "no signature: null")
	for form := range forms {
		assert.NotRegexp(t, `^\$parley\.`, form, "the runtime's own service is hidden")
	}
	assert.NotContains(t, page, BuiltinService)
}
