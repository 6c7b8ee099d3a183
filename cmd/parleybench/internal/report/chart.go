package report

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Series is one line of a chart.
type Series struct {
	// Name labels the line in the legend.
	Name string
	// X and Y are the points, in order of X.
	X, Y []float64
}

// Chart is a line chart.
type Chart struct {
	// Title is printed above the chart.
	Title string
	// XLabel and YLabel name the axes.
	XLabel, YLabel string
	// LogX draws the x axis on a logarithmic scale.
	LogX bool
	// LogY draws the y axis on a logarithmic scale.
	LogY bool
	// Series are the lines.
	Series []Series
}

// SaveSVG draws c as an SVG file at path, 16 by 10 cm. Points that cannot
// be drawn on a log axis (zero or negative) are left out.
func (c Chart) SaveSVG(path string) error {
	p := plot.New()
	p.Title.Text = c.Title
	p.X.Label.Text = c.XLabel
	p.Y.Label.Text = c.YLabel
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	drawn := 0
	for i, s := range c.Series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("report: series %q has %d x and %d y values", s.Name, len(s.X), len(s.Y))
		}
		var pts plotter.XYs
		for j := range s.X {
			x, y := s.X[j], s.Y[j]
			if math.IsNaN(x) || math.IsNaN(y) || (c.LogX && x <= 0) || (c.LogY && y <= 0) {
				continue
			}
			pts = append(pts, plotter.XY{X: x, Y: y})
		}
		if len(pts) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		col := plotutil.Color(i)
		line.Color, points.Color = col, col
		line.Dashes = plotutil.Dashes(i)
		points.Shape = plotutil.Shape(i)
		p.Add(line, points)
		p.Legend.Add(s.Name, line, points)
		drawn++
	}
	if drawn == 0 {
		// An empty chart still gets linear axes, so the report's link is
		// not broken.
		p.Title.Text += " (no data)"
		p.Title.TextStyle.Color = color.Gray{Y: 96}
	} else {
		if c.LogX {
			p.X.Scale = plot.LogScale{}
			p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		}
		if c.LogY {
			p.Y.Scale = plot.LogScale{}
			p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		}
	}
	return p.Save(16*vg.Centimeter, 10*vg.Centimeter, path)
}
