package experiments

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"

	"github.com/shiftaddaug/shiftaddaug/pkg/train"
)

// TestAblationPresets checks the rows, settings and IDs of Tables 8-10's presets: a row with the settings of a
// Table 3 run or a Table 7 row is that very run (same ID, same configuration), the others are the table's own.
func TestAblationPresets(t *testing.T) {
	type want struct {
		id, method, sharing string
		augMF               bool
	}
	cases := map[string][]want{
		"table8": {
			{"table8-mbv2-w0.35-piecewise-s1", "augshift", "piecewise", false},
			{"table8-mbv2-w0.35-linear-s1", "augshift", "linear", false},
			{"table8-mbv2-w0.35-kl-s1", "augshift", "kl", false},
			{"table8-mbv2-w0.35-linear-skip-s1", "augshift", "linear-skip", false},
			{"table3-mbv2-w0.35-augshift-s1", "augshift", "hws", false},
		},
		"table9": {
			{"table3-mbv2-w0.35-shift-s1", "shift", "", false},
			{"table9-mbv2-w0.35-no-sharing-s1", "augshift", "none", true},
			{"table7-mbv2-w0.35-aug-with-shift-s1", "augshift", "", true}, // Table 7's run: its sharing "" is "plain"
		},
		"table10": {
			{"table3-mbv2-w0.35-shift-s1", "shift", "", false},
			{"table10-mbv2-w0.35-shift-hws-s1", "shift", "hws", false},
			{"table3-mbv2-w0.35-augshift-s1", "augshift", "hws", false},
		},
	}
	// Every run of every preset, by ID: a run two presets share must have one configuration.
	shared := map[string]RunSpec{}
	for _, name := range PresetNames {
		if name == "paper" {
			continue
		}
		p, err := PresetByName(name, []uint64{1}, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range p.Runs {
			if err := s.Config.Validate(); err != nil {
				t.Errorf("%s %s: %v", name, s.ID, err)
			}
			if prev, ok := shared[s.ID]; ok && !reflect.DeepEqual(prev.Config, s.Config) {
				t.Errorf("%s in two presets with configs %+v and %+v", s.ID, prev.Config, s.Config)
			}
			shared[s.ID] = s
		}
	}
	for name, rows := range cases {
		a, ok := AblationByName(name)
		if !ok {
			t.Fatalf("no ablation %s", name)
		}
		p := AblationPreset(a, []uint64{1, 2}, true)
		if p.Name != name || len(a.Rows) != len(rows) || len(p.Runs) != 2*len(rows) {
			t.Fatalf("%s: preset %q, %d rows, %d runs", name, p.Name, len(a.Rows), len(p.Runs))
		}
		for i, w := range rows {
			s := p.Runs[i]
			c := s.Config
			if s.ID != w.id || c.Method != w.method || c.Sharing != w.sharing || c.AugMF != w.augMF || c.Seed != 1 ||
				s.Table != name+":"+a.Rows[i].Row {
				t.Errorf("%s run %d: %s %s %+v, want %+v", name, i, s.ID, s.Table, c, w)
			}
			// A row not the table's own is a run of Table 3's or Table 7's preset, configured alike.
			if !strings.HasPrefix(s.ID, name+"-") && !hasRun(MiniPreset([]uint64{1, 2}, true), s) && !hasRun(Table7Preset([]uint64{1, 2}, true), s) {
				t.Errorf("%s: %s is neither its own run nor Table 3's or Table 7's", name, s.ID)
			}
			s2 := p.Runs[len(rows)+i]
			if s2.Config.Seed != 2 || s2.ID != strings.TrimSuffix(s.ID, "-s1")+"-s2" {
				t.Errorf("%s second seed: %s %+v", name, s2.ID, s2.Config)
			}
		}
	}
	// The shared rows are the runs Table 3 and Table 7 train.
	mini, t7 := MiniPreset([]uint64{1}, true), Table7Preset([]uint64{1}, true)
	for _, id := range []string{"table3-mbv2-w0.35-shift-s1", "table3-mbv2-w0.35-augshift-s1"} {
		if !hasRun(mini, shared[id]) {
			t.Errorf("%s is not the mini preset's run", id)
		}
	}
	if !hasRun(t7, shared["table7-mbv2-w0.35-aug-with-shift-s1"]) {
		t.Error("Table 9's w/ weight sharing is not Table 7's aug with shift run")
	}
	if _, err := PresetByName("table12", nil, true); err == nil || !strings.Contains(err.Error(), PresetNamesList()) || !strings.HasSuffix(err.Error(), " or paper") {
		t.Errorf("unknown preset: %v", err)
	}
}

func hasRun(p Preset, s RunSpec) bool {
	for _, r := range p.Runs {
		if r.ID == s.ID && reflect.DeepEqual(r.Config, s.Config) {
			return true
		}
	}
	return false
}

// TestPaperAblations checks the printed Tables 8-10 against the tables that print the same runs.
func TestPaperAblations(t *testing.T) {
	for _, m := range AblationModels {
		shift, _ := PaperRow(m, "shift")
		aug7, _, _ := Table7.PaperAcc("aug with shift", m)
		for _, c := range []struct {
			a    Ablation
			row  string
			want float64
		}{
			{Table8, "ours (HWS)", shift.AccAug},
			{Table9, "direct trained", shift.AccDirect},
			{Table9, "w/ weight sharing", aug7},
			{Table10, "w/o aug, w/o HWS", shift.AccDirect},
			{Table10, "with aug, with HWS", shift.AccAug},
		} {
			if got, div, ok := c.a.PaperAcc(c.row, m); !ok || div || got != c.want {
				t.Errorf("%s %s %s: %v (diverged %v, ok %v), want %v", c.a.Name, c.row, m, got, div, ok, c.want)
			}
		}
	}
	for _, row := range []string{"ShiftAddNAS (piecewise + KL)", "linear remap"} {
		if _, div, ok := Table8.PaperAcc(row, "mcunet-in3"); !ok || !div {
			t.Errorf("Table 8 %s: the paper prints Nan", row)
		}
	}
	for c, want := range map[[3]string]float64{{"table8", "KL-loss only", "proxyless-w0.35"}: 70.52,
		{"table8", "linear + skip + freeze", "mcunet-in3"}: 74.44, {"table9", "w/o weight sharing", "mbv2-w0.35"}: 69.42,
		{"table10", "w/o aug, with HWS", "mcunet-in3"}: 71.13} {
		a, _ := AblationByName(c[0])
		if got, _, ok := a.PaperAcc(c[1], c[2]); !ok || got != want {
			t.Errorf("%v: %v, want %v", c, got, want)
		}
	}
	for _, a := range Ablations {
		refs := 0
		for _, r := range a.Rows {
			if r.Row == a.Ref {
				refs++
			}
			if r.PaperDiverged != (r.PaperPct == nil) || r.PaperPct != nil && len(r.PaperPct) != len(AblationModels) {
				t.Errorf("%s %s: paper values %v, diverged %v", a.Name, r.Row, r.PaperPct, r.PaperDiverged)
			}
		}
		if refs != 1 {
			t.Errorf("%s: reference row %q found %d times", a.Name, a.Ref, refs)
		}
	}
	var md bytes.Buffer
	WritePaperAblationMarkdown(&md, Table8)
	if !strings.Contains(md.String(), "| linear remap | Linear remap | NaN (diverged) | NaN (diverged) | NaN (diverged) |") {
		t.Errorf("paper Table 8:\n%s", md.String())
	}
}

// diverge marks an outcome as Execute stores a run whose loss became NaN.
func diverge(o *RunOutcome) *RunOutcome {
	o.Diverged = &Divergence{Epoch: 1, Reason: "loss NaN in epoch 1"}
	o.Result.FinalAcc, o.Result.History = 0, nil
	return o
}

// TestAblationResultsDiverged: rows whose runs all diverged read "NaN (diverged)" (as the paper's Nan rows do),
// partly diverged rows average the others, and nothing of it is NaN in JSON or the chart.
func TestAblationResultsDiverged(t *testing.T) {
	p := AblationPreset(Table8, []uint64{1, 2}, true)
	var outs []*RunOutcome
	for i, s := range p.Runs {
		o := outcome(s, 0.40+0.05*float64(i%5)+0.02*float64(s.Config.Seed))
		switch {
		case s.Config.Sharing == "piecewise":
			diverge(o) // stored as diverged
		case s.Config.Sharing == "linear" && s.Config.Seed == 2:
			o.Result.History[0].LossAug = math.Inf(1) // in memory: detected from the history
		}
		outs = append(outs, o)
	}
	rows := AblationResults(Table8, p, outs)
	if len(rows) != 5 || !AblationRan(Table8, rows) {
		t.Fatalf("%d rows, ran %v", len(rows), AblationRan(Table8, rows))
	}
	pw, lin, ours := rows[0], rows[1], rows[4]
	if pw.Seeds != 2 || pw.Diverged != 2 || pw.MeanPct != 0 || pw.GainPct != nil || !pw.PaperDiverged || pw.PaperPct != nil {
		t.Errorf("piecewise: %+v", pw)
	}
	if lin.Seeds != 2 || lin.Diverged != 1 || math.Abs(lin.MeanPct-47) > 1e-9 || lin.StdPct != 0 ||
		lin.GainPct == nil || math.Abs(*lin.GainPct-(47-63)) > 1e-9 {
		t.Errorf("linear: %+v gain %v", lin, lin.GainPct)
	}
	if ours.Row != "ours (HWS)" || ours.Diverged != 0 || *ours.GainPct != 0 || *ours.PaperPct != 71.83 {
		t.Errorf("ours: %+v", ours)
	}
	if g := rows[2].PaperGainPct; g == nil || math.Abs(*g-(69.84-71.83)) > 1e-9 {
		t.Errorf("KL-loss only paper gain %v", g)
	}
	if _, err := json.Marshal(rows); err != nil {
		t.Errorf("rows do not encode: %v", err)
	}
	var md bytes.Buffer
	WriteAblationMarkdown(&md, Table8, rows)
	for _, want := range []string{
		"| ShiftAddNAS (piecewise + KL) | mbv2-w0.35 | augshift | mult (hybrid) | piecewise | fashion-mnist | 2 | NaN (diverged) | - | NaN (diverged) | - | 5 |",
		"| linear remap | mbv2-w0.35 | augshift | mult (hybrid) | linear | fashion-mnist | 2 | 47.00 (1 of 2 diverged) | -16.00 | NaN (diverged) | - | 5 |",
		"| KL-loss only | mbv2-w0.35 | augshift | mult (hybrid) | kl | fashion-mnist | 2 | 53.00 ± 1.41 | -10.00 | 69.84 | -1.99 | 5 |",
		"| gain vs ours (HWS) |", "Table 8 as printed", "*NaN (diverged)*"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md.String())
		}
	}
	var opt struct {
		XAxis  json.RawMessage `json:"xAxis"`
		Series json.RawMessage `json:"series"`
	}
	if err := json.Unmarshal([]byte(AblationChart(Table8, rows).Option()), &opt); err != nil {
		t.Fatalf("chart option: %v", err)
	}
	if x := string(opt.XAxis); !strings.Contains(x, `"ShiftAddNAS","linear remap","KL-loss only"`) {
		t.Errorf("chart categories %s", x)
	}
	if l := string(opt.Series); !strings.Contains(l, "1 epoch(s); NaN: ShiftAddNAS)") || !strings.Contains(l, "paper (CIFAR-100; NaN: ShiftAddNAS, linear remap)") {
		t.Errorf("chart series %s", l)
	}

	// Table 10 with only Table 3's runs: its own row has not run.
	p10 := AblationPreset(Table10, []uint64{1}, true)
	outs = nil
	for _, s := range p10.Runs {
		if strings.HasPrefix(s.ID, "table3-") {
			outs = append(outs, outcome(s, 0.5))
		}
	}
	rows = AblationResults(Table10, p10, outs)
	if AblationRan(Table10, rows) || rows[1].Seeds != 0 || rows[2].Seeds != 1 {
		t.Errorf("table 10 rows %+v", rows)
	}
	md.Reset()
	WriteAblationMarkdown(&md, Table10, rows)
	if !strings.Contains(md.String(), "| w/o aug, with HWS | mbv2-w0.35 | shift | - | hws | fashion-mnist | 0 | not run | - | 68.32 | -0.93 | - |") ||
		strings.Contains(md.String(), "NaN") {
		t.Errorf("Table 10 Markdown:\n%s", md.String())
	}
}

