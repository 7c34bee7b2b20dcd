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

// TestReproduceReportsTable7: once 'experiment --preset table7' has finished runs in the results directory,
// reproduce's report (Markdown, HTML, JSON) includes Table 7; before, it does not. The runs are made up (no
// training): finished-run files as Execute writes them.
func TestReproduceReportsTable7(t *testing.T) {
	dir := t.TempDir()
	put := func(p experiments.Preset, acc float64) {
		for _, s := range p.Runs {
			o := experiments.RunOutcome{Spec: s, Result: &train.Result{Config: s.Config, Backend: "fake", FinalAcc: acc,
				History: []train.EpochRecord{{LossTarget: 1, TestAcc: acc}}}}
			data, _ := json.Marshal(o)
			if err := os.MkdirAll(filepath.Join(dir, "runs"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "runs", s.ID+".json"), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	put(experiments.MiniPreset([]uint64{1}, true), 0.5)
	code, o, e := run(t, "reproduce", "--quick", "--seeds", "1", "--out", dir, "--skip-train", "--no-png")
	if code != 0 || strings.Contains(o, "Table 7") {
		t.Fatalf("code %d, Table 7 shown without its runs:\n%s\n%s", code, o, e)
	}
	if _, err := os.Stat(filepath.Join(dir, experiments.Table7JSON)); err == nil {
		t.Errorf("%s written without Table 7 runs", experiments.Table7JSON)
	}

	// The ablation's own runs (and, again, the rows it shares with Table 3, which must count once).
	put(experiments.Table7Preset([]uint64{1}, true), 0.25)
	code, o, e = run(t, "reproduce", "--quick", "--seeds", "1", "--out", dir, "--skip-train", "--no-png")
	if code != 0 {
		t.Fatalf("code %d:\n%s", code, e)
	}
	for _, want := range []string{"## Table 7: HWS ablation", "| aug with shift | mbv2-w0.35 | augshift |", "Runs finished: 6 of 6",
		"| mbv2-w0.35 | augshift | fashion-mnist | 32 | 1 | 1 | 25.00 |"} {
		if !strings.Contains(o, want) {
			t.Errorf("report lacks %q:\n%s", want, o)
		}
	}
	var rows []experiments.Table7Row
	data, err := os.ReadFile(filepath.Join(dir, experiments.Table7JSON))
	if err != nil || json.Unmarshal(data, &rows) != nil || len(rows) != 5 || rows[2].Seeds != 1 {
		t.Errorf("%s: %v %+v", experiments.Table7JSON, err, rows)
	}
	page, _ := os.ReadFile(filepath.Join(dir, experiments.ReportHTML))
	if !strings.Contains(string(page), "Table 7: gain over direct training") {
		t.Errorf("report.html lacks the Table 7 chart")
	}
}
