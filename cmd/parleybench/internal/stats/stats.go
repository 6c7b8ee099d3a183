// Package stats summarises samples: mean and nearest-rank percentiles.
package stats

import (
	"math"
	"slices"
)

// Summary describes a sample of numbers.
type Summary struct {
	// N is the number of values.
	N int `json:"n"`
	// Mean is the arithmetic mean; 0 for an empty sample.
	Mean float64 `json:"mean"`
	// P50 is the median by nearest rank.
	P50 float64 `json:"p50"`
	// P99 is the 99th percentile by nearest rank.
	P99 float64 `json:"p99"`
	// Max is the largest value.
	Max float64 `json:"max"`
}

// Summarize returns the summary of xs, which it does not modify.
func Summarize(xs []float64) Summary {
	if len(xs) == 0 {
		return Summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	return Summary{
		N:    len(s),
		Mean: sum / float64(len(s)),
		P50:  percentileSorted(s, 50),
		P99:  percentileSorted(s, 99),
		Max:  s[len(s)-1],
	}
}

// Percentile returns the p-th percentile (0 < p <= 100) of xs by nearest
// rank: the smallest value with at least p% of the sample at or below it.
// It returns 0 for an empty sample.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return percentileSorted(s, p)
}

func percentileSorted(s []float64, p float64) float64 {
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}
