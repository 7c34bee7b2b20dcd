package experiments

import (
	"fmt"
	"math"
	"strings"

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/pkg/train"
	"github.com/shiftaddaug/shiftaddaug/pkg/viz"
)

// The charts of the report. Each takes the report's data, so that notebooks draw exactly what the report does.

// hardwareModels lists the models of hardware rows in their order.
func hardwareModels(rows []HardwareRow) []string {
	var models []string
	seen := map[string]bool{}
	for _, r := range rows {
		if !seen[r.Model] {
			seen[r.Model] = true
			models = append(models, r.Model)
		}
	}
	return models
}

// hardwareSeries makes one bar series per deployment method over the models, of the value get picks.
func hardwareSeries(rows []HardwareRow, get func(HardwareRow) float64) ([]string, []viz.Series) {
	models := hardwareModels(rows)
	var series []viz.Series
	for _, method := range arch.Methods {
		s := viz.Series{Name: string(method), Values: make([]float64, len(models))}
		for i := range s.Values {
			s.Values[i] = math.NaN()
		}
		for i, m := range models {
			for _, r := range rows {
				if r.Model == m && r.Method == string(method) {
					s.Values[i] = get(r)
				}
			}
		}
		series = append(series, s)
	}
	return models, series
}

func deviationNote(rows []HardwareRow) string {
	if d, ok := maxPaperDeviation(rows); ok {
		return fmt.Sprintf("; within %.1f%% of the values the paper prints", d)
	}
	return ""
}

// Table3EnergyChart is Table 3's energy column as grouped bars: one group per model, one bar per deployment
// method (base = multiplications, shift, add).
func Table3EnergyChart(rows []HardwareRow, res int) *viz.Chart {
	models, series := hardwareSeries(rows, func(r HardwareRow) float64 { return r.EnergyMJ })
	return viz.Bar(viz.Options{Title: "Table 3: energy per inference",
		Subtitle: fmt.Sprintf("Eyeriss-like simulator, %dx%d, batch 1%s", res, res, deviationNote(rows)),
		XName:    "model", YName: "energy (mJ)", Height: 460}, models, series...)
}

// Table3LatencyChart is Table 3's latency column as grouped bars, like Table3EnergyChart.
func Table3LatencyChart(rows []HardwareRow, res int) *viz.Chart {
	models, series := hardwareSeries(rows, func(r HardwareRow) float64 { return r.LatencyMS })
	return viz.Bar(viz.Options{Title: "Table 3: latency per inference",
		Subtitle: fmt.Sprintf("Eyeriss-like simulator, %dx%d, batch 1%s", res, res, deviationNote(rows)),
		XName:    "model", YName: "latency (ms)", Height: 460}, models, series...)
}

// breakdownNames are the energy components of sim.Breakdown, in the order the charts stack them.
var breakdownNames = []string{"compute", "DRAM", "buffer", "NoC", "RF"}

func breakdownValues(b [5]float64, s []viz.Series, i int) {
	for k := range s {
		s[k].Values[i] = b[k]
	}
}

func newBreakdownSeries(n int) []viz.Series {
	s := make([]viz.Series, len(breakdownNames))
	for k, name := range breakdownNames {
		s[k] = viz.Series{Name: name, Values: make([]float64, n)}
	}
	return s
}

// Table3BreakdownChart stacks each Table 3 row's energy by where it is spent (compute, DRAM, global buffer,
// array network, register files), one bar per model and method.
func Table3BreakdownChart(rows []HardwareRow, res int) *viz.Chart {
	cats := make([]string, len(rows))
	s := newBreakdownSeries(len(rows))
	for i, r := range rows {
		cats[i] = r.Model + " " + r.Method
		b := r.Breakdown
		breakdownValues([5]float64{b.Compute, b.DRAM, b.Buffer, b.NoC, b.RF}, s, i)
	}
	return viz.StackedBar(viz.Options{Title: "Table 3: where the energy goes",
		Subtitle: fmt.Sprintf("simulator, %dx%d, batch 1; totals as Table 3 reports them", res, res),
		YName:    "energy (mJ)", Height: 520}, cats, s...)
}

