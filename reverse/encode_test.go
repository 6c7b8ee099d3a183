package reverse

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAppendDeliveryIsJSONMarshal: the delivery encoder writes what
// encoding/json writes for every part a delivery may have, for calls as
// the hub encodes them.
func TestAppendDeliveryIsJSONMarshal(t *testing.T) {
	var msgs []Message
	for i, args := range [][]any{{1, "<a&b>", map[string]any{"x": nil}}, nil} {
		call, err := encodeCall("f", args, "")
		require.NoError(t, err)
		body, ok := messageBody(call)
		require.True(t, ok)
		msgs = append(msgs, Message{Seq: uint64(7 + i), body: body})
	}
	for name, d := range map[string]Delivery{
		"empty":      {},
		"messages":   {Messages: msgs},
		"empty list": {Messages: []Message{}},
		"reset":      {Reset: &Reset{Reason: ReasonExpired}},
		"advice":     {Messages: msgs[:1], Advice: &Advice{Transport: Polling, Interval: 2000}},
		"shutdown":   {Messages: msgs, Shutdown: &Shutdown{Reconnect: 1500}},
		"all":        {Messages: msgs, Reset: &Reset{Reason: ReasonClosed}, Advice: &Advice{Transport: Comet}, Shutdown: &Shutdown{Reconnect: 1}},
	} {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(d)
			require.NoError(t, err)
			got := appendDelivery([]byte("x"), &d)
			assert.Equal(t, "x"+string(want), string(got))
			assert.Equal(t, string(want), string(encodeDelivery(&d)))
			if d.Reset == nil && d.Advice == nil && d.Shutdown == nil {
				assert.EqualValues(t, 1, testing.AllocsPerRun(10, func() { encodeDelivery(&d) }),
					"messages are encoded in the buffer sized for them")
			}
		})
	}
}

// BenchmarkDeliveryEncoding encodes one page's delivery of one quote, as
// a fan-out does for every page: with encoding/json, and as the hub does.
func BenchmarkDeliveryEncoding(b *testing.B) {
	call, err := encodeCall("Ticker.quote", []any{map[string]any{"symbol": "GOOG", "price": 101.25, "at": 1764547200000}}, "")
	require.NoError(b, err)
	body, _ := messageBody(call)
	d := Delivery{Messages: []Message{{Seq: 42, body: body}}}
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("appendDelivery", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf = appendDelivery(buf[:0], &d)
		}
	})
}
