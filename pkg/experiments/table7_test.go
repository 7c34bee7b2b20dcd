package experiments

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/pkg/train"
	"github.com/shiftaddaug/shiftaddaug/pkg/viz/viztest"
)

// outcome makes a finished run of spec with the given final accuracy (a fraction).
func outcome(spec RunSpec, acc float64) *RunOutcome {
	return &RunOutcome{Spec: spec, Result: &train.Result{Config: spec.Config, Backend: "fake", FinalAcc: acc, Seconds: 5,
		History: []train.EpochRecord{{LossTarget: 1, TestAcc: acc}}}}
}

func TestTable7Preset(t *testing.T) {
	p := Table7Preset([]uint64{1, 2}, true)
	if len(p.Runs) != 2*len(Table7Rows) || len(Table7Rows) != 5 {
		t.Fatalf("%d runs, %d rows", len(p.Runs), len(Table7Rows))
	}
	want := []struct {
		id, method, sharing string
		augMF               bool
	}{
		{"table3-mbv2-w0.35-base-s1", "base", "", false},
		{"table3-mbv2-w0.35-shift-s1", "shift", "", false},
		{"table7-mbv2-w0.35-aug-with-shift-s1", "augshift", "", true},
		{"table7-mbv2-w0.35-aug-with-hybrid-w-o-s1", "augshift", "plain", false}, // the slug keeps lower case only
		{"table3-mbv2-w0.35-augshift-s1", "augshift", "hws", false},
	}
	mini := map[string]RunSpec{}
	for _, s := range MiniPreset([]uint64{1}, true).Runs {
		mini[s.ID] = s
	}
	for i, w := range want {
		s := p.Runs[i]
		c := s.Config
		if s.ID != w.id || c.Method != w.method || c.Sharing != w.sharing || c.AugMF != w.augMF || c.Seed != 1 ||
			s.Table != "table7:"+Table7Rows[i].Row {
			t.Errorf("run %d: %s %+v, want %+v", i, s.ID, c, w)
		}
		// A row that shares a Table 3 run's ID must be that very run.
		if m, ok := mini[s.ID]; ok != strings.HasPrefix(s.ID, "table3-") || ok && !reflect.DeepEqual(m.Config, c) {
			t.Errorf("%s: shared with the mini preset %v, configs %+v and %+v", s.ID, ok, m.Config, c)
		}
	}
	if p.Runs[5].Config.Seed != 2 {
		t.Errorf("second seed: %+v", p.Runs[5])
	}
	for _, name := range []string{"mini", "table7", "paper"} {
		if _, err := PresetByName(name, []uint64{1}, false); err != nil {
			t.Error(err)
		}
	}
}

// TestPaperTable7 checks the printed Table 7 against Table 3, which prints the same runs: the multiplicative
// baseline, the direct shift training and ShiftAddAug (augmented with HWS).
func TestPaperTable7(t *testing.T) {
	labels := map[string]bool{}
	for _, r := range Table7Rows {
		labels[r.Row] = true
	}
	if len(PaperTable7) != len(Table7Rows) {
		t.Fatalf("%d printed rows, %d preset rows", len(PaperTable7), len(Table7Rows))
	}
	for _, r := range PaperTable7 {
		if !labels[r.Row] || len(r.AccPct) != len(PaperTable7Models) {
			t.Errorf("row %+v", r)
		}
	}
	for _, m := range PaperTable7Models {
		base, _ := PaperRow(m, "base")
		shift, ok := PaperRow(m, "shift")
		if !ok {
			t.Fatalf("no Table 3 row for %s", m)
		}
		for row, want := range map[string]float64{"mult. baseline": base.AccDirect, "to-shift (direct)": shift.AccDirect,
			"aug with hybrid + HWS": shift.AccAug} {
			if got, ok := PaperTable7Acc(row, m); !ok || got != want {
				t.Errorf("%s %s: Table 7 %v, Table 3 %v", m, row, got, want)
			}
		}
	}
	if v, ok := PaperTable7Acc("aug with hybrid, w/o HWS", "mcunet-in3"); !ok || v != 71.02 {
		t.Errorf("hybrid w/o HWS on MCUNet: %v %v", v, ok)
	}
	if _, ok := PaperTable7Acc("aug with shift", "mbv3-w0.35"); ok {
		t.Error("Table 7 has no MobileNetV3 column")
	}
}

