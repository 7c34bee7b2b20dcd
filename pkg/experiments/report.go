package experiments

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/sim"
)

// Report is everything the results report shows, as data: the simulator's tables (Table 1, Table 3's hardware
// columns, a per-layer energy breakdown), the accuracy table of finished runs, the points of the Fig. 5-style
// accuracy vs energy plot and the training curves. BuildReport computes it; Markdown, Page and WriteResults
// render it. It is also written whole as results/report.json.
type Report struct {
	Title             string `json:"title"`
	Preset            string `json:"preset,omitempty"`
	PresetDescription string `json:"preset_description,omitempty"`
	// Planned and Finished count the preset's runs; Missing lists the IDs of planned runs without a result.
	Planned  int      `json:"planned_runs"`
	Finished int      `json:"finished_runs"`
	Missing  []string `json:"missing_runs,omitempty"`
	Backends []string `json:"backends,omitempty"` // backends the finished runs trained on

	Table1 []sim.Table1Row `json:"table1"`

	Hardware        []HardwareRow   `json:"table3_hardware"`
	HardwareOptions HardwareOptions `json:"hardware_options"`
	// BreakdownModel is the model of Layers, costed at HardwareOptions.Res for base, shift and add.
	BreakdownModel string        `json:"breakdown_model"`
	Layers         []LayerEnergy `json:"layers"`

	Accuracy []AccuracyRow `json:"table3_accuracy"`
	// Paired are the preset's paired differences per seed (Preset.Pairs, PairedDifferences), e.g. augshift − shift.
	Paired []PairedDifference `json:"paired,omitempty"`

	// Ablations are the ablation tables (Tables 7-10, AblationResults) of ReportOptions.Ablations of which at
	// least one of the table's own runs has finished, in the paper's order.
	Ablations []AblationTable `json:"ablations,omitempty"`

	// Fig5 holds the authors' published points, then either this project's runs or, when no run has finished,
	// the simulator's energies of the paper's models at the paper's printed accuracies; Fig5Note says which.
	Fig5     []Fig5Point `json:"fig5"`
	Fig5Note string      `json:"fig5_note"`

	Curves []Curve `json:"curves"`
}

// ReportOptions say what BuildReport puts in the report.
type ReportOptions struct {
	Title string // default "ShiftAddAug reproduction report"
	// Preset is the protocol whose runs the report covers (for the finished and missing counts); nil: none.
	Preset *Preset
	// Outcomes are the finished runs (LoadOutcomes); only Table 3 runs are shown in the Table 3 parts (with a
	// Preset, those of the preset, labelled as the preset labels them: see PresetOutcomes).
	Outcomes []*RunOutcome
	// Ablations are presets of the ablation tables (AblationPreset; their names are Ablations' names, e.g.
	// "table7"); the report shows each table when one of its own runs is among Outcomes (AblationRan).
	Ablations []Preset
	// Hardware selects resolution and simulator policies of the hardware columns; the zero value means
	// DefaultHardwareOptions.
	Hardware HardwareOptions
	// BreakdownModel is the model of the per-layer energy breakdown; default mbv2-w0.35.
	BreakdownModel string
}

