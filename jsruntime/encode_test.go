package jsruntime

import (
	"encoding/json"
	"math"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ptrMarshaler marshals through its pointer; n gives it a size of its own.
type ptrMarshaler struct{ n int }

func (p *ptrMarshaler) MarshalJSON() ([]byte, error) { return []byte(`"ptr"`), nil }

type wireInner struct {
	A int `json:"a"`
}

type sample struct {
	wireInner
	*ptrMarshaler `json:"pm,omitempty"`
	Name          string             `json:"name,omitempty"`
	Big           int64              `json:"big,string"`
	When          time.Time          `json:"when"`
	Wait          time.Duration      `json:"wait"`
	Addrs         map[netip.Addr]int `json:"addrs"`
	Ints          map[int]string     `json:"ints"`
	Raw           json.RawMessage    `json:"raw"`
	Bytes         []byte             `json:"bytes"`
	Floats        []float64          `json:"floats"`
	HTML          string             `json:"html"`
	Anon          struct{ X bool }   `json:"anon"`
	PM            ptrMarshaler       `json:"pmv"`
	Num           json.Number        `json:"num"`
	Skip          string             `json:"-"`
	private       int
}

// TestMarshalIsEncodingJSON checks that, for values without nil slices
// or maps, Marshal writes what encoding/json writes.
func TestMarshalIsEncodingJSON(t *testing.T) {
	t.Parallel()
	full := sample{
		wireInner: wireInner{A: 1},
		Name:      "n",
		Big:       1 << 60,
		When:      time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		Wait:      time.Second,
		Addrs:     map[netip.Addr]int{netip.MustParseAddr("10.0.0.1"): 1, netip.MustParseAddr("::1"): 2},
		Ints:      map[int]string{10: "x", 2: "y", -1: "z"},
		Raw:       json.RawMessage(`{"k": [1, 2]}`),
		Bytes:     []byte{0, 1, 2, 250},
		Floats:    []float64{1e21, 1e20, 1e-7, 0.1, -0, 1.7e18, 123456789},
		HTML:      "<a href='x'>&</a> \u2028",
		Num:       "1e400",
		PM:        ptrMarshaler{n: 1},
		private:   1, // unexported: never written
	}
	for _, v := range []any{full, &full, []any{full, 1.5, "s", true, nil}, map[string]any{"b": 1, "a": []int{1}}} {
		want, err := json.Marshal(v)
		require.NoError(t, err)
		got, err := Marshal(v)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got))
	}
}

// TestMarshalNilCollections checks nil slices and maps at every depth, and
// what stays null.
func TestMarshalNilCollections(t *testing.T) {
	t.Parallel()
	type node struct {
		Kids  []*node          `json:"kids"`
		Attrs map[string][]int `json:"attrs"`
		Next  *node            `json:"next"`
		Any   any              `json:"any"`
		Opt   []int            `json:"opt,omitempty"`
	}
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"slice", []string(nil), `[]`},
		{"map", map[string]int(nil), `{}`},
		{"bytes", []byte(nil), `""`},
		{"pointer", (*node)(nil), `null`},
		{"interface", []any{nil}, `[null]`},
		{"nested", node{Kids: []*node{{}, nil}, Attrs: map[string][]int{"a": nil}},
			`{"kids":[{"kids":[],"attrs":{},"next":null,"any":null},null],"attrs":{"a":[]},"next":null,"any":null}`},
		{"in any", map[string]any{"s": []int(nil)}, `{"s":[]}`},
		{"empty number", json.Number(""), `0`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Marshal(tc.v)
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(got))
		})
	}
}

// TestMarshalRefuses checks the values encoding/json refuses.
func TestMarshalRefuses(t *testing.T) {
	t.Parallel()
	for _, v := range []any{json.Number("12abc"), json.Number(`"1"`), math.NaN(), make(chan int)} {
		_, stdErr := json.Marshal(v)
		require.Error(t, stdErr)
		_, err := Marshal(v)
		assert.Error(t, err, "%#v", v)
	}
}

func TestMayHoldNil(t *testing.T) {
	type flat struct {
		N int
		S string
		T time.Time
	}
	type nested struct {
		F flat
		P *flat
		A [2]flat
	}
	type withSlice struct{ L []int }
	type deep struct{ P *withSlice }
	type self struct{ Next *self }
	type withAny struct{ V any }
	for _, c := range []struct {
		v    any
		want bool
	}{
		{flat{}, false}, {nested{}, false}, {self{}, false}, {json.Number("1"), false},
		{withSlice{}, true}, {deep{}, true}, {withAny{}, true}, {[]byte(nil), true},
		{map[string]int(nil), true}, {[1][]int{}, true}, {nil, false},
	} {
		if got := mayHoldNil(reflect.TypeOf(c.v)); got != c.want {
			t.Errorf("mayHoldNil(%T) = %v, want %v", c.v, got, c.want)
		}
	}
}