// LayerBreakdownChart stacks the energy of every layer of one model under one deployment method by component
// (layers from LayerBreakdown). All three methods of a model share the same y range when ymax > 0.
func LayerBreakdownChart(layers []LayerEnergy, model, method string, res int) *viz.Chart {
	var cats []string
	var sel []LayerEnergy
	total := 0.0
	for _, l := range layers {
		if l.Model == model && l.Method == method {
			cats = append(cats, l.Layer)
			sel = append(sel, l)
			total += l.EnergyMJ
		}
	}
	s := newBreakdownSeries(len(sel))
	for i, l := range sel {
		b := l.Breakdown
		breakdownValues([5]float64{b.Compute, b.DRAM, b.Buffer, b.NoC, b.RF}, s, i)
	}
	return viz.StackedBar(viz.Options{Title: fmt.Sprintf("Per-layer energy: %s, %s", model, method),
		Subtitle: fmt.Sprintf("simulator, %dx%d, batch 1; plain sum over layers %.3f mJ", res, res, total),
		XName:    "layer", YName: "energy (mJ)", Height: 440}, cats, s...)
}

// Fig5Chart is the accuracy vs energy plot: one scatter series per Fig5Point.Series (log energy axis). The
// authors' series are joined in order of energy, as trade-off curves.
func Fig5Chart(points []Fig5Point, subtitle string) *viz.Chart {
	var order []string
	groups := map[string]*viz.PointSeries{}
	for _, p := range points {
		g := groups[p.Series]
		if g == nil {
			g = &viz.PointSeries{Name: p.Series, Line: p.Source == "paper"}
			groups[p.Series] = g
			order = append(order, p.Series)
		}
		g.Points = append(g.Points, viz.Point{X: p.EnergyMJ, Y: p.AccPct, Label: p.Label})
	}
	series := make([]viz.PointSeries, len(order))
	for i, name := range order {
		series[i] = *groups[name]
		if series[i].Line {
			sortPoints(series[i].Points)
		}
	}
	return viz.Scatter(viz.Options{Title: "Accuracy vs energy (Fig. 5)", Subtitle: subtitle,
		XName: "energy per inference (mJ, log scale)", YName: "top-1 accuracy (%)", LogX: true, Height: 560}, series...)
}

func sortPoints(ps []viz.Point) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].X < ps[j-1].X; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// CurveCharts draws the training curves of one model: the losses of both passes per epoch (target solid
// names, "aug" for the augmented pass) and the target's test accuracy per epoch, one series per method.
func CurveCharts(curves []Curve, model string) (loss, acc *viz.Chart) {
	var ls, as []viz.XYSeries
	seeds := 0
	for _, c := range curves {
		if c.Model != model {
			continue
		}
		seeds = max(seeds, c.Seeds)
		ls = append(ls, viz.XYSeries{Name: c.Method + " target", X: c.Epoch, Y: c.LossTarget})
		if len(c.LossAug) > 0 {
			ls = append(ls, viz.XYSeries{Name: c.Method + " aug", X: c.Epoch, Y: c.LossAug})
		}
		as = append(as, viz.XYSeries{Name: c.Method, X: c.Epoch, Y: c.TestAccPct})
	}
	sub := fmt.Sprintf("mean over up to %d seed(s) per method", seeds)
	loss = viz.Lines(viz.Options{Title: "Training loss: " + model, Subtitle: sub + "; target pass and augmented pass (Eq. 3)",
		XName: "epoch", YName: "loss", Height: 440}, ls...)
	acc = viz.Lines(viz.Options{Title: "Target test accuracy: " + model, Subtitle: sub + "; after BN recalibration",
		XName: "epoch", YName: "test accuracy (%)", Height: 440}, as...)
	return loss, acc
}

// HistoryChart draws one run's losses per epoch from its history (train.Result.History): the target pass,
// the augmented pass (augmented methods only) and the target's test loss.
func HistoryChart(title string, history []train.EpochRecord) *viz.Chart {
	var epoch, target, aug, test []float64
	augmented := false
	for i, h := range history {
		epoch = append(epoch, float64(i+1))
		target, aug, test = append(target, h.LossTarget), append(aug, h.LossAug), append(test, h.TestLoss)
		augmented = augmented || h.LossAug != 0
	}
	series := []viz.XYSeries{{Name: "loss_target (train)", X: epoch, Y: target}}
	if augmented {
		series = append(series, viz.XYSeries{Name: "loss_aug (train)", X: epoch, Y: aug})
	}
	series = append(series, viz.XYSeries{Name: "test loss (target)", X: epoch, Y: test})
	return viz.Lines(viz.Options{Title: title, Subtitle: "per epoch: both passes of Eq. 3 and the target's test loss",
		XName: "epoch", YName: "loss", Height: 400}, series...)
}

