package grid

import (
	"slices"
	"testing"
	"time"
)

func paper() Grid {
	return Grid{
		Modes:     []string{"push", "pull"},
		Users:     []int{100, 200, 350, 500, 1000, 5000, 18000},
		Intervals: []time.Duration{5 * time.Second, 10 * time.Second, 15 * time.Second, 20 * time.Second, 50 * time.Second},
		Pull:      15 * time.Second,
		Messages:  10,
		Scale:     0.01,
	}
}

func TestGroups(t *testing.T) {
	t.Parallel()
	g := paper()
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	groups := g.Groups()
	if len(groups) != 2*7 {
		t.Fatalf("%d groups, want 14", len(groups))
	}
	if groups[0].Mode != "push" || groups[0].Users != 100 || groups[7].Mode != "pull" || groups[13].Users != 18000 {
		t.Fatalf("groups out of order: first %+v, eighth %+v", groups[0], groups[7])
	}
	wantScaled := []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 150 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond}
	for _, grp := range groups {
		var got []time.Duration
		for i, r := range grp.Runs {
			if r.Interval != g.Intervals[i] {
				t.Fatalf("run %d keeps interval %v, want %v", i, r.Interval, g.Intervals[i])
			}
			got = append(got, r.Scaled)
		}
		if !slices.Equal(got, wantScaled) {
			t.Fatalf("scaled intervals %v, want %v", got, wantScaled)
		}
	}
	if got := g.Shrink(g.Pull); got != 150*time.Millisecond {
		t.Fatalf("scaled pull %v, want 150ms", got)
	}
	// 10 messages × (5+10+15+20+50)s × 0.01 = 10s per group, 14 groups.
	if got := g.PublishTime(); got != 140*time.Second {
		t.Fatalf("PublishTime = %v, want 2m20s", got)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for name, mutate := range map[string]func(*Grid){
		"no modes":       func(g *Grid) { g.Modes = nil },
		"zero scale":     func(g *Grid) { g.Scale = 0 },
		"scale above 1":  func(g *Grid) { g.Scale = 2 },
		"no messages":    func(g *Grid) { g.Messages = 0 },
		"zero users":     func(g *Grid) { g.Users = []int{0} },
		"zero interval":  func(g *Grid) { g.Intervals = []time.Duration{0} },
		"no pull period": func(g *Grid) { g.Pull = 0 },
	} {
		g := paper()
		mutate(&g)
		if g.Validate() == nil {
			t.Errorf("%s: Validate accepted", name)
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	ints, err := ParseInts("100, 200,18000")
	if err != nil || !slices.Equal(ints, []int{100, 200, 18000}) {
		t.Fatalf("ParseInts = %v, %v", ints, err)
	}
	for _, bad := range []string{"", "1,,2", "-3", "x"} {
		if _, err := ParseInts(bad); err == nil {
			t.Errorf("ParseInts(%q) accepted", bad)
		}
	}
	secs, err := ParseSeconds("5,0.5")
	if err != nil || !slices.Equal(secs, []time.Duration{5 * time.Second, 500 * time.Millisecond}) {
		t.Fatalf("ParseSeconds = %v, %v", secs, err)
	}
	if _, err := ParseSeconds("0"); err == nil {
		t.Error("ParseSeconds(0) accepted")
	}
	if got := ParseList(" push, pull ,,poll"); !slices.Equal(got, []string{"push", "pull", "poll"}) {
		t.Fatalf("ParseList = %v", got)
	}
}
