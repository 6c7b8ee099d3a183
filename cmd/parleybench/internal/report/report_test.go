package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-go/parley/cmd/parleybench/internal/procfs"
)

func TestTableMarkdown(t *testing.T) {
	t.Parallel()
	tb := Table{Header: []string{"mode", "users", "p99"}, Right: map[int]bool{1: true, 2: true}}
	tb.Add("push", "100", "1.2 ms")
	tb.Add("a|b", "5")
	var b strings.Builder
	if err := tb.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	want := "| mode | users | p99 |\n" +
		"|---|---:|---:|\n" +
		"| push | 100 | 1.2 ms |\n" +
		"| a\\|b | 5 |  |\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteMachine(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	m := procfs.Machine{CPU: "Xeon", Cores: 2, MemoryBytes: 24 << 30, Kernel: "6.1", Go: "go1.26"}
	if err := WriteMachine(&b, m); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "Machine: Xeon, 2 logical CPUs, 24.0 GiB of memory, Linux 6.1, go1.26.\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestFormats(t *testing.T) {
	t.Parallel()
	for in, want := range map[float64]string{0: "0 B", 512: "512 B", 3584: "3.5 KiB", 5 << 20: "5.0 MiB", -2048: "-2.0 KiB"} {
		if got := Bytes(in); got != want {
			t.Errorf("Bytes(%v) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[float64]string{0.0001234: "0.12 ms", 0.0123: "12.3 ms", 0.4567: "457 ms"} {
		if got := Millis(in); got != want {
			t.Errorf("Millis(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestChartSVG(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := Chart{
		Title: "trip time", XLabel: "users", YLabel: "ms", LogX: true,
		Series: []Series{
			{Name: "push-series", X: []float64{100, 1000, 18000}, Y: []float64{1, 2, 30}},
			{Name: "pull-series", X: []float64{0, 100, 1000}, Y: []float64{9, 7500, 7600}}, // x=0 is dropped on a log axis
		},
	}
	path := filepath.Join(dir, "trip.svg")
	if err := c.SaveSVG(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	svg := string(b)
	for _, want := range []string{"<svg", "push-series", "pull-series", "trip time", "users"} {
		if !strings.Contains(svg, want) {
			t.Errorf("the SVG lacks %q", want)
		}
	}

	empty := Chart{Title: "nothing", LogX: true, LogY: true, Series: []Series{{Name: "x"}}}
	if err := empty.SaveSVG(filepath.Join(dir, "empty.svg")); err != nil {
		t.Fatalf("empty chart: %v", err)
	}
	bad := Chart{Series: []Series{{Name: "x", X: []float64{1}}}}
	if bad.SaveSVG(filepath.Join(dir, "bad.svg")) == nil {
		t.Fatal("a series with unequal x and y was drawn")
	}
}