// BuildReport computes the report: the simulator tables in full, and from the finished runs the accuracy table,
// the Fig. 5 points and the training curves.
func BuildReport(o ReportOptions) (*Report, error) {
	if o.Title == "" {
		o.Title = "ShiftAddAug reproduction report"
	}
	if o.Hardware.Res == 0 {
		o.Hardware = DefaultHardwareOptions()
	}
	if o.BreakdownModel == "" {
		o.BreakdownModel = "mbv2-w0.35"
	}
	r := &Report{Title: o.Title, Table1: sim.Table1(), HardwareOptions: o.Hardware, BreakdownModel: o.BreakdownModel}
	var outs []*RunOutcome
	pool := o.Outcomes
	if o.Preset != nil {
		pool = PresetOutcomes(*o.Preset, o.Outcomes)
	}
	for _, out := range pool {
		if out != nil && out.Result != nil && out.Spec.Table == "table3" {
			outs = append(outs, out)
		}
	}
	if o.Preset != nil {
		r.Preset, r.PresetDescription, r.Planned = o.Preset.Name, o.Preset.Description, len(o.Preset.Runs)
		done := map[string]bool{}
		for _, out := range o.Outcomes {
			if out != nil && out.Result != nil {
				done[out.Spec.ID] = true
			}
		}
		for _, s := range o.Preset.Runs {
			if done[s.ID] {
				r.Finished++
			} else {
				r.Missing = append(r.Missing, s.ID)
			}
		}
	} else {
		r.Finished = len(outs)
	}
	seen := map[string]bool{}
	for _, out := range outs {
		if b := out.Result.Backend; b != "" && !seen[b] {
			seen[b] = true
			r.Backends = append(r.Backends, b)
		}
	}
	var err error
	if r.Hardware, err = Table3Hardware(o.Hardware); err != nil {
		return nil, fmt.Errorf("table 3 hardware columns: %w", err)
	}
	if r.Layers, err = LayerBreakdown(o.BreakdownModel, o.Hardware); err != nil {
		return nil, fmt.Errorf("per-layer breakdown: %w", err)
	}
	r.Accuracy = AccuracyTable(outs)
	if o.Preset != nil {
		r.Paired = PairedDifferences(*o.Preset, o.Outcomes)
	}
	if r.Fig5, r.Fig5Note, err = Fig5(outs, r.Hardware, o.Hardware); err != nil {
		return nil, fmt.Errorf("fig. 5 points: %w", err)
	}
	r.Curves = TrainingCurves(outs)
	for _, a := range Ablations {
		for _, p := range o.Ablations {
			if p.Name != a.Name {
				continue
			}
			if rows := AblationResults(a, p, o.Outcomes); AblationRan(a, rows) {
				r.Ablations = append(r.Ablations, AblationTable{Name: a.Name, Table: a.Table, Title: a.Title, Rows: rows})
			}
		}
	}
	if r.Accuracy == nil { // JSON [] rather than null
		r.Accuracy = []AccuracyRow{}
	}
	if r.Curves == nil {
		r.Curves = []Curve{}
	}
	return r, nil
}

// AblationTable is one ablation table of the report: its name ("table8"), how the paper names it, and its rows.
type AblationTable struct {
	Name  string           `json:"name"`
	Table string           `json:"table"`
	Title string           `json:"title"`
	Rows  []AblationResult `json:"rows"`
}

// Ablation returns the rows of the report's ablation table of that name ("table7"), nil if it has none.
func (r *Report) Ablation(name string) []AblationResult {
	for _, t := range r.Ablations {
		if t.Name == name {
			return t.Rows
		}
	}
	return nil
}

// LayerEnergy is the simulated cost of one layer of a model under one deployment method.
type LayerEnergy struct {
	Model     string        `json:"model"`
	Method    string        `json:"method"`
	Layer     string        `json:"layer"`
	Kind      string        `json:"kind"`
	MACs      int64         `json:"macs"`
	EnergyMJ  float64       `json:"energy_mj"`
	LatencyMS float64       `json:"latency_ms"`
	Breakdown sim.Breakdown `json:"breakdown_mj"`
}

// LayerBreakdown costs every layer of a model for base, shift and add at opts.Res (batch 1). These are the
// plain per-layer costs: the paper's Shift-row quirk changes only the network totals, not the layers.
func LayerBreakdown(model string, opts HardwareOptions) ([]LayerEnergy, error) {
	m, err := arch.Get(model, 0)
	if err != nil {
		return nil, err
	}
	var out []LayerEnergy
	for _, method := range arch.Methods {
		nc, err := sim.CostModel(sim.DefaultConfig(), m, method, opts.Res, sim.ModelOptions{DW: opts.DW})
		if err != nil {
			return nil, err
		}
		for _, lc := range nc.Layers {
			out = append(out, LayerEnergy{Model: model, Method: string(method), Layer: lc.Layer.Name, Kind: lc.Layer.Kind.String(),
				MACs: lc.MACs, EnergyMJ: lc.EnergyMJ, LatencyMS: lc.LatencyMS, Breakdown: lc.Breakdown})
		}
	}
	return out, nil
}

