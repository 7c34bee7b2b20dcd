package experiments

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/shiftaddaug/shiftaddaug/pkg/train"
	"github.com/shiftaddaug/shiftaddaug/pkg/viz"
)

// An Ablation is one of the paper's ablation tables (Tables 7-10) as training runs: rows of training settings,
// each with the paper's printed accuracies for the three models it reports (AblationModels). AblationPreset
// makes its runs at the mini scale, AblationResults summarises them beside the paper's values, and
// WriteAblationMarkdown and AblationChart render them; `shiftaddaug experiment --preset NAME` trains them and
// `shiftaddaug reproduce`'s report shows each table once one of its own runs has finished.
type Ablation struct {
	// Name is the preset's name and the prefix of its own runs' IDs and table labels, e.g. "table8".
	Name string
	// Table is how the paper names it ("Table 8"), Title what it ablates ("methods for HWS").
	Table, Title string
	// Caption is the paper's caption.
	Caption string
	// Ref is the row every other row's gain is measured against (a Rows label); RefShort names it in column
	// headers ("direct"), RefLong in the charts' titles ("direct training (to-shift)").
	Ref, RefShort, RefLong string
	Rows                   []AblationRow
}

// AblationRow is one row of an ablation: its training settings (see train.Config) and the paper's values.
// A row whose settings are those of a Table 3 run of the mini preset, or of one of Table 7's own rows, is that
// very run (same ID and configuration), so that no run is trained twice.
type AblationRow struct {
	Row     string // this project's label, e.g. "kl-loss only"
	Printed string // the paper's label, e.g. "KL-loss only"
	Method  string
	AugMF   bool
	Sharing string
	// Key names the row's own runs (ID "<ablation>-<model>-<key>-s<seed>"); empty: the slug of Row.
	Key string
	// PaperPct is the printed top-1 accuracy (%, CIFAR-100) per AblationModels; nil when PaperDiverged: the
	// paper prints "Nan" (the loss diverged) for every model.
	PaperPct      []float64
	PaperDiverged bool
}

// AblationModels are the columns of the paper's Tables 7-10, as model names of pkg/arch.
var AblationModels = []string{"mbv2-w0.35", "mcunet-in3", "proxyless-w0.35"}

// Table7 is the paper's Table 7: does hybrid computing need heterogeneous weight sharing? The multiplicative
// baseline, the direct training and the HWS row are Table 3's base, shift and augshift runs.
var Table7 = Ablation{
	Name: "table7", Table: "Table 7", Title: "HWS ablation",
	Caption: "The ablation study of hybrid computing augmentation and heterogeneous weight sharing in terms of accuracy on CIFAR100",
	Ref:     "to-shift (direct)", RefShort: "direct", RefLong: "direct training (to-shift)",
	Rows: []AblationRow{
		{Row: "mult. baseline", Printed: "Mult. baseline", Method: "base", PaperPct: []float64{70.59, 71.38, 70.86}},
		{Row: "to-shift (direct)", Printed: "To shift op", Method: "shift", PaperPct: []float64{69.25, 70.87, 70.54}},
		{Row: "aug with shift", Printed: "Aug. with Shift", Method: "augshift", AugMF: true, PaperPct: []float64{70.12, 72.68, 70.91}},
		{Row: "aug with hybrid, w/o HWS", Printed: "Aug. with Hybrid Computation", Method: "augshift", Sharing: "plain",
			PaperPct: []float64{69.41, 71.02, 70.6}},
		{Row: "aug with hybrid + HWS", Printed: "Aug. with HWS", Method: "augshift", Sharing: "hws", PaperPct: []float64{71.83, 74.59, 73.86}},
	},
}

