// Package report writes benchmark results as Markdown tables and SVG line
// charts.
package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/parley-go/parley/cmd/parleybench/internal/procfs"
)

// Table is a Markdown table.
type Table struct {
	// Header names the columns.
	Header []string
	// Right marks the columns to right-align, by index; numbers read
	// better that way.
	Right map[int]bool
	// Rows are the cells, each row as long as Header.
	Rows [][]string
}

// Add appends a row.
func (t *Table) Add(cells ...string) { t.Rows = append(t.Rows, cells) }

// WriteMarkdown writes t as a GitHub-flavoured Markdown table. A "|" in a
// cell is escaped.
func (t Table) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	row := func(cells []string) {
		b.WriteString("|")
		for i := range t.Header {
			c := ""
			if i < len(cells) {
				c = strings.ReplaceAll(cells[i], "|", `\|`)
			}
			b.WriteString(" " + c + " |")
		}
		b.WriteString("\n")
	}
	row(t.Header)
	b.WriteString("|")
	for i := range t.Header {
		if t.Right[i] {
			b.WriteString("---:|")
		} else {
			b.WriteString("---|")
		}
	}
	b.WriteString("\n")
	for _, r := range t.Rows {
		row(r)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMachine writes a one-paragraph description of the machine.
func WriteMachine(w io.Writer, m procfs.Machine) error {
	_, err := fmt.Fprintf(w, "Machine: %s, %d logical CPUs, %s of memory, Linux %s, %s.\n",
		m.CPU, m.Cores, Bytes(float64(m.MemoryBytes)), m.Kernel, m.Go)
	return err
}

// Bytes formats a byte count with a binary unit: 512 B, 3.5 KiB, 1.2 GiB.
func Bytes(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	neg := n < 0
	if neg {
		n = -n
	}
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	sign := ""
	if neg {
		sign = "-"
	}
	if i == 0 {
		return fmt.Sprintf("%s%.0f B", sign, n)
	}
	return fmt.Sprintf("%s%.1f %s", sign, n, units[i])
}

// Millis formats seconds as milliseconds with a precision that suits
// their size.
func Millis(seconds float64) string {
	ms := seconds * 1000
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0f ms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1f ms", ms)
	default:
		return fmt.Sprintf("%.2f ms", ms)
	}
}
