package viz

import (
	"fmt"
	"math"
	"strconv"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
)

// Series is one named row of values over the categories of a Bar or StackedBar chart.
type Series struct {
	Name      string
	Values    []float64 // one per category; NaN or Inf means missing
	RightAxis bool      // plot against the right y axis (named Options.Y2Name)
}

// XYSeries is one named curve of a Lines chart, e.g. a training loss over steps.
type XYSeries struct {
	Name string
	X    []float64 // e.g. step or epoch; same length as Y
	Y    []float64 // NaN or Inf points are left out
}

// Point is one labelled point of a Scatter chart.
type Point struct {
	X, Y  float64
	Label string // drawn next to the point; may be empty
}

// PointSeries is one named group of points of a Scatter chart, e.g. one method.
type PointSeries struct {
	Name   string
	Points []Point
	Line   bool // connect the points in order (a trade-off curve) as well as marking them
}

// Distribution is one named set of samples of a Histogram, e.g. the weights of one layer.
type Distribution struct {
	Name   string
	Values []float64 // NaN and Inf are ignored
}

// Bins configures a Histogram. The zero value means 50 bins over the range of all values, as counts.
type Bins struct {
	N        int     // number of bins; 0 means 50
	Min, Max float64 // range; if Min >= Max the range of the data is used
	Density  bool    // normalise each distribution to unit area, so that sizes do not matter
}

// Bar draws a grouped bar chart: one group per category, one bar per series (e.g. categories = models,
// series = methods, values = energy). Series with RightAxis use a second y axis named o.Y2Name, so two
// quantities with different units (energy, latency) can share one chart. It panics if a series does not
// have one value per category.
func Bar(o Options, categories []string, series ...Series) *Chart {
	return bar(o, categories, series, false)
}

// StackedBar draws one bar per category whose segments are the series stacked on each other (e.g.
// categories = layers, series = compute / DRAM / buffer / NoC / RF energy). Series with RightAxis form a
// separate stack on the right axis. It panics if a series does not have one value per category.
func StackedBar(o Options, categories []string, series ...Series) *Chart {
	return bar(o, categories, series, true)
}

func bar(o Options, categories []string, series []Series, stacked bool) *Chart {
	id := newID()
	right := false
	for _, s := range series {
		if len(s.Values) != len(categories) {
			panic(fmt.Sprintf("viz: series %q has %d values for %d categories", s.Name, len(s.Values), len(categories)))
		}
		right = right || s.RightAxis
	}
	c := charts.NewBar()
	names := make([]string, len(series))
	for i, s := range series {
		names[i] = s.Name
	}
	c.SetGlobalOptions(common(o, id, layout{legend: named(names...), axisTrigger: true, rightAxis: right,
		bottom: xNameGap(categories) + 25})...)
	c.SetGlobalOptions(
		charts.WithXAxisOpts(opts.XAxis{Type: "category", Name: o.XName, NameLocation: "middle",
			NameGap: xNameGap(categories), AxisLabel: categoryLabels(categories)}),
		charts.WithYAxisOpts(yAxis(o.YName, o.LogY)),
	)
	if right {
		y2 := yAxis(o.Y2Name, o.LogY)
		y2.Position = "right"
		y2.SplitLine = &opts.SplitLine{Show: opts.Bool(false)}
		c.ExtendYAxis(y2)
	}
	c.SetXAxis(categories)
	for _, s := range series {
		data := make([]opts.BarData, len(s.Values))
		for i, v := range s.Values {
			data[i] = opts.BarData{Value: value(v, o.LogY)}
		}
		so := []charts.SeriesOpts{charts.WithBarChartOpts(opts.BarChart{})}
		axis := 0
		if s.RightAxis {
			axis = 1
		}
		stack := ""
		if stacked {
			stack = "left"
			if s.RightAxis {
				stack = "right"
			}
		}
		so = append(so, charts.WithSeriesOpts(func(ss *charts.SingleSeries) {
			ss.YAxisIndex = axis
			ss.Stack = stack
			ss.Emphasis = &opts.Emphasis{Focus: "series"}
		}))
		c.AddSeries(s.Name, data, so...)
	}
	return finish(o, id, c)
}