// TestExecuteDiverged: a run whose loss becomes NaN is stored as diverged (train.Run stops with a
// DivergedError), loaded back as such, and not trained again. No training: the runner is
// replaced.
func TestExecuteDiverged(t *testing.T) {
	dir := t.TempDir()
	spec := AblationPreset(Table8, []uint64{1}, true).Runs[0]
	calls := 0
	old := runTraining
	defer func() { runTraining = old }()
	runTraining = func(_ backends.Backend, cfg train.Config, opts train.RunOptions) (*train.Result, error) {
		calls++
		// Epoch 1 finished (state file written), epoch 2's loss is NaN: what train.Run's state writer meets.
		prev := train.Result{Config: cfg, History: []train.EpochRecord{{LossTarget: 2.1, TestAcc: 0.3}}}
		data, _ := json.Marshal(prev)
		if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(opts.Dir, "state.json"), data, 0o644); err != nil {
			return nil, err
		}
		// Epoch 2's mean loss is NaN: train.Run stops with its DivergedError before recording the epoch.
		return nil, &train.DivergedError{Epoch: 2, Value: math.NaN()}
	}
	var progress bytes.Buffer
	o, err := Execute(nil, spec, dir, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if !o.IsDiverged() || o.Diverged.Epoch != 2 || o.Diverged.Reason != "loss NaN in epoch 2" || len(o.Result.History) != 1 ||
		o.Result.FinalAcc != 0 || o.Result.BestAcc != 0.3 || !strings.Contains(progress.String(), "diverged: loss NaN in epoch 2") {
		t.Fatalf("outcome %+v %+v, progress %q", o.Diverged, o.Result, progress.String())
	}
	outs, err := LoadOutcomes(dir)
	if err != nil || len(outs) != 1 || !outs[0].IsDiverged() || outs[0].DivergedReason() != "loss NaN in epoch 2" {
		t.Fatalf("loaded %v: %+v", err, outs)
	}
	if o, err := Execute(nil, spec, dir, nil); err != nil || calls != 1 || !o.IsDiverged() {
		t.Errorf("second Execute: %v, %d calls, %+v", err, calls, o)
	}

	// A result that comes back with a non-finite loss (no state file in the way) is cut before it and marked.
	spec2 := AblationPreset(Table8, []uint64{1}, true).Runs[1]
	runTraining = func(_ backends.Backend, cfg train.Config, _ train.RunOptions) (*train.Result, error) {
		return &train.Result{Config: cfg, FinalAcc: 0.1, BestAcc: 0.4, History: []train.EpochRecord{{LossTarget: 2, TestAcc: 0.4},
			{LossTarget: 3, Penalty: math.Inf(1), TestAcc: 0.1}}}, nil
	}
	o, err = Execute(nil, spec2, dir, nil)
	if err != nil || o.Diverged == nil || o.Diverged.Epoch != 2 || len(o.Result.History) != 1 || o.Result.FinalAcc != 0 {
		t.Fatalf("%v: %+v %+v", err, o.Diverged, o.Result)
	}
	// Other errors are errors.
	runTraining = func(backends.Backend, train.Config, train.RunOptions) (*train.Result, error) {
		return nil, errors.New("disk full")
	}
	if _, err := Execute(nil, AblationPreset(Table8, []uint64{1}, true).Runs[2], dir, nil); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("error: %v", err)
	}
}

