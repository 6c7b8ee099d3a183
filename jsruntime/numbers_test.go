package jsruntime

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Level is a wide integer type of its own.
type Level int64

// Quoted carries an integer as text.
type Quoted uint64

// MarshalText implements encoding.TextMarshaler.
func (q Quoted) MarshalText() ([]byte, error) { return []byte("q"), nil }

// inner is embedded, so its fields are promoted.
type inner struct {
	Deep int64 `json:"deep"`
}

// record holds wide integers in every kind of place.
type record struct {
	*inner
	ID      int64            `json:"id"`
	Items   []uint64         `json:"items"`
	ByKey   map[int64]string `json:"byKey"`
	Nested  map[string]any   `json:"nested"`
	Text    int64            `json:"text,string"`
	Skipped int64            `json:"-"`
	hidden  int64
	Odd     int        `json:"odd name"`
	Ratio   float64    `json:"ratio"`
	Array   [2]uintptr `json:"array"`
	Ptr     *Level     `json:"ptr"`
	Quoted  Quoted     `json:"quoted"`
}

func TestCheckIntegers(t *testing.T) {
	t.Parallel()
	const big = 1 << 53
	lvl := Level(-big)
	for _, tc := range []struct {
		name string
		in   any
		want string // the error; "" for none
	}{
		{"nil", nil, ""},
		{"safe int64", int64(1<<53 - 1), ""},
		{"safe negative", -(1<<53 - 1), ""},
		{"int64", int64(big), "integer 9007199254740992 cannot be represented exactly in JavaScript (the limit is ±9007199254740991)"},
		{"negative int", -big, "integer -9007199254740992 cannot"},
		{"uint64", uint64(1<<64 - 1), "integer 18446744073709551615 cannot"},
		{"named", Level(big + 1), "integer 9007199254740993 cannot"},
		{"duration", 200 * 24 * time.Hour, "integer 17280000000000000 cannot"},
		{"narrow types", []any{int32(1 << 30), uint32(1<<32 - 1), int8(-1)}, ""},
		{"float 1e15", 1e15, ""},
		{"float 1e20", 1e20, ""},
		{"float 1.7e18", []float64{1.7e18}, ""},
		{"float32", float32(1e20), ""},
		{"text", "9007199254740993", ""},
		{"bytes", []byte{255, 255}, ""},
		{"item", []any{1, "x", int64(big)}, "[2]: integer 9007199254740992"},
		{"struct field", record{ID: big}, "id: integer"},
		{"promoted", record{inner: &inner{Deep: -big}}, "deep: integer -9007199254740992"},
		{"nil embedded", record{}, ""},
		{"slice in struct", &record{Items: []uint64{1, big}}, "items[1]: integer"},
		{"map key", record{ByKey: map[int64]string{big: "x"}}, `byKey["9007199254740992"]: integer`},
		{"map value", map[string]any{"a": []any{map[string]int{"b": big}}}, `["a"][0]["b"]: integer`},
		{"quoted name", record{Odd: big}, `["odd name"]: integer`},
		{"array", record{Array: [2]uintptr{0, big}}, "array[1]: integer"},
		{"pointer", record{Ptr: &lvl}, "ptr: integer -9007199254740992"},
		{"string option", record{Text: big}, ""},
		{"tagged -", record{Skipped: big}, ""},
		{"unexported", record{hidden: big}, ""},
		{"float field", record{Ratio: 1e20}, ""},
		{"text marshaler", record{Quoted: 1 << 60}, ""},
		{"marshaler", netip.AddrFrom4([4]byte{1, 2, 3, 4}), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := CheckIntegers(tc.in)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			var ue *UnsafeIntegerError
			if !errors.As(err, &ue) {
				t.Fatalf("got %v, want an *UnsafeIntegerError", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %q, want it to start with %q", err, tc.want)
			}
		})
	}
}

func TestCheckIntegersStopsOnCycles(t *testing.T) {
	t.Parallel()
	type node struct{ Next *node }
	n := &node{}
	n.Next = n
	if err := CheckIntegers(n); err != nil {
		t.Fatalf("got %v; a cycle is for the encoder to refuse", err)
	}
}

func TestCheckInteger(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"max", CheckInteger(int64(MaxSafeInteger)), ""},
		{"min", CheckInteger(-MaxSafeInteger), ""},
		{"above", CheckInteger(int64(MaxSafeInteger + 1)), "9007199254740992"},
		{"below", CheckInteger(Level(-MaxSafeInteger - 1)), "-9007199254740992"},
		{"uint max", CheckInteger(uint(MaxSafeInteger)), ""},
		{"uint above", CheckInteger(uint64(1<<64 - 1)), "18446744073709551615"},
		{"uintptr", CheckInteger(uintptr(1 << 60)), "1152921504606846976"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var ue *UnsafeIntegerError
			switch {
			case tc.want == "" && tc.err != nil:
				t.Fatalf("got %v, want nil", tc.err)
			case tc.want != "" && !errors.As(tc.err, &ue):
				t.Fatalf("got %v, want an *UnsafeIntegerError", tc.err)
			case tc.want != "" && ue.Value != tc.want:
				t.Fatalf("got value %s, want %s", ue.Value, tc.want)
			}
		})
	}
}

func TestPath(t *testing.T) {
	t.Parallel()
	e := &UnsafeIntegerError{Value: "1", Steps: []string{FieldStep("id"), IndexStep(2), KeyStep("k"), FieldStep("items")}}
	if got, want := e.Path(), `items["k"][2].id`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	for name, want := range map[string]string{"a": ".a", "": `[""]`, "a.b": `["a.b"]`, "a b": `["a b"]`, `q"`: `["q\""]`} {
		if got := FieldStep(name); got != want {
			t.Errorf("FieldStep(%q) = %s, want %s", name, got, want)
		}
	}
}

func BenchmarkCheckIntegers(b *testing.B) {
	v := []record{{ID: 17, Items: []uint64{1, 2, 3}, Nested: map[string]any{"a": 1.5, "b": "x"}, Ratio: 4.5e10}}
	for b.Loop() {
		if err := CheckIntegers(v); err != nil {
			b.Fatal(err)
		}
	}
}