// AccuracyRow is one model and training method of the accuracy table: this project's mean over seeds, beside
// the paper's printed Table 3 accuracy of the same method (CIFAR-100 at 160x160, so a reference, not a target).
type AccuracyRow struct {
	Model  string `json:"model"`
	Method string `json:"method"`
	Data   string `json:"data"`
	Res    int    `json:"res"`
	Epochs int    `json:"epochs"`
	Seeds  int    `json:"seeds"`
	// Diverged counts the runs among Seeds whose loss became NaN or infinite; they are not in the accuracies.
	Diverged int `json:"diverged,omitempty"`
	// MeanPct, StdPct (sample std over seeds, 0 for one seed), MinPct and MaxPct: final target test accuracy of
	// the runs that did not diverge (0 when none did).
	MeanPct       float64 `json:"mean_pct"`
	StdPct        float64 `json:"std_pct"`
	MinPct        float64 `json:"min_pct"`
	MaxPct        float64 `json:"max_pct"`
	SecondsPerRun float64 `json:"seconds_per_run"`
	// GainPct is, for an augmented method, its mean minus the mean of its direct counterpart (netaug - base,
	// augshift - shift, augadd - add) in this project, when both are present.
	GainPct *float64 `json:"gain_pct,omitempty"`
	// PaperPct is the paper's Table 3 accuracy of this model and method (nil where it prints "-" or has none);
	// PaperGainPct the paper's augmented minus direct accuracy.
	PaperPct     *float64 `json:"paper_pct,omitempty"`
	PaperGainPct *float64 `json:"paper_gain_pct,omitempty"`
}

// directOf maps an augmented training method to the direct one it improves on.
var directOf = map[string]string{"netaug": "base", "augshift": "shift", "augadd": "add"}

// PaperAccuracy returns the paper's Table 3 accuracy (%) of a model under a training method: the direct
// column for base, shift and add, the augmented column for netaug, augshift and augadd.
func PaperAccuracy(model, method string) (float64, bool) {
	deploy, ok := arch.TargetMethod(method)
	if !ok {
		return 0, false
	}
	p, ok := PaperRow(model, string(deploy))
	if !ok {
		return 0, false
	}
	a := p.AccDirect
	if _, aug := directOf[method]; aug {
		a = p.AccAug
	}
	return a, a >= 0
}

// AccuracyTable summarises finished Table 3 runs by model and method (Summarize), with the gains of the
// augmented methods and the paper's accuracies beside.
func AccuracyTable(outs []*RunOutcome) []AccuracyRow {
	sums := Summarize(outs, "table3")
	byKey := map[[2]string]AccuracySummary{}
	for _, s := range sums {
		byKey[[2]string{s.Model, s.Method}] = s
	}
	var rows []AccuracyRow
	for _, s := range sums {
		r := AccuracyRow{Model: s.Model, Method: s.Method, Seeds: s.Seeds, Diverged: s.Diverged, MeanPct: s.Mean, StdPct: s.Std,
			MinPct: s.Min, MaxPct: s.Max, SecondsPerRun: s.Seconds}
		for _, o := range outs {
			if o.Spec.Table == "table3" && o.Spec.Config.Model == s.Model && o.Spec.Config.Method == s.Method {
				r.Data, r.Res, r.Epochs = o.Spec.Config.Data, o.Spec.Config.Res, o.Spec.Config.Epochs
				break
			}
		}
		if d, ok := directOf[s.Method]; ok {
			if ds, ok := byKey[[2]string{s.Model, d}]; ok && ds.Seeds > ds.Diverged && s.Seeds > s.Diverged {
				r.GainPct = ptr(s.Mean - ds.Mean)
			}
			pa, ok1 := PaperAccuracy(s.Model, s.Method)
			pd, ok2 := PaperAccuracy(s.Model, d)
			if ok1 && ok2 {
				r.PaperGainPct = ptr(pa - pd)
			}
		}
		if pa, ok := PaperAccuracy(s.Model, s.Method); ok {
			r.PaperPct = ptr(pa)
		}
		rows = append(rows, r)
	}
	return rows
}

func ptr(v float64) *float64 { return &v }