// Table8 is the paper's Table 8: other ways than HWS to solve weight tearing, all augmented with hybrid
// computation (augshift). Its last row, HWS, is Table 3's augshift run.
var Table8 = Ablation{
	Name: "table8", Table: "Table 8", Title: "methods for weight tearing",
	Caption: "The ablation study of different method for HWS",
	Ref:     "ours (HWS)", RefShort: "ours (HWS)", RefLong: "ours (HWS)",
	Rows: []AblationRow{
		{Row: "ShiftAddNAS (piecewise + KL)", Printed: "ShiftAddNAS", Method: "augshift", Sharing: "piecewise", Key: "piecewise", PaperDiverged: true},
		{Row: "linear remap", Printed: "Linear remap", Method: "augshift", Sharing: "linear", Key: "linear", PaperDiverged: true},
		{Row: "KL-loss only", Printed: "KL-loss only", Method: "augshift", Sharing: "kl", Key: "kl", PaperPct: []float64{69.84, 71.12, 70.52}},
		{Row: "linear + skip + freeze", Printed: "Linear + skip connect + freeze", Method: "augshift", Sharing: "linear-skip",
			Key: "linear-skip", PaperPct: []float64{71.02, 74.44, 72.99}},
		{Row: "ours (HWS)", Printed: "Ours", Method: "augshift", Sharing: "hws", PaperPct: []float64{71.83, 74.59, 73.86}},
	},
}

// Table9 is the paper's Table 9: why weight sharing matters, augmented with the shift operator (the augmented
// channels compute with shifts too). Direct training is Table 3's shift run; with weight sharing is Table 7's
// "aug with shift" run.
var Table9 = Ablation{
	Name: "table9", Table: "Table 9", Title: "weight sharing (augmented with shift)",
	Caption: "Ablation study on weight sharing. Augmented with Shift op. Tells why weight sharing is important.",
	Ref:     "direct trained", RefShort: "direct", RefLong: "direct training",
	Rows: []AblationRow{
		{Row: "direct trained", Printed: "Direct trained", Method: "shift", PaperPct: []float64{69.25, 70.87, 70.54}},
		{Row: "w/o weight sharing", Printed: "w/o. weight sharing", Method: "augshift", AugMF: true, Sharing: "none", Key: "no-sharing",
			PaperPct: []float64{69.42, 71.09, 70.53}},
		{Row: "w/ weight sharing", Printed: "w/. weight sharing", Method: "augshift", AugMF: true, Sharing: "plain",
			PaperPct: []float64{70.12, 72.68, 70.91}},
	},
}

// Table10 is the paper's Table 10: HWS is no parameterisation trick that helps the target by itself. The
// rows without HWS and with augmentation and HWS are Table 3's shift and augshift runs.
var Table10 = Ablation{
	Name: "table10", Table: "Table 10", Title: "HWS without augmentation",
	Caption: "HWS is not a parameterization trick that can directly improve target model",
	Ref:     "w/o aug, w/o HWS", RefShort: "direct", RefLong: "direct training (w/o aug, w/o HWS)",
	Rows: []AblationRow{
		{Row: "w/o aug, w/o HWS", Printed: "w/o. aug. , w/o. HWS", Method: "shift", PaperPct: []float64{69.25, 70.87, 70.54}},
		{Row: "w/o aug, with HWS", Printed: "w/o. aug. , with HWS", Method: "shift", Sharing: "hws", Key: "shift-hws",
			PaperPct: []float64{68.32, 71.13, 69.88}},
		{Row: "with aug, with HWS", Printed: "with aug. , with HWS", Method: "augshift", Sharing: "hws", PaperPct: []float64{71.83, 74.59, 73.86}},
	},
}

// Ablations are the ablation tables, in the paper's order.
var Ablations = []Ablation{Table7, Table8, Table9, Table10}

// AblationByName returns the ablation of a preset name ("table7" ... "table10").
func AblationByName(name string) (Ablation, bool) {
	for _, a := range Ablations {
		if a.Name == name {
			return a, true
		}
	}
	return Ablation{}, false
}

// PaperAcc returns the paper's accuracy (%) of a row (a Rows label) and model; diverged is true where the paper
// prints "Nan". ok is false when the ablation has no such row or model.
func (a Ablation) PaperAcc(row, model string) (acc float64, diverged, ok bool) {
	for _, r := range a.Rows {
		if r.Row != row {
			continue
		}
		for i, m := range AblationModels {
			if m != model {
				continue
			}
			if r.PaperDiverged {
				return 0, true, true
			}
			if i < len(r.PaperPct) {
				return r.PaperPct[i], false, true
			}
		}
	}
	return 0, false, false
}

// runSettings are the settings that tell the rows of the ablations apart.
type runSettings struct {
	Method  string
	AugMF   bool
	Sharing string
}

func (s runSettings) same(o runSettings) bool {
	norm := func(x string) string {
		if x == "" {
			return "plain"
		}
		return x
	}
	return s.Method == o.Method && s.AugMF == o.AugMF && norm(s.Sharing) == norm(o.Sharing)
}

