package reverse

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEncodeCallEmptyCollections checks that nil slices and maps in the
// arguments of a reverse call reach the page as [] and {}, at every depth.
func TestEncodeCallEmptyCollections(t *testing.T) {
	t.Parallel()
	type row struct {
		Cells []string          `json:"cells"`
		Meta  map[string]string `json:"meta"`
		Next  *row              `json:"next"`
	}
	tests := []struct {
		name string
		args []any
		want string
	}{
		{"no arguments", nil, `{"fn":"f","args":[]}`},
		{"nil slice and map", []any{[]int(nil), map[string]int(nil)}, `{"fn":"f","args":[[],{}]}`},
		{"struct", []any{row{}}, `{"fn":"f","args":[{"cells":[],"meta":{},"next":null}]}`},
		{"nested", []any{[]row{{Next: &row{}}}}, `{"fn":"f","args":[[{"cells":[],"meta":{},"next":{"cells":[],"meta":{},"next":null}}]]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := encodeCall("f", tc.args, "")
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(got))
		})
	}
}