// Curve is the per-epoch training history of one model and method, averaged over its seeds: the loss of the
// target pass, the loss of the augmented pass (augmented methods only) and the target's test accuracy.
type Curve struct {
	Model  string `json:"model"`
	Method string `json:"method"`
	Seeds  int    `json:"seeds"`
	// Epoch is 1-based; the other slices have one value per epoch (the mean over the seeds that reached it).
	Epoch      []float64 `json:"epoch"`
	LossTarget []float64 `json:"loss_target"`
	LossAug    []float64 `json:"loss_aug,omitempty"`
	TestAccPct []float64 `json:"test_acc_pct"`
}

// TrainingCurves averages the histories of finished Table 3 runs over seeds, one curve per model and method,
// in model then Table 3 method order.
func TrainingCurves(outs []*RunOutcome) []Curve {
	type acc struct {
		n                    []int
		target, aug, testAcc []float64
		seeds                int
	}
	groups := map[[2]string]*acc{}
	for _, o := range outs {
		if o.Result == nil || o.Spec.Table != "table3" {
			continue
		}
		k := [2]string{o.Spec.Config.Model, o.Spec.Config.Method}
		g := groups[k]
		if g == nil {
			g = &acc{}
			groups[k] = g
		}
		g.seeds++
		for i, h := range o.Result.History {
			for len(g.n) <= i {
				g.n, g.target, g.aug, g.testAcc = append(g.n, 0), append(g.target, 0), append(g.aug, 0), append(g.testAcc, 0)
			}
			g.n[i]++
			g.target[i] += h.LossTarget
			g.aug[i] += h.LossAug
			g.testAcc[i] += 100 * h.TestAcc
		}
	}
	var curves []Curve
	for k, g := range groups {
		c := Curve{Model: k[0], Method: k[1], Seeds: g.seeds}
		_, augmented := directOf[k[1]]
		for i, n := range g.n {
			f := float64(n)
			c.Epoch = append(c.Epoch, float64(i+1))
			c.LossTarget = append(c.LossTarget, g.target[i]/f)
			c.TestAccPct = append(c.TestAccPct, g.testAcc[i]/f)
			if augmented {
				c.LossAug = append(c.LossAug, g.aug[i]/f)
			}
		}
		curves = append(curves, c)
	}
	sort.Slice(curves, func(i, j int) bool {
		if curves[i].Model != curves[j].Model {
			return curves[i].Model < curves[j].Model
		}
		return methodIndex(curves[i].Method) < methodIndex(curves[j].Method)
	})
	return curves
}

func methodIndex(m string) int {
	for i, x := range Table3Methods {
		if x == m {
			return i
		}
	}
	return len(Table3Methods)
}

// Markdown renders the report's tables as Markdown: Table 1, Table 3's hardware columns with the paper's
// values beside, the accuracy table with the paper's accuracies beside, and the ablation tables it has.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", r.Title)
	if r.Preset != "" {
		fmt.Fprintf(&b, "Preset `%s`: %s. Runs finished: %d of %d.", r.Preset, r.PresetDescription, r.Finished, r.Planned)
		if len(r.Backends) > 0 {
			fmt.Fprintf(&b, " Backend: %s.", strings.Join(r.Backends, ", "))
		}
		b.WriteString("\n\n")
	}
	b.WriteString("## Table 1: energy per operation (pJ, 45 nm CMOS)\n\n")
	WriteTable1Markdown(&b, r.Table1)
	fmt.Fprintf(&b, "\n## Table 3: hardware columns (simulator, %dx%d, batch 1)\n\n", r.HardwareOptions.Res, r.HardwareOptions.Res)
	b.WriteString("Params and operation counts from `pkg/arch`, energy and latency from the Eyeriss-like simulator (`sim`). " +
		"*paper* columns are the values Table 3 prints; *plain* columns are the sums over all layers without the " +
		"paper's Shift-row quirk (see `sim`).\n\n")
	_ = WriteTable3(&b, r.Hardware, "md", r.HardwareOptions.Res)
	b.WriteString("\n## Table 3: accuracy columns (this project's scale)\n\n")
	WriteAccuracyMarkdown(&b, r.Accuracy)
	if len(r.Accuracy) > 0 && len(r.Paired) > 0 {
		b.WriteString("\n")
		WritePairedMarkdown(&b, r.Paired)
	}
	if len(r.Missing) > 0 {
		fmt.Fprintf(&b, "\nNot finished yet (%d): %s. Run `shiftaddaug reproduce` again to train them; finished runs are kept.\n",
			len(r.Missing), strings.Join(r.Missing, ", "))
	}
	for _, t := range r.Ablations {
		a, _ := AblationByName(t.Name)
		fmt.Fprintf(&b, "\n## %s: %s (this project's scale)\n\n", t.Table, t.Title)
		WriteAblationMarkdown(&b, a, t.Rows)
	}
	b.WriteString("\n## Fig. 5: accuracy vs energy\n\n" + r.Fig5Note + "\n")
	return b.String()
}

