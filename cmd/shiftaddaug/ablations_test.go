package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/pkg/experiments"
	"github.com/shiftaddaug/shiftaddaug/pkg/train"
)

// putRuns writes finished-run files of a preset's runs into dir as Execute writes them (no training); runs for
// which diverged says so are stored as diverged.
func putRuns(t *testing.T, dir string, p experiments.Preset, acc float64, diverged func(experiments.RunSpec) bool) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "runs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Runs {
		o := experiments.RunOutcome{Spec: s, Result: &train.Result{Config: s.Config, Backend: "fake", FinalAcc: acc,
			History: []train.EpochRecord{{LossTarget: 1, TestAcc: acc}}}}
		if diverged != nil && diverged(s) {
			o.Result.FinalAcc, o.Result.History = 0, nil
			o.Diverged = &experiments.Divergence{Epoch: 1, Reason: "loss NaN in epoch 1"}
		}
		data, _ := json.Marshal(o)
		if err := os.WriteFile(filepath.Join(dir, "runs", s.ID+".json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestExperimentListAblations: 'experiment --preset table9 --list' lists the table's runs, trains nothing, and
// shows a diverged run as NaN; every ablation is a preset the command knows.
func TestExperimentListAblations(t *testing.T) {
	dir := t.TempDir()
	code, o, e := run(t, "experiment", "--preset", "table9", "--list", "--quick", "--seeds", "1", "--out", dir)
	if code != 0 {
		t.Fatalf("code %d: %s", code, e)
	}
	for _, want := range []string{"Preset table9:", "| table9:direct trained | mbv2-w0.35 | shift | 0 | not run |",
		"| table9:w/o weight sharing | mbv2-w0.35 | augshift | 0 | not run |", "| table9:w/ weight sharing | mbv2-w0.35 | augshift | 0 | not run |"} {
		if !strings.Contains(o, want) {
			t.Errorf("list lacks %q:\n%s", want, o)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("--list wrote %d entries", len(entries))
	}
	putRuns(t, dir, experiments.AblationPreset(experiments.Table9, []uint64{1}, true), 0.5, func(s experiments.RunSpec) bool {
		return s.Config.Sharing == "none"
	})
	_, o, _ = run(t, "experiment", "--preset", "table9", "--list", "--quick", "--seeds", "1", "--out", dir)
	if !strings.Contains(o, "| table9:w/o weight sharing | mbv2-w0.35 | augshift | 1 | NaN (diverged) |") ||
		!strings.Contains(o, "| table9:direct trained | mbv2-w0.35 | shift | 1 | 50.00 ± 0.00 |") {
		t.Errorf("list with runs:\n%s", o)
	}
	for _, name := range []string{"table7", "table8", "table10", "table11"} {
		if code, o, e := run(t, "experiment", "--preset", name, "--list", "--quick", "--seeds", "1", "--out", dir); code != 0 || !strings.Contains(o, "| "+name+":") {
			t.Errorf("%s: code %d %s %s", name, code, o, e)
		}
	}
	code, _, e = run(t, "experiment", "--preset", "table12", "--list")
	if code == 0 || !strings.Contains(e, "want "+experiments.PresetNamesList()) || !strings.Contains(e, "scaling") {
		t.Errorf("unknown preset: code %d %q", code, e)
	}
	if _, o, _ := run(t, "experiment", "--help"); !strings.Contains(o, "table10") {
		t.Errorf("--help does not list table10:\n%s", o)
	}
}

// TestReproduceOnlyAblations: --only takes ablation tables (all their runs, each once) beside run IDs, at the mini
// scale only. Nothing is trained: only the selection is checked.
func TestReproduceOnlyAblations(t *testing.T) {
	mini := experiments.MiniPreset([]uint64{1}, true)
	var abl []experiments.Preset
	for _, a := range experiments.Ablations {
		abl = append(abl, experiments.AblationPreset(a, []uint64{1}, true))
	}
	ids := func(runs []experiments.RunSpec) string {
		var s []string
		for _, r := range runs {
			s = append(s, r.ID)
		}
		return strings.Join(s, ",")
	}
	for list, want := range map[string]string{
		"table9": "table3-mbv2-w0.35-shift-s1,table9-mbv2-w0.35-no-sharing-s1,table7-mbv2-w0.35-aug-with-shift-s1",
		"table10,table3-mbv2-w0.35-shift-s1,table8-mbv2-w0.35-kl-s1": "table3-mbv2-w0.35-shift-s1,table10-mbv2-w0.35-shift-hws-s1," +
			"table3-mbv2-w0.35-augshift-s1,table8-mbv2-w0.35-kl-s1",
		"table3-mbv2-w0.35-base-s1": "table3-mbv2-w0.35-base-s1",
	} {
		got, err := selectRuns(mini, abl, list)
		if err != nil || ids(got) != want {
			t.Errorf("--only %s: %v %s, want %s", list, err, ids(got), want)
		}
	}
	if _, err := selectRuns(experiments.PaperPreset([]uint64{1}), nil, "table8"); err == nil || !strings.Contains(err.Error(), "mini scale only") {
		t.Errorf("paper preset with table8: %v", err)
	}
	if _, err := selectRuns(mini, abl, "table11"); err == nil || !strings.Contains(err.Error(), "table7, table8, table9, table10") {
		t.Errorf("unknown table: %v", err)
	}
	dir := t.TempDir()
	code, _, e := run(t, "reproduce", "--preset", "paper", "--only", "table8", "--out", dir)
	if code == 0 || strings.Count(strings.TrimSpace(e), "\n") != 0 || !strings.Contains(e, "mini scale only") {
		t.Errorf("reproduce --preset paper --only table8: code %d %q", code, e)
	}
}

// TestReproduceReportsAblations: reproduce's report shows Table 8 once its own runs have finished, diverged
// rows as NaN, with its JSON file and chart; Tables 9 and 10, whose own runs have not, are left out.
func TestReproduceReportsAblations(t *testing.T) {
	dir := t.TempDir()
	putRuns(t, dir, experiments.MiniPreset([]uint64{1}, true), 0.5, nil)
	putRuns(t, dir, experiments.AblationPreset(experiments.Table8, []uint64{1}, true), 0.25, func(s experiments.RunSpec) bool {
		return s.Config.Sharing == "piecewise" || s.Config.Sharing == "linear"
	})
	code, o, e := run(t, "reproduce", "--quick", "--seeds", "1", "--out", dir, "--skip-train", "--no-png")
	if code != 0 {
		t.Fatalf("code %d:\n%s", code, e)
	}
	for _, want := range []string{"## Table 8: methods for weight tearing", "Runs finished: 6 of 6",
		"| ShiftAddNAS (piecewise + KL) | mbv2-w0.35 | augshift | mult (hybrid) | piecewise | fashion-mnist | 1 | NaN (diverged) | - | NaN (diverged) |",
		"| KL-loss only | mbv2-w0.35 | augshift | mult (hybrid) | kl | fashion-mnist | 1 | 25.00 | +0.00 | 69.84 | -1.99 |"} {
		if !strings.Contains(o, want) {
			t.Errorf("report lacks %q:\n%s", want, o)
		}
	}
	for _, not := range []string{"Table 7", "Table 9", "Table 10"} {
		if strings.Contains(o, "## "+not) {
			t.Errorf("report shows %s without its runs", not)
		}
	}
	var rows []experiments.AblationResult
	data, err := os.ReadFile(filepath.Join(dir, experiments.AblationJSON("table8")))
	if err != nil || json.Unmarshal(data, &rows) != nil || len(rows) != 5 || rows[0].Diverged != 1 {
		t.Errorf("table8.json: %v %+v", err, rows)
	}
	var report map[string]any
	data, _ = os.ReadFile(filepath.Join(dir, experiments.ReportJSON))
	if err := json.Unmarshal(data, &report); err != nil || report["ablations"] == nil {
		t.Errorf("report.json: %v", err)
	}
	page, _ := os.ReadFile(filepath.Join(dir, experiments.ReportHTML))
	if !strings.Contains(string(page), "Table 8: gain over ours (HWS)") {
		t.Errorf("report.html lacks the Table 8 chart")
	}
}