// curveModels lists the models that have curves, in order.
func curveModels(curves []Curve) []string {
	var ms []string
	for _, c := range curves {
		if len(ms) == 0 || ms[len(ms)-1] != c.Model {
			ms = append(ms, c.Model)
		}
	}
	return ms
}

// EnergyChart is the chart the README shows (results/table3_energy.png): Table3EnergyChart of the report.
func (r *Report) EnergyChart() *viz.Chart {
	return Table3EnergyChart(r.Hardware, r.HardwareOptions.Res)
}

// Page renders the report as one self-contained HTML page: the tables of Markdown and the charts (Table 3
// energy, latency and breakdown, the per-layer breakdown of BreakdownModel for base, shift and add, the gains
// of each ablation table it has (Tables 7-10), the accuracy vs energy plot, and the training curves of each model).
func (r *Report) Page() *viz.Page {
	res := r.HardwareOptions.Res
	p := viz.NewPage(r.Title)
	if r.Preset != "" {
		intro := fmt.Sprintf("Preset `%s`: %s. Runs finished: **%d of %d**.", r.Preset, r.PresetDescription, r.Finished, r.Planned)
		if len(r.Backends) > 0 {
			intro += " Backend: " + strings.Join(r.Backends, ", ") + "."
		}
		p.Markdown(intro + " Written by `shiftaddaug reproduce`; the same data is in `report.json` and `report.md`.")
	}
	p.Heading("Table 1: energy per operation (pJ, 45 nm CMOS)")
	var t1 strings.Builder
	WriteTable1Markdown(&t1, r.Table1)
	p.Markdown(t1.String())

	p.Heading(fmt.Sprintf("Table 3: hardware columns (%dx%d)", res, res))
	var t3 strings.Builder
	_ = WriteTable3(&t3, r.Hardware, "md", res)
	p.Markdown("Energy and latency from the Eyeriss-like simulator; *paper* columns as Table 3 prints them; *plain* columns " +
		"without the paper's Shift-row quirk.\n\n" + t3.String())
	p.Chart(r.EnergyChart(), Table3LatencyChart(r.Hardware, res), Table3BreakdownChart(r.Hardware, res))

	p.Heading("Per-layer energy breakdown: " + r.BreakdownModel)
	p.Markdown("Each layer's energy split into compute, DRAM, global buffer, array network (NoC) and register files, " +
		"for the multiplicative (base), bit-shift and adder deployments. Plain per-layer costs: the paper's Shift-row " +
		"quirk only changes the network total.")
	for _, m := range arch.Methods {
		p.Chart(LayerBreakdownChart(r.Layers, r.BreakdownModel, string(m), res))
	}

	p.Heading("Table 3: accuracy columns (this project's scale)")
	var acc strings.Builder
	WriteAccuracyMarkdown(&acc, r.Accuracy)
	if len(r.Accuracy) > 0 && len(r.Paired) > 0 {
		acc.WriteString("\n")
		WritePairedMarkdown(&acc, r.Paired)
	}
	p.Markdown(acc.String())
	if len(r.Missing) > 0 {
		p.Markdown(fmt.Sprintf("Not finished yet (%d of %d runs): `%s`. Run `shiftaddaug reproduce` again to train them.",
			len(r.Missing), r.Planned, strings.Join(r.Missing, "`, `")))
	}

	for _, t := range r.Ablations {
		a, _ := AblationByName(t.Name)
		p.Heading(fmt.Sprintf("%s: %s (this project's scale)", t.Table, t.Title))
		var md strings.Builder
		WriteAblationMarkdown(&md, a, t.Rows)
		p.Markdown(md.String())
		p.Chart(AblationChart(a, t.Rows))
	}

	p.Heading("Fig. 5: accuracy vs energy")
	p.Markdown(r.Fig5Note)
	p.Chart(Fig5Chart(r.Fig5, Fig5Subtitle(r.Fig5)))

	p.Heading("Training curves")
	if len(r.Curves) == 0 {
		p.Markdown("No finished runs yet.")
	}
	for _, m := range curveModels(r.Curves) {
		loss, acc := CurveCharts(r.Curves, m)
		p.Chart(loss, acc)
	}
	return p
}

// Fig5Subtitle says in the chart itself where the points come from (for Fig5Chart).
func Fig5Subtitle(points []Fig5Point) string {
	for _, p := range points {
		if p.Source == "run" {
			return fmt.Sprintf("paper: CIFAR-100, 160x160; this project: %s %dx%d — different datasets", p.Data, p.Res, p.Res)
		}
	}
	return "paper: CIFAR-100 (published points); this simulator's energies at the paper's printed accuracies"
}
