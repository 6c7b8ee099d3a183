// Package grid expands the push-versus-pull experiment into runs: every
// mode, every number of users, every publish interval, with all intervals
// shrunk by one time scale.
package grid

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Grid is the experiment's plan. Intervals are given at the paper's scale
// and shrunk by Scale when run.
type Grid struct {
	// Modes are how pages receive updates, e.g. "push", "pull", "poll".
	Modes []string
	// Users are the numbers of simulated pages.
	Users []int
	// Intervals are the publish intervals, unscaled.
	Intervals []time.Duration
	// Pull is the interval at which pulling pages ask, unscaled.
	Pull time.Duration
	// Messages is how many updates each run publishes.
	Messages int
	// Scale multiplies every interval: 0.1 runs ten times faster.
	Scale float64
}

// Run is one cell of the grid.
type Run struct {
	// Interval is the publish interval at the paper's scale.
	Interval time.Duration
	// Scaled is the publish interval actually used.
	Scaled time.Duration
}

// Group is the runs made with one set of connected pages: one mode and
// one number of users, every interval in turn.
type Group struct {
	// Mode is how the pages receive updates.
	Mode string
	// Users is the number of pages.
	Users int
	// Runs are the publish intervals, in the grid's order.
	Runs []Run
}

// Validate reports a grid that cannot be run.
func (g Grid) Validate() error {
	switch {
	case len(g.Modes) == 0 || len(g.Users) == 0 || len(g.Intervals) == 0:
		return errors.New("grid: modes, users and intervals must not be empty")
	case g.Scale <= 0 || g.Scale > 1:
		return fmt.Errorf("grid: time scale %v is not in (0, 1]", g.Scale)
	case g.Messages < 1:
		return errors.New("grid: at least one message per run")
	case g.Pull <= 0:
		return errors.New("grid: the pull interval must be positive")
	}
	for _, u := range g.Users {
		if u < 1 {
			return fmt.Errorf("grid: %d users", u)
		}
	}
	for _, d := range g.Intervals {
		if d <= 0 {
			return fmt.Errorf("grid: publish interval %v", d)
		}
	}
	return nil
}

// Shrink returns d scaled by the grid's time scale.
func (g Grid) Shrink(d time.Duration) time.Duration {
	return time.Duration(float64(d) * g.Scale)
}

// Groups expands the grid: modes outermost, then users, each group holding
// every interval.
func (g Grid) Groups() []Group {
	var out []Group
	for _, m := range g.Modes {
		for _, u := range g.Users {
			grp := Group{Mode: m, Users: u}
			for _, d := range g.Intervals {
				grp.Runs = append(grp.Runs, Run{Interval: d, Scaled: g.Shrink(d)})
			}
			out = append(out, grp)
		}
	}
	return out
}

// PublishTime returns the scaled time spent publishing in the whole grid:
// a lower bound of its running time.
func (g Grid) PublishTime() time.Duration {
	var per time.Duration
	for _, d := range g.Intervals {
		per += time.Duration(g.Messages) * g.Shrink(d)
	}
	return per * time.Duration(len(g.Modes)*len(g.Users))
}

// ParseInts parses a comma-separated list of positive integers.
func ParseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// ParseSeconds parses a comma-separated list of positive numbers of seconds.
func ParseSeconds(s string) ([]time.Duration, error) {
	var out []time.Duration
	for f := range strings.SplitSeq(s, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || x <= 0 {
			return nil, fmt.Errorf("%q is not a positive number of seconds", f)
		}
		out = append(out, time.Duration(x*float64(time.Second)))
	}
	return out, nil
}

// ParseList parses a comma-separated list of names, dropping spaces.
func ParseList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