// table3Sharing is the weight sharing of a Table 3 method in the presets: train.DefaultSharing (HWS for augshift,
// as ShiftAddAug; plain for augadd, which HWS does not train here), "" for plain.
func table3Sharing(method string) string {
	if s := train.DefaultSharing(method); s != "plain" {
		return s
	}
	return ""
}

// ablationRun returns the ID and exact settings of a row's run for a model and seed: those of the Table 3 run
// or Table 7 row with the same settings ("" and "plain" sharing alike) if there is one, else the row's own.
func ablationRun(a Ablation, r AblationRow, model string, seed uint64) (string, runSettings) {
	want := runSettings{r.Method, r.AugMF, r.Sharing}
	for _, m := range Table3Methods {
		if s := (runSettings{Method: m, Sharing: table3Sharing(m)}); s.same(want) {
			return fmt.Sprintf("table3-%s-%s-s%d", model, m, seed), s
		}
	}
	if a.Name != Table7.Name {
		for _, r7 := range Table7.Rows {
			if s := (runSettings{r7.Method, r7.AugMF, r7.Sharing}); s.same(want) {
				return ablationRun(Table7, r7, model, seed)
			}
		}
	}
	key := r.Key
	if key == "" {
		key = slug(r.Row)
	}
	return fmt.Sprintf("%s-%s-%s-s%d", a.Name, model, key, seed), want
}

// AblationPreset is an ablation at the mini scale (quick: its quick check), each row once per seed. Rows equal
// to a Table 3 run or a Table 7 row share its ID and result; the others are the ablation's own runs
// ("<name>-..."). Every run's table label is "<name>:<row>".
func AblationPreset(a Ablation, seeds []uint64, quick bool) Preset {
	base, desc := miniBase(quick)
	p := Preset{Name: a.Name, Description: desc}
	for _, seed := range seeds {
		for _, r := range a.Rows {
			id, s := ablationRun(a, r, base.Model, seed)
			c := base
			c.Method, c.Seed, c.AugMF, c.Sharing = s.Method, seed, s.AugMF, s.Sharing
			p.Runs = append(p.Runs, RunSpec{ID: id, Table: a.Name + ":" + r.Row, Config: c})
		}
	}
	return p
}

// AblationResult is one row of an ablation table at this project's scale: the mean and spread over seeds of
// the row's runs, beside the paper's printed value for the same model.
type AblationResult struct {
	Row    string `json:"row"` // an AblationRow label, e.g. "aug with hybrid + HWS"
	Model  string `json:"model"`
	Method string `json:"method"`
	// AugMF and Sharing are the row's training settings (see train.Config).
	AugMF   bool   `json:"aug_mf,omitempty"`
	Sharing string `json:"sharing,omitempty"`
	Data    string `json:"data"`
	Res     int    `json:"res"`
	Epochs  int    `json:"epochs"`
	// Seeds counts the finished runs, Diverged those of them whose loss became NaN or infinite. MeanPct and
	// StdPct (sample std, 0 for one run) are the final target test accuracy of the others (0 when all diverged).
	// IDs are the finished runs.
	Seeds         int      `json:"seeds"`
	Diverged      int      `json:"diverged,omitempty"`
	MeanPct       float64  `json:"mean_pct"`
	StdPct        float64  `json:"std_pct"`
	SecondsPerRun float64  `json:"seconds_per_run"`
	IDs           []string `json:"ids,omitempty"`
	// GainPct is the row's mean minus the reference row's (Ablation.Ref), when both have runs that converged.
	GainPct *float64 `json:"gain_pct,omitempty"`
	// PaperPct is the paper's value for this row and model (CIFAR-100, 160x160), nil if it has none or prints
	// "Nan" (PaperDiverged); PaperGainPct the paper's row minus its reference row.
	PaperPct      *float64 `json:"paper_pct,omitempty"`
	PaperDiverged bool     `json:"paper_diverged,omitempty"`
	PaperGainPct  *float64 `json:"paper_gain_pct,omitempty"`
}

// Converged counts the finished runs that did not diverge.
func (r AblationResult) Converged() int { return r.Seeds - r.Diverged }

