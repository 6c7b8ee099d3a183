package reverse

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDOMHelpersTravelAsData(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	s := open(t, h, "/", "h")
	dom := h.Page("/").DOM()
	require.NoError(t, dom.SetText("#count", "<b>3</b>"))
	require.NoError(t, dom.SetValue("input[name=q]", "x"))
	require.NoError(t, dom.SetHTML("#news", "<em>hi</em>"))
	require.NoError(t, dom.AddClass(".row", "hot", "new"))
	require.NoError(t, dom.RemoveClass(".row"))
	require.NoError(t, dom.Remove("#call-7"))
	require.NoError(t, dom.AddRows("#calls", Row{ID: "call-8", Cells: []string{"Ann", "<i>help</i>"}}, Row{}))
	require.NoError(t, dom.RemoveRows("#calls"))
	assert.Error(t, dom.SetText("", "x"), "a selector is required")

	want := []string{
		`{"seq":1,"fn":"parley.dom.setText","args":["#count","<b>3</b>"]}`,
		`{"seq":2,"fn":"parley.dom.setValue","args":["input[name=q]","x"]}`,
		`{"seq":3,"fn":"parley.dom.setHTML","args":["#news","<em>hi</em>"]}`,
		`{"seq":4,"fn":"parley.dom.addClass","args":[".row",["hot","new"]]}`,
		`{"seq":5,"fn":"parley.dom.removeClass","args":[".row",[]]}`,
		`{"seq":6,"fn":"parley.dom.remove","args":["#call-7"]}`,
		`{"seq":7,"fn":"parley.dom.addRows","args":["#calls",[{"id":"call-8","cells":["Ann","<i>help</i>"]},{"cells":[]}]]}`,
		`{"seq":8,"fn":"parley.dom.removeRows","args":["#calls"]}`,
	}
	got := s.Pending(0).Messages
	require.Len(t, got, len(want))
	for i, m := range got {
		b, err := json.Marshal(m)
		require.NoError(t, err)
		assert.JSONEq(t, want[i], string(b))
	}
}
