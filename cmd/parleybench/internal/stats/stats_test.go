package stats

import "testing"

func TestSummarize(t *testing.T) {
	t.Parallel()
	xs := make([]float64, 0, 100)
	for i := 100; i >= 1; i-- { // reversed, to check that it sorts
		xs = append(xs, float64(i))
	}
	got := Summarize(xs)
	want := Summary{N: 100, Mean: 50.5, P50: 50, P99: 99, Max: 100}
	if got != want {
		t.Fatalf("Summarize(1..100) = %+v, want %+v", got, want)
	}
	if xs[0] != 100 {
		t.Fatal("Summarize modified its input")
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		xs   []float64
		p    float64
		want float64
	}{
		{"empty", nil, 50, 0},
		{"one value", []float64{7}, 99, 7},
		{"median of odd", []float64{3, 1, 2}, 50, 2},
		{"median of even takes the lower", []float64{4, 1, 3, 2}, 50, 2},
		{"p99 of ten is the max", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 99, 10},
		{"p100", []float64{5, 9, 1}, 100, 9},
		{"tiny p gives the min", []float64{5, 9, 1}, 0.001, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Percentile(tc.xs, tc.p); got != tc.want {
				t.Fatalf("Percentile(%v, %v) = %v, want %v", tc.xs, tc.p, got, tc.want)
			}
		})
	}
}

func TestSummarizeEmpty(t *testing.T) {
	t.Parallel()
	if got := Summarize(nil); got != (Summary{}) {
		t.Fatalf("Summarize(nil) = %+v", got)
	}
}