// AblationResults summarises the finished runs of an ablation's preset (AblationPreset) row by row, in the
// preset's order, with each row's gain over the reference row and the paper's values beside. Rows without
// finished runs are kept (Seeds 0), so the table always has every row. Diverged runs are counted, not averaged.
func AblationResults(a Ablation, p Preset, outs []*RunOutcome) []AblationResult {
	settings := map[string]RunSpec{}
	for _, s := range p.Runs {
		if _, ok := settings[s.Table]; !ok {
			settings[s.Table] = s
		}
	}
	var rows []AblationResult
	for _, r := range SummarizePreset(p, outs) {
		label, ok := strings.CutPrefix(r.Table, a.Name+":")
		if !ok {
			continue
		}
		c := settings[r.Table].Config
		row := AblationResult{Row: label, Model: r.Model, Method: r.Method, AugMF: c.AugMF, Sharing: c.Sharing, Data: c.Data,
			Res: c.Res, Epochs: c.Epochs, Seeds: r.Seeds, Diverged: r.Diverged, MeanPct: r.Mean, StdPct: r.Std,
			SecondsPerRun: r.Seconds, IDs: r.IDs}
		if v, diverged, ok := a.PaperAcc(label, r.Model); ok {
			row.PaperDiverged = diverged
			if !diverged {
				row.PaperPct = ptr(v)
			}
		}
		rows = append(rows, row)
	}
	for i := range rows {
		r := &rows[i]
		for _, d := range rows {
			if d.Row != a.Ref || d.Model != r.Model {
				continue
			}
			if r.Converged() > 0 && d.Converged() > 0 {
				r.GainPct = ptr(r.MeanPct - d.MeanPct)
			}
			if r.PaperPct != nil && d.PaperPct != nil {
				r.PaperGainPct = ptr(*r.PaperPct - *d.PaperPct)
			}
		}
	}
	return rows
}

// AblationRan reports whether any of the ablation's own runs has finished (diverged or not): a run of a row
// that neither Table 3 nor (for Tables 8-10) Table 7 also trains. Those tables alone fill the other rows.
func AblationRan(a Ablation, rows []AblationResult) bool {
	for _, r := range rows {
		for _, id := range r.IDs {
			if strings.HasPrefix(id, a.Name+"-") {
				return true
			}
		}
	}
	return false
}

// diverged is how the tables show a loss that became NaN (the paper prints "Nan").
const diverged = "NaN (diverged)"