// Lines draws one curve per series over a numeric x axis (training curves: x = step or epoch). Markers are
// drawn when a series has at most 40 points. It panics if a series has len(X) != len(Y).
func Lines(o Options, series ...XYSeries) *Chart {
	id := newID()
	c := charts.NewLine()
	names := make([]string, len(series))
	for i, s := range series {
		names[i] = s.Name
	}
	c.SetGlobalOptions(common(o, id, layout{legend: named(names...), axisTrigger: true})...)
	c.SetGlobalOptions(
		charts.WithXAxisOpts(valueAxisX(o.XName, o.LogX)),
		charts.WithYAxisOpts(yAxis(o.YName, o.LogY)),
	)
	for _, s := range series {
		if len(s.X) != len(s.Y) {
			panic(fmt.Sprintf("viz: series %q has %d x values and %d y values", s.Name, len(s.X), len(s.Y)))
		}
		data := make([]opts.LineData, 0, len(s.X))
		for i := range s.X {
			if !finite(s.X[i]) || !finite(s.Y[i]) || (o.LogX && s.X[i] <= 0) || (o.LogY && s.Y[i] <= 0) {
				continue
			}
			data = append(data, opts.LineData{Value: []float64{s.X[i], s.Y[i]}})
		}
		show := len(data) <= 40
		c.AddSeries(s.Name, data, charts.WithLineChartOpts(opts.LineChart{ShowSymbol: opts.Bool(show)}),
			charts.WithSeriesOpts(func(ss *charts.SingleSeries) { ss.Emphasis = &opts.Emphasis{Focus: "series"} }))
	}
	return finish(o, id, c)
}

// Scatter draws named groups of points over numeric axes, each point labelled with its Label (e.g. accuracy
// vs energy, one series per method, one labelled point per model). Series with Line set are also joined in
// order.
func Scatter(o Options, series ...PointSeries) *Chart {
	id := newID()
	c := charts.NewScatter()
	names := make([]string, len(series))
	for i, s := range series {
		names[i] = s.Name
	}
	c.SetGlobalOptions(common(o, id, layout{legend: named(names...)})...)
	y := yAxis(o.YName, o.LogY)
	y.Scale = opts.Bool(true) // zoom on the points, as accuracies rarely start at 0
	c.SetGlobalOptions(
		charts.WithXAxisOpts(valueAxisX(o.XName, o.LogX)),
		charts.WithYAxisOpts(y),
	)
	var lines []*charts.Line
	for _, s := range series {
		var sd []opts.ScatterData
		var ld []opts.LineData
		for _, p := range s.Points {
			if !finite(p.X) || !finite(p.Y) || (o.LogX && p.X <= 0) || (o.LogY && p.Y <= 0) {
				continue
			}
			sd = append(sd, opts.ScatterData{Name: p.Label, Value: []float64{p.X, p.Y}})
			ld = append(ld, opts.LineData{Name: p.Label, Value: []float64{p.X, p.Y}})
		}
		label := opts.Label{Show: opts.Bool(true), Position: "right", Formatter: "{b}", FontSize: 11}
		if s.Line {
			// One line series with markers and labels; the legend entry is the line's.
			l := charts.NewLine()
			l.AddSeries(s.Name, ld, charts.WithLineChartOpts(opts.LineChart{ShowSymbol: opts.Bool(true),
				SymbolSize: 9}), charts.WithLabelOpts(label))
			lines = append(lines, l)
			continue
		}
		c.AddSeries(s.Name, sd, charts.WithScatterChartOpts(opts.ScatterChart{SymbolSize: 11}),
			charts.WithLabelOpts(label))
	}
	for _, l := range lines {
		c.Overlap(l)
	}
	return finish(o, id, c)
}

// Histogram draws the distributions as overlaid, semi-transparent histograms over common bins (e.g. the
// weights of a Conv, a ShiftConv and an AddConv layer). With b.Density each is scaled to unit area.
func Histogram(o Options, b Bins, dists ...Distribution) *Chart {
	id := newID()
	edges := BinEdges(b, dists...)
	cats := make([]string, len(edges)-1)
	for i := range cats {
		cats[i] = strconv.FormatFloat((edges[i]+edges[i+1])/2, 'g', 3, 64)
	}
	c := charts.NewBar()
	names := make([]string, len(dists))
	for i, d := range dists {
		names[i] = d.Name
	}
	c.SetGlobalOptions(common(o, id, layout{legend: named(names...), axisTrigger: true})...)
	yName := o.YName
	if yName == "" {
		yName = "count"
		if b.Density {
			yName = "density"
		}
	}
	c.SetGlobalOptions(
		charts.WithXAxisOpts(opts.XAxis{Type: "category", Name: o.XName, NameLocation: "middle", NameGap: 30,
			AxisLabel: &opts.AxisLabel{Show: opts.Bool(true), HideOverlap: opts.Bool(true)}}),
		charts.WithYAxisOpts(yAxis(yName, o.LogY)),
	)
	c.SetXAxis(cats)
	for _, d := range dists {
		counts := HistogramCounts(d.Values, edges, b.Density)
		data := make([]opts.BarData, len(counts))
		for i, v := range counts {
			if v == 0 {
				data[i] = opts.BarData{Value: "-"} // nothing to draw (and no zero on a log axis)
			} else {
				data[i] = opts.BarData{Value: v}
			}
		}
		c.AddSeries(d.Name, data, charts.WithSeriesOpts(func(ss *charts.SingleSeries) {
			ss.BarGap = "-100%"
			ss.BarCategoryGap = "0%"
			ss.ItemStyle = &opts.ItemStyle{Opacity: opts.Float(0.55)}
		}))
	}
	return finish(o, id, c)
}

