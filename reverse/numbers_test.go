package reverse

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUntypedCallNumbers checks the integers of untyped calls by their Go
// types: floats of any size pass exactly, wide integers beyond ±(2^53−1)
// are refused wherever they are.
func TestUntypedCallNumbers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []any
		want string // the args the page receives; "" when refused
		err  string
	}{
		{"floats", []any{1e15, 1e20, 1.7e18}, `[1000000000000000,100000000000000000000,1700000000000000000]`, ""},
		{"floats in any", []any{map[string]any{"f": []any{1e20}}}, `[{"f":[100000000000000000000]}]`, ""},
		{"safe int64", []any{int64(-(1<<53 - 1))}, `[-9007199254740991]`, ""},
		{"wide int64", []any{int64(1 << 53)}, "", "reverse: arguments of f: [0]: integer 9007199254740992 cannot be represented exactly in JavaScript (the limit is ±9007199254740991)"},
		{"wide in any", []any{"x", map[string]any{"ids": []any{uint64(1 << 60)}}}, "", `reverse: arguments of f: [1]["ids"][0]: integer 1152921504606846976 cannot be represented exactly in JavaScript (the limit is ±9007199254740991)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newTestHub(t)
			s := open(t, h, "/", "h")
			err := h.Page("/").Call("f", tc.args...)
			got := s.Pending(0).Messages
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				assert.Empty(t, got, "nothing is sent")
				return
			}
			require.NoError(t, err)
			require.Len(t, got, 1)
			b, err := json.Marshal(got[0])
			require.NoError(t, err)
			var msg struct{ Args json.RawMessage }
			require.NoError(t, json.Unmarshal(b, &msg))
			assert.Equal(t, tc.want, string(msg.Args))
		})
	}
}