// WriteTable1Markdown writes the paper's Table 1 (sim.Table1) as a Markdown table; "-" where it has no value.
func WriteTable1Markdown(w io.Writer, rows []sim.Table1Row) {
	types := sim.Table1DataTypes()
	fmt.Fprintf(w, "| OPs | %s |\n|---|%s\n", strings.Join(types, " | "), strings.Repeat("---:|", len(types)))
	for _, r := range rows {
		fmt.Fprintf(w, "| %s |", r.Op)
		for _, t := range types {
			if v, ok := r.PJ[t]; ok {
				fmt.Fprintf(w, " %g |", v)
			} else {
				fmt.Fprint(w, " - |")
			}
		}
		fmt.Fprintln(w)
	}
}

// WriteAccuracyMarkdown writes the accuracy table: this project's final target test accuracy (mean ± sample
// std over seeds), the gain of each augmented method over its direct counterpart, and the paper's Table 3
// values beside, labelled as the different dataset and scale they are.
func WriteAccuracyMarkdown(w io.Writer, rows []AccuracyRow) {
	if len(rows) == 0 {
		fmt.Fprintln(w, "No finished runs yet: train them with `shiftaddaug reproduce` (finished runs are kept in results/runs).")
		return
	}
	fmt.Fprintln(w, "Final target test accuracy (%), mean ± sample std over seeds. The *paper* columns are Table 3 as printed "+
		"(CIFAR-100, 160x160, 155 epochs): a different dataset and scale, shown for reference only; compare the gains "+
		"of augmentation, not the accuracies.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| model | method | data | res | epochs | seeds | accuracy (%) | min–max | gain vs direct | paper (CIFAR-100) | paper gain | s/run |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		minMax := "-"
		if r.Seeds > r.Diverged {
			minMax = fmt.Sprintf("%.2f–%.2f", r.MinPct, r.MaxPct)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %d | %d | %d | %s | %s | %s | %s | %s | %.0f |\n", r.Model, r.Method, r.Data, r.Res,
			r.Epochs, r.Seeds, r.accuracyCell(), minMax, signed(r.GainPct), plain(r.PaperPct), signed(r.PaperGainPct), r.SecondsPerRun)
	}
}

// accuracyCell is the row's accuracy as the tables print it: mean (± std over more than one run), "NaN
// (diverged)" when every run diverged, and how many did when some did.
func (r AccuracyRow) accuracyCell() string {
	n := r.Seeds - r.Diverged
	if n == 0 {
		return diverged
	}
	a := fmt.Sprintf("%.2f", r.MeanPct)
	if n > 1 {
		a += fmt.Sprintf(" ± %.2f", r.StdPct)
	}
	if r.Diverged > 0 {
		a += fmt.Sprintf(" (%d of %d diverged)", r.Diverged, r.Seeds)
	}
	return a
}

func signed(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%+.2f", *v)
}

func plain(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *v)
}

// maxPaperDeviation is the largest relative difference (%) between this library's Table 3 energies and
// latencies and the paper's printed ones, over the rows the paper has.
func maxPaperDeviation(rows []HardwareRow) (float64, bool) {
	dev, any := 0.0, false
	for _, r := range rows {
		if p, ok := PaperRow(r.Model, r.Method); ok {
			any = true
			dev = math.Max(dev, 100*math.Abs(r.EnergyMJ-p.EnergyMJ)/p.EnergyMJ)
			dev = math.Max(dev, 100*math.Abs(r.LatencyMS-p.LatencyMS)/p.LatencyMS)
		}
	}
	return dev, any
}