// TestReportAblations: the report shows an ablation table once one of its own runs finished, with diverged
// rows as NaN, and writes its JSON file (which cannot hold NaN).
func TestReportAblations(t *testing.T) {
	mini := MiniPreset([]uint64{1}, true)
	var presets []Preset
	for _, a := range Ablations {
		presets = append(presets, AblationPreset(a, []uint64{1}, true))
	}
	var outs []*RunOutcome
	for i, s := range mini.Runs {
		outs = append(outs, outcome(s, 0.5+0.01*float64(i)))
	}
	r, err := BuildReport(ReportOptions{Preset: &mini, Ablations: presets, Outcomes: outs})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Ablations) != 0 {
		t.Errorf("ablations shown with Table 3's runs only: %+v", r.Ablations)
	}
	for _, s := range presets[1].Runs { // Table 8
		if strings.HasPrefix(s.ID, "table8-") {
			o := outcome(s, 0.45)
			if s.Config.Sharing == "piecewise" || s.Config.Sharing == "linear" {
				diverge(o)
			}
			outs = append(outs, o)
		}
	}
	r, err = BuildReport(ReportOptions{Preset: &mini, Ablations: presets, Outcomes: outs})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Ablations) != 1 || len(r.Ablation("table8")) != 5 || r.Ablation("table9") != nil || r.Finished != 6 {
		t.Fatalf("ablations %+v, finished %d", r.Ablations, r.Finished)
	}
	md := r.Markdown()
	for _, want := range []string{"## Table 8: methods for weight tearing (this project's scale)",
		"| linear remap | mbv2-w0.35 | augshift | mult (hybrid) | linear | fashion-mnist | 1 | NaN (diverged) | - | NaN (diverged) | - | 5 |",
		"| ours (HWS) | mbv2-w0.35 | augshift | mult (hybrid) | hws | fashion-mnist | 1 | 53.00 | +0.00 | 71.83 | +0.00 | 5 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "Table 7") || strings.Contains(md, "Table 9") {
		t.Error("tables without their own runs shown")
	}
	dir := t.TempDir()
	if _, err := WriteResults(dir, r); err != nil {
		t.Fatal(err)
	}
	var back []AblationResult
	data, err := os.ReadFile(filepath.Join(dir, AblationJSON("table8")))
	if err != nil || json.Unmarshal(data, &back) != nil || len(back) != 5 || back[0].Diverged != 1 || !back[0].PaperDiverged {
		t.Errorf("table8.json: %v %+v", err, back)
	}
	if _, err := os.Stat(filepath.Join(dir, Table7JSON)); err == nil {
		t.Error("table7.json written without Table 7")
	}
	page := string(r.Page().Bytes())
	if !strings.Contains(page, "Table 8: gain over ours (HWS)") {
		t.Error("report.html lacks the Table 8 chart")
	}
	if n := r.Page().NumCharts(); n != 10 {
		t.Errorf("%d charts, want 10", n)
	}
}

