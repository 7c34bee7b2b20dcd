package experiments

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/shiftaddaug/shiftaddaug/pkg/viz"
)

// Table7Row is one row of Table 7 (the HWS ablation) at this project's scale: the mean and spread over seeds of
// the row's runs, beside the paper's printed value for the same model.
type Table7Row struct {
	Row    string `json:"row"` // a Table7Rows label, e.g. "aug with hybrid + HWS"
	Model  string `json:"model"`
	Method string `json:"method"`
	// AugMF and Sharing are the row's training settings (see train.Config).
	AugMF   bool   `json:"aug_mf,omitempty"`
	Sharing string `json:"sharing,omitempty"`
	Data    string `json:"data"`
	Res     int    `json:"res"`
	Epochs  int    `json:"epochs"`
	// Seeds counts the finished runs; MeanPct and StdPct (sample std, 0 for one seed) are their final target test
	// accuracy. IDs are the finished runs.
	Seeds         int      `json:"seeds"`
	MeanPct       float64  `json:"mean_pct"`
	StdPct        float64  `json:"std_pct"`
	SecondsPerRun float64  `json:"seconds_per_run"`
	IDs           []string `json:"ids,omitempty"`
	// GainPct is the row's mean minus the "to-shift (direct)" row's mean, when both have runs.
	GainPct *float64 `json:"gain_pct,omitempty"`
	// PaperPct is the paper's Table 7 value for this row and model (CIFAR-100, 160x160), nil if it has none;
	// PaperGainPct the paper's row minus its "To shift op" row.
	PaperPct     *float64 `json:"paper_pct,omitempty"`
	PaperGainPct *float64 `json:"paper_gain_pct,omitempty"`
}

// table7Direct is the row every other row of Table 7 is compared with.
const table7Direct = "to-shift (direct)"

// Table7Results summarises the finished runs of a Table 7 preset (Table7Preset) row by row, in the preset's
// order, with each row's gain over direct training and the paper's values beside. Rows without finished runs
// are kept (Seeds 0), so the table always has every row.
func Table7Results(p Preset, outs []*RunOutcome) []Table7Row {
	settings := map[string]RunSpec{}
	for _, s := range p.Runs {
		if _, ok := settings[s.Table]; !ok {
			settings[s.Table] = s
		}
	}
	var rows []Table7Row
	for _, r := range SummarizePreset(p, outs) {
		label, ok := strings.CutPrefix(r.Table, "table7:")
		if !ok {
			continue
		}
		c := settings[r.Table].Config
		row := Table7Row{Row: label, Model: r.Model, Method: r.Method, AugMF: c.AugMF, Sharing: c.Sharing, Data: c.Data,
			Res: c.Res, Epochs: c.Epochs, Seeds: r.Seeds, MeanPct: r.Mean, StdPct: r.Std, SecondsPerRun: r.Seconds, IDs: r.IDs}
		if v, ok := PaperTable7Acc(label, r.Model); ok {
			row.PaperPct = ptr(v)
		}
		rows = append(rows, row)
	}
	for i := range rows {
		r := &rows[i]
		for _, d := range rows {
			if d.Row != table7Direct || d.Model != r.Model {
				continue
			}
			if r.Seeds > 0 && d.Seeds > 0 {
				r.GainPct = ptr(r.MeanPct - d.MeanPct)
			}
			if r.PaperPct != nil && d.PaperPct != nil {
				r.PaperGainPct = ptr(*r.PaperPct - *d.PaperPct)
			}
		}
	}
	return rows
}

// Table7Ran reports whether any of the ablation's own runs has finished: a run of rows that Table 3 does not
// also train (aug with shift, aug with hybrid w/o HWS). Table 3 alone fills the other rows.
func Table7Ran(rows []Table7Row) bool {
	for _, r := range rows {
		for _, id := range r.IDs {
			if strings.HasPrefix(id, "table7-") {
				return true
			}
		}
	}
	return false
}

