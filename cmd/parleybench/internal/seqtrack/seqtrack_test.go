package seqtrack

import (
	"slices"
	"testing"
)

func TestObserve(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		seqs      []uint64
		published uint64
		want      []Outcome
		counts    Counts
		lost      int
	}{
		{"in order", []uint64{1, 2, 3}, 3, []Outcome{New, New, New}, Counts{Delivered: 3}, 0},
		{"a duplicate", []uint64{1, 2, 2, 3}, 3, []Outcome{New, New, Duplicate, New}, Counts{Delivered: 3, Duplicates: 1}, 0},
		{"swapped", []uint64{1, 3, 2}, 3, []Outcome{New, New, OutOfOrder}, Counts{Delivered: 3, OutOfOrder: 1}, 0},
		{"a hole", []uint64{1, 3}, 3, []Outcome{New, New}, Counts{Delivered: 2}, 1},
		{"the tail lost", []uint64{1, 2}, 5, []Outcome{New, New}, Counts{Delivered: 2}, 3},
		{"zero is never new", []uint64{0, 1}, 1, []Outcome{Duplicate, New}, Counts{Delivered: 1, Duplicates: 1}, 0},
		{"past one word", []uint64{64, 200, 64, 1}, 200, []Outcome{New, New, Duplicate, OutOfOrder}, Counts{Delivered: 3, OutOfOrder: 1, Duplicates: 1}, 197},
		{"nothing", nil, 4, nil, Counts{}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var p Page
			var got []Outcome
			var c Counts
			for _, s := range tc.seqs {
				o := p.Observe("r", s)
				got = append(got, o)
				c.Add(o)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("outcomes %v, want %v", got, tc.want)
			}
			if c != tc.counts {
				t.Errorf("counts %+v, want %+v", c, tc.counts)
			}
			if l := p.Lost("r", tc.published); l != tc.lost {
				t.Errorf("Lost = %d, want %d", l, tc.lost)
			}
			if r := p.Received("r"); r != int(tc.counts.Delivered) {
				t.Errorf("Received = %d, want %d", r, tc.counts.Delivered)
			}
		})
	}
}

func TestRunsAreApart(t *testing.T) {
	t.Parallel()
	var p Page
	if p.Observe("a", 1) != New || p.Observe("b", 1) != New || p.Observe("a", 1) != Duplicate {
		t.Fatal("runs share their sequence numbers")
	}
}

func TestCountsLostAndMerge(t *testing.T) {
	t.Parallel()
	c := Counts{Delivered: 95, OutOfOrder: 1, Duplicates: 2}
	c.Merge(Counts{Delivered: 3, Duplicates: 1})
	if c != (Counts{Delivered: 98, OutOfOrder: 1, Duplicates: 3}) {
		t.Fatalf("Merge = %+v", c)
	}
	if got := c.Lost(10, 10); got != 2 {
		t.Fatalf("Lost(10, 10) = %d, want 2", got)
	}
	if got := c.Lost(5, 10); got != 0 {
		t.Fatalf("Lost with more delivered than published = %d, want 0", got)
	}
}

func TestOutcomeString(t *testing.T) {
	t.Parallel()
	if New.String() != "new" || OutOfOrder.String() != "out-of-order" || Duplicate.String() != "duplicate" || Outcome(9).String() != "unknown" {
		t.Fatal("Outcome.String")
	}
}