// TestAccuracyTableDiverged: Table 3's summary counts diverged runs without averaging them (and without an
// infinite min or max, which JSON cannot hold), and prints a row whose runs all diverged as NaN.
func TestAccuracyTableDiverged(t *testing.T) {
	var outs []*RunOutcome
	for _, s := range MiniPreset([]uint64{1, 2}, true).Runs {
		o := outcome(s, 0.3+0.1*float64(s.Config.Seed))
		if s.Config.Method == "augadd" || s.Config.Method == "augshift" && s.Config.Seed == 2 {
			diverge(o)
		}
		outs = append(outs, o)
	}
	rows := AccuracyTable(outs)
	byMethod := map[string]AccuracyRow{}
	for _, r := range rows {
		byMethod[r.Method] = r
	}
	aa, as := byMethod["augadd"], byMethod["augshift"]
	if aa.Seeds != 2 || aa.Diverged != 2 || aa.MeanPct != 0 || aa.MinPct != 0 || aa.MaxPct != 0 || aa.GainPct != nil {
		t.Errorf("augadd: %+v", aa)
	}
	if as.Seeds != 2 || as.Diverged != 1 || math.Abs(as.MeanPct-40) > 1e-9 || as.GainPct == nil || math.Abs(*as.GainPct+5) > 1e-9 {
		t.Errorf("augshift: %+v gain %v", as, as.GainPct)
	}
	if _, err := json.Marshal(rows); err != nil {
		t.Errorf("rows do not encode: %v", err)
	}
	var md bytes.Buffer
	WriteAccuracyMarkdown(&md, rows)
	for _, want := range []string{"| mbv2-w0.35 | augadd | fashion-mnist | 32 | 1 | 2 | NaN (diverged) | - | - |",
		"| mbv2-w0.35 | augshift | fashion-mnist | 32 | 1 | 2 | 40.00 (1 of 2 diverged) | 40.00–40.00 | -5.00 |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md.String())
		}
	}
	points, _, err := Fig5(outs, nil, DefaultHardwareOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range points {
		if p.Source == "run" && (p.Method == "augadd" || p.RunID == "table3-mbv2-w0.35-augshift-s2") {
			t.Errorf("diverged run plotted: %+v", p)
		}
	}
}