func TestTable7Results(t *testing.T) {
	p := Table7Preset([]uint64{1, 2}, true)
	// Only Table 3's runs (base, shift, HWS), seed 1: the ablation has not run.
	var outs []*RunOutcome
	for _, s := range p.Runs {
		if strings.HasPrefix(s.ID, "table3-") && s.Config.Seed == 1 {
			outs = append(outs, outcome(s, 0.5))
		}
	}
	rows := Table7Results(p, outs)
	if len(rows) != 5 || Table7Ran(rows) {
		t.Fatalf("%d rows, ran %v", len(rows), Table7Ran(rows))
	}
	if rows[2].Seeds != 0 || rows[1].Seeds != 1 || rows[4].GainPct == nil || *rows[4].GainPct != 0 {
		t.Errorf("rows %+v", rows)
	}

	// All of it, both seeds: accuracy = 0.40 + 0.05·row + 0.02·seed.
	outs = nil
	for i, s := range p.Runs {
		outs = append(outs, outcome(s, 0.40+0.05*float64(i%5)+0.02*float64(s.Config.Seed)))
	}
	rows = Table7Results(p, outs)
	if !Table7Ran(rows) {
		t.Fatal("the ablation's runs finished, Table7Ran says not")
	}
	for i, r := range rows {
		want := 100 * (0.40 + 0.05*float64(i) + 0.03)
		if r.Row != Table7Rows[i].Row || r.Seeds != 2 || math.Abs(r.MeanPct-want) > 1e-9 ||
			math.Abs(r.StdPct-math.Sqrt2) > 1e-9 || r.GainPct == nil || math.Abs(*r.GainPct-5*float64(i-1)) > 1e-9 {
			t.Errorf("row %d: %+v (gain %v), want mean %.2f", i, r, r.GainPct, want)
		}
		if r.PaperPct == nil || r.PaperGainPct == nil {
			t.Errorf("row %d: no paper values", i)
		}
	}
	if *rows[4].PaperPct != 71.83 || math.Abs(*rows[4].PaperGainPct-(71.83-69.25)) > 1e-9 || *rows[1].PaperGainPct != 0 {
		t.Errorf("paper: %v %v", *rows[4].PaperPct, *rows[4].PaperGainPct)
	}
	var md bytes.Buffer
	WriteTable7Markdown(&md, rows)
	for _, want := range []string{
		"| aug with hybrid + HWS | mbv2-w0.35 | augshift | mult (hybrid) | hws | fashion-mnist | 2 | 63.00 ± 1.41 | +15.00 | 71.83 | +2.58 | 5 |",
		"| aug with shift | mbv2-w0.35 | augshift | shift (as the target) | plain | fashion-mnist | 2 | 53.00 ± 1.41 | +5.00 | 70.12 | +0.87 | 5 |",
		"| mult. baseline | mbv2-w0.35 | base | - | - | fashion-mnist | 2 | 43.00 ± 1.41 | -5.00 | 70.59 | +1.34 | 5 |",
		"different dataset"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Table 7 Markdown lacks %q:\n%s", want, md.String())
		}
	}
	var opt map[string]any
	if err := json.Unmarshal([]byte(Table7Chart(rows).Option()), &opt); err != nil {
		t.Fatalf("chart option: %v", err)
	}
	if series, _ := opt["series"].([]any); len(series) != 2 {
		t.Errorf("chart has %d series, want 2", len(series))
	}
}

// TestPresetOutcomes: runs shared by two presets are relabelled with the asking preset's table, once each.
func TestPresetOutcomes(t *testing.T) {
	t7 := Table7Preset([]uint64{1}, true)
	var outs []*RunOutcome
	for _, s := range t7.Runs {
		outs = append(outs, outcome(s, 0.5)) // as if 'experiment --preset table7' had run first
	}
	outs = append(outs, outs[1], nil, &RunOutcome{Spec: RunSpec{ID: "table3-mbv2-w0.35-add-s1"}}) // duplicate, nil, no result
	mini := MiniPreset([]uint64{1}, true)
	got := PresetOutcomes(mini, outs)
	if len(got) != 3 {
		t.Fatalf("%d outcomes, want base, shift and augshift", len(got))
	}
	for _, o := range got {
		if o.Spec.Table != "table3" {
			t.Errorf("%s labelled %q", o.Spec.ID, o.Spec.Table)
		}
	}
	if outs[0].Spec.Table != "table7:mult. baseline" {
		t.Error("PresetOutcomes changed its input")
	}
	// The report of the mini preset counts them as Table 3 runs.
	r, err := BuildReport(ReportOptions{Preset: &mini, Outcomes: outs})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Accuracy) != 3 || r.Finished != 3 || r.Ablation("table7") != nil {
		t.Errorf("accuracy rows %d, finished %d, table 7 %v", len(r.Accuracy), r.Finished, r.Ablation("table7"))
	}
}