// WriteTable7Markdown writes Table 7 as Markdown: this project's accuracy (mean ± sample std over seeds) and gain
// over direct training per row, with the paper's values beside, labelled as the different dataset they are.
func WriteTable7Markdown(w io.Writer, rows []Table7Row) {
	if len(rows) == 0 {
		fmt.Fprintln(w, "No Table 7 runs: train them with `shiftaddaug experiment --preset table7`.")
		return
	}
	fmt.Fprintln(w, "Final target test accuracy (%), mean ± sample std over seeds; *gain* is the row minus the direct "+
		"(to-shift) row. The *paper* columns are Table 7 as printed (CIFAR-100, 160x160): a different dataset and "+
		"scale, shown for reference; compare the signs and order of the gains, not the accuracies.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| row | model | method | aug. channels | sharing | data | seeds | accuracy (%) | gain vs direct | paper (CIFAR-100) | paper gain | s/run |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		acc := "not run"
		if r.Seeds > 0 {
			acc = fmt.Sprintf("%.2f", r.MeanPct)
			if r.Seeds > 1 {
				acc += fmt.Sprintf(" ± %.2f", r.StdPct)
			}
		}
		secs := "-"
		if r.Seeds > 0 {
			secs = fmt.Sprintf("%.0f", r.SecondsPerRun)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %d | %s | %s | %s | %s | %s |\n", r.Row, r.Model, r.Method,
			table7AugOp(r), table7Sharing(r), r.Data, r.Seeds, acc, signed(r.GainPct), plain(r.PaperPct), signed(r.PaperGainPct), secs)
	}
}

// table7AugOp says what the augmented channels compute with.
func table7AugOp(r Table7Row) string {
	switch {
	case r.Method == "base" || r.Method == "shift" || r.Method == "add":
		return "-"
	case r.AugMF:
		return "shift (as the target)"
	}
	return "mult (hybrid)"
}

func table7Sharing(r Table7Row) string {
	if r.Method == "base" || r.Method == "shift" || r.Method == "add" {
		return "-"
	}
	if r.Sharing == "" {
		return "plain"
	}
	return r.Sharing
}

// Table7Chart draws Table 7 as the gain of each row over direct training (percentage points), this project's
// beside the paper's: the ablation's question is whether augmenting helps, and whether it needs HWS.
func Table7Chart(rows []Table7Row) *viz.Chart {
	var cats []string
	project := viz.Series{Name: "this project"}
	paper := viz.Series{Name: "paper (CIFAR-100)"}
	data := ""
	for _, r := range rows {
		cats = append(cats, table7Short(r.Row))
		project.Values = append(project.Values, orNaN(r.GainPct))
		paper.Values = append(paper.Values, orNaN(r.PaperGainPct))
		if r.Seeds > 0 && data == "" {
			data = fmt.Sprintf("%s %dx%d, %d epoch(s)", r.Data, r.Res, r.Res, r.Epochs)
		}
	}
	if data != "" {
		project.Name = "this project (" + data + ")"
	}
	model := ""
	if len(rows) > 0 {
		model = rows[0].Model + ": "
	}
	return viz.Bar(viz.Options{Title: "Table 7: gain over direct training (to-shift)",
		Subtitle: model + "mean final target test accuracy minus the direct row's, percentage points; datasets differ",
		XName:    "row", YName: "gain (points)", Height: 440}, cats, project, paper)
}

// table7Short names the rows briefly enough for the chart's axis to print them level.
func table7Short(row string) string {
	if s, ok := map[string]string{"to-shift (direct)": "to-shift (direct)", "aug with shift": "aug with shift",
		"aug with hybrid, w/o HWS": "hybrid w/o HWS", "aug with hybrid + HWS": "hybrid + HWS"}[row]; ok {
		return s
	}
	return row
}

func orNaN(v *float64) float64 {
	if v == nil {
		return math.NaN()
	}
	return *v
}