// BinEdges returns the b.N+1 edges of equal-width bins over [b.Min, b.Max], or over the range of all finite
// values in dists when b.Min >= b.Max. With no finite values (or a single repeated value) it makes a unit
// range around the value (or around 0).
func BinEdges(b Bins, dists ...Distribution) []float64 {
	n := b.N
	if n <= 0 {
		n = 50
	}
	lo, hi := b.Min, b.Max
	if lo >= hi {
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, d := range dists {
			for _, v := range d.Values {
				if finite(v) {
					lo, hi = math.Min(lo, v), math.Max(hi, v)
				}
			}
		}
		if lo > hi {
			lo, hi = 0, 0
		}
		if lo == hi {
			lo, hi = lo-0.5, hi+0.5
		}
	}
	edges := make([]float64, n+1)
	for i := range edges {
		edges[i] = lo + (hi-lo)*float64(i)/float64(n)
	}
	edges[n] = hi
	return edges
}

// HistogramCounts counts the finite values falling in each bin [edges[i], edges[i+1]) (the last bin also
// holds edges[n]); values outside the edges are not counted. With density the counts are divided by
// (total counted * bin width), so that the histogram has unit area.
func HistogramCounts(values, edges []float64, density bool) []float64 {
	n := len(edges) - 1
	if n < 1 {
		return nil
	}
	counts := make([]float64, n)
	lo, hi := edges[0], edges[n]
	width := (hi - lo) / float64(n)
	total := 0.0
	for _, v := range values {
		if !finite(v) || v < lo || v > hi {
			continue
		}
		i := int((v - lo) / width)
		if i >= n {
			i = n - 1
		}
		// Correct for rounding at the edges.
		for i > 0 && v < edges[i] {
			i--
		}
		for i < n-1 && v >= edges[i+1] {
			i++
		}
		counts[i]++
		total++
	}
	if density && total > 0 {
		for i := range counts {
			counts[i] /= total * (edges[i+1] - edges[i])
		}
	}
	return counts
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// value converts a number for the JSON option: missing values (NaN, Inf, or <= 0 on a log axis) become
// echarts' "-" placeholder, since JSON has no NaN.
func value(v float64, log bool) any {
	if !finite(v) || (log && v <= 0) {
		return "-"
	}
	return v
}

func yAxis(name string, log bool) opts.YAxis {
	return opts.YAxis{Type: axisType(log, "value"), Name: name, NameLocation: "middle", NameGap: 55,
		AxisLabel: &opts.AxisLabel{Show: opts.Bool(true)}, SplitLine: &opts.SplitLine{Show: opts.Bool(true)}}
}

func valueAxisX(name string, log bool) opts.XAxis {
	return opts.XAxis{Type: axisType(log, "value"), Name: name, NameLocation: "middle", NameGap: 30,
		Scale: opts.Bool(true), AxisLabel: &opts.AxisLabel{Show: opts.Bool(true)}}
}

// categoryLabels rotates long or numerous category labels so that they do not overlap.
func categoryLabels(categories []string) *opts.AxisLabel {
	l := &opts.AxisLabel{Show: opts.Bool(true), Interval: "0"}
	longest := 0
	for _, c := range categories {
		longest = max(longest, len(c))
	}
	if len(categories) > 8 || longest*len(categories) > 90 {
		l.Rotate = 40
	}
	if len(categories) > 40 {
		l.Interval = "auto"
	}
	return l
}

func xNameGap(categories []string) int {
	l := categoryLabels(categories)
	if l.Rotate == 0 {
		return 30
	}
	longest := 0
	for _, c := range categories {
		longest = max(longest, len(c))
	}
	return min(60, 20+longest*5)
}