// TestReportTable7 writes a report with Table 7's runs and checks its section, JSON file and chart.
func TestReportTable7(t *testing.T) {
	mini := MiniPreset([]uint64{1}, true)
	t7 := Table7Preset([]uint64{1}, true)
	var outs []*RunOutcome
	for i, s := range mini.Runs {
		outs = append(outs, outcome(s, 0.5+0.01*float64(i)))
	}
	// Without the ablation's own runs the report has no Table 7.
	r, err := BuildReport(ReportOptions{Preset: &mini, Ablations: []Preset{t7}, Outcomes: outs})
	if err != nil {
		t.Fatal(err)
	}
	if r.Ablation("table7") != nil || strings.Contains(r.Markdown(), "Table 7") {
		t.Errorf("Table 7 shown without its runs: %+v", r.Ablations)
	}
	for _, s := range t7.Runs {
		if strings.HasPrefix(s.ID, "table7-") {
			outs = append(outs, outcome(s, 0.45))
		}
	}
	r, err = BuildReport(ReportOptions{Preset: &mini, Ablations: []Preset{t7}, Outcomes: outs})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Ablation("table7")) != 5 || r.Finished != 6 || len(r.Accuracy) != 6 {
		t.Fatalf("table 7 rows %d, finished %d, accuracy rows %d", len(r.Ablation("table7")), r.Finished, len(r.Accuracy))
	}
	md := r.Markdown()
	for _, want := range []string{"## Table 7: HWS ablation", "| aug with shift | mbv2-w0.35 | augshift | shift (as the target) | plain | fashion-mnist | 1 | 45.00 | -7.00 | 70.12 |",
		"| to-shift (direct) | mbv2-w0.35 | shift | - | - | fashion-mnist | 1 | 52.00 | +0.00 | 69.25 | +0.00 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	dir := t.TempDir()
	files, err := WriteResults(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 11 {
		t.Errorf("wrote %d files: %v", len(files), files)
	}
	var back []Table7Row
	data, err := os.ReadFile(filepath.Join(dir, Table7JSON))
	if err != nil || json.Unmarshal(data, &back) != nil || len(back) != 5 || back[3].Sharing != "plain" {
		t.Errorf("%s: %v, %d rows", Table7JSON, err, len(back))
	}
	page := string(r.Page().Bytes())
	if !strings.Contains(page, "Table 7: HWS ablation") || !strings.Contains(page, "Table 7: gain over direct training") {
		t.Error("report.html lacks Table 7")
	}
	// Table 3 energy, latency, breakdown; 3 per-layer; Table 7; Fig. 5; loss and accuracy curves.
	if n := r.Page().NumCharts(); n != 10 {
		t.Errorf("%d charts, want 10", n)
	}
	res := viztest.ProbeFile(t, filepath.Join(dir, ReportHTML))
	viztest.CheckAllDrawn(t, res, 10)
}

func TestAccuracyWithEnergy(t *testing.T) {
	rows, err := AccuracyWithEnergy(AccuracyTable(fakeOutcomes([]uint64{1})), HardwareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 {
		t.Fatalf("%d rows", len(rows))
	}
	// 160x160 with a 10-class classifier: a little under Table 3's 100-class energies.
	for _, r := range rows {
		hw := map[string]float64{"base": 2.345, "netaug": 2.345, "shift": 0.74, "augshift": 0.74, "add": 1.091, "augadd": 1.091}[r.Method]
		if r.EnergyMJ <= 0.9*hw || r.EnergyMJ > hw+0.0005 || r.PaperEnergyMJ != hw || r.EnergyRes != 160 {
			t.Errorf("%s: energy %.3f (paper %.3f) at %d", r.Method, r.EnergyMJ, r.PaperEnergyMJ, r.EnergyRes)
		}
	}
	var md bytes.Buffer
	WriteAccuracyEnergyMarkdown(&md, rows)
	if !strings.Contains(md.String(), "| mbv2-w0.35 | augshift | fashion-mnist | 1 | 1 | 65.00 | +1.00 | 71.83 | +2.58 | 0.740 | 0.740 |") ||
		!strings.Contains(md.String(), "| 0.740 |") {
		t.Errorf("Markdown:\n%s", md.String())
	}
	var opt map[string]any
	if err := json.Unmarshal([]byte(AccuracyEnergyChart(rows, "mbv2-w0.35").Option()), &opt); err != nil {
		t.Fatal(err)
	}
	if series, _ := opt["series"].([]any); len(series) != 3 {
		t.Errorf("chart has %d series, want 3", len(series))
	}
}
