package main

import (
	"strings"
	"testing"
	"time"
)

// TestQuietConnections leaves connections open on a bench server after a
// session open and after an ack, and checks that net/http keeps a
// goroutine for each of the first, and the hub none for the second.
func TestQuietConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server as a process")
	}
	t.Setenv(childEnv, "1")
	const n = 50
	rows := map[string]connsRow{}
	for _, last := range []string{connsAfterSession, connsAfterAck} {
		row, err := runConns(last, n, 200*time.Millisecond)
		if err != nil {
			t.Fatalf("after %s: %v", last, err)
		}
		if row.NaturalBefore == 0 || row.NaturalAfter == 0 {
			t.Errorf("after %s: no RSS read: %+v", last, row)
		}
		rows[last] = row
	}
	if g := rows[connsAfterSession].Goroutines; g < n {
		t.Errorf("%d server goroutines with %d connections quiet after a session open, want one each at least", g, n)
	}
	if g := rows[connsAfterAck].Goroutines; g >= n {
		t.Errorf("%d server goroutines with %d connections quiet after an ack, want none of their own", g, n)
	}
	var b strings.Builder
	if err := connsMarkdown(&b, []connsRow{rows[connsAfterAck]}, time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "| ack | 50 |") {
		t.Errorf("the report lacks the ack row:\n%s", b.String())
	}
}