// WriteAblationMarkdown writes an ablation table as Markdown: this project's accuracy (mean ± sample std over
// seeds) and gain over the reference row, with the paper's values beside, labelled as the different dataset
// they are. Rows whose runs all diverged, and the paper's "Nan" rows, read "NaN (diverged)".
func WriteAblationMarkdown(w io.Writer, a Ablation, rows []AblationResult) {
	if len(rows) == 0 {
		fmt.Fprintf(w, "No %s runs: train them with `shiftaddaug experiment --preset %s`.\n", a.Table, a.Name)
		return
	}
	fmt.Fprintf(w, "Final target test accuracy (%%), mean ± sample std over seeds; *gain* is the row minus the %s "+
		"row. The *paper* columns are %s as printed (CIFAR-100, 160x160): a different dataset and scale, shown for "+
		"reference; compare the signs and order of the gains, not the accuracies.", a.RefLong, a.Table)
	anyDiverged := false
	for _, r := range rows {
		anyDiverged = anyDiverged || r.Diverged > 0 || r.PaperDiverged
	}
	if anyDiverged {
		fmt.Fprint(w, " *NaN (diverged)*: the training loss became NaN or infinite (the paper prints \"Nan\"); such "+
			"runs are counted in *seeds* but not in the mean.")
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| row | model | method | aug. channels | sharing | data | seeds | accuracy (%%) | gain vs %s | paper (CIFAR-100) | paper gain | s/run |\n", a.RefShort)
	fmt.Fprintln(w, "|---|---|---|---|---|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		acc := "not run"
		switch {
		case r.Seeds == 0:
		case r.Converged() == 0:
			acc = diverged
		default:
			acc = fmt.Sprintf("%.2f", r.MeanPct)
			if r.Converged() > 1 {
				acc += fmt.Sprintf(" ± %.2f", r.StdPct)
			}
			if r.Diverged > 0 {
				acc += fmt.Sprintf(" (%d of %d diverged)", r.Diverged, r.Seeds)
			}
		}
		secs := "-"
		if r.Seeds > 0 {
			secs = fmt.Sprintf("%.0f", r.SecondsPerRun)
		}
		paper := plain(r.PaperPct)
		if r.PaperDiverged {
			paper = diverged
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %d | %s | %s | %s | %s | %s |\n", r.Row, r.Model, r.Method,
			augOpLabel(r), sharingLabel(r), r.Data, r.Seeds, acc, signed(r.GainPct), paper, signed(r.PaperGainPct), secs)
	}
}

// WritePaperAblationMarkdown writes an ablation as the paper prints it: one column per model.
func WritePaperAblationMarkdown(w io.Writer, a Ablation) {
	fmt.Fprintf(w, "| row | printed as | %s |\n|---|---|%s\n", strings.Join(AblationModels, " | "),
		strings.Repeat("---:|", len(AblationModels)))
	for _, r := range a.Rows {
		fmt.Fprintf(w, "| %s | %s |", r.Row, r.Printed)
		for i := range AblationModels {
			switch {
			case r.PaperDiverged:
				fmt.Fprintf(w, " %s |", diverged)
			case i < len(r.PaperPct):
				fmt.Fprintf(w, " %.2f |", r.PaperPct[i])
			default:
				fmt.Fprint(w, " - |")
			}
		}
		fmt.Fprintln(w)
	}
}

func direct(method string) bool { return method == "base" || method == "shift" || method == "add" }

// augOpLabel says what the augmented channels compute with.
func augOpLabel(r AblationResult) string {
	switch {
	case direct(r.Method):
		return "-"
	case r.AugMF:
		return "shift (as the target)"
	}
	return "mult (hybrid)"
}

// sharingLabel names the weight sharing: "-" for a direct method without a weight remap.
func sharingLabel(r AblationResult) string {
	if r.Sharing == "" || r.Sharing == "plain" {
		if direct(r.Method) {
			return "-"
		}
		return "plain"
	}
	return r.Sharing
}

// AblationChart draws an ablation as the gain of each row over its reference row (percentage points), this
// project's beside the paper's. A row that diverged has no bar; the legend names the rows whose runs diverged.
func AblationChart(a Ablation, rows []AblationResult) *viz.Chart {
	var cats, nanOurs, nanPaper []string
	project := viz.Series{Name: "this project"}
	paper := viz.Series{Name: "paper (CIFAR-100)"}
	data := ""
	for _, r := range rows {
		label := r.Row
		if s, ok := shortLabels[label]; ok {
			label = s
		}
		if r.Seeds > 0 && r.Converged() == 0 {
			nanOurs = append(nanOurs, label)
		}
		if r.PaperDiverged {
			nanPaper = append(nanPaper, label)
		}
		cats = append(cats, label)
		project.Values = append(project.Values, orNaN(r.GainPct))
		paper.Values = append(paper.Values, orNaN(r.PaperGainPct))
		if r.Seeds > 0 && data == "" {
			data = fmt.Sprintf("%s %dx%d, %d epoch(s)", r.Data, r.Res, r.Res, r.Epochs)
		}
	}
	// The legend says which rows have no bar because their loss diverged.
	if data != "" {
		if len(nanOurs) > 0 {
			data += "; NaN: " + strings.Join(nanOurs, ", ")
		}
		project.Name = "this project (" + data + ")"
	}
	if len(nanPaper) > 0 {
		paper.Name = "paper (CIFAR-100; NaN: " + strings.Join(nanPaper, ", ") + ")"
	}
	model := ""
	if len(rows) > 0 {
		model = rows[0].Model + ": "
	}
	return viz.Bar(viz.Options{Title: fmt.Sprintf("%s: gain over %s", a.Table, a.RefLong),
		Subtitle: model + "mean final target test accuracy minus the " + a.RefShort + " row's, percentage points; " +
			"datasets differ; no bar: the loss diverged (NaN)",
		XName: "row", YName: "gain (points)", Height: 440}, cats, project, paper)
}

// shortLabels name rows briefly enough for a chart's axis to print them level.
var shortLabels = map[string]string{"aug with hybrid, w/o HWS": "hybrid w/o HWS", "aug with hybrid + HWS": "hybrid + HWS",
	"ShiftAddNAS (piecewise + KL)": "ShiftAddNAS", "linear + skip + freeze": "linear + skip"}

func orNaN(v *float64) float64 {
	if v == nil {
		return math.NaN()
	}
	return *v
}
