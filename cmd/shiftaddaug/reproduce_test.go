package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/datasets"
	"github.com/shiftaddaug/shiftaddaug/pkg/experiments"
	"github.com/shiftaddaug/shiftaddaug/pkg/viz/viztest"
)

// TestReproduceQuickOneRun is the main job end to end at its smallest: the quick mini preset with one seed,
// of which one run (the cheapest, base) is trained; the report covers the whole preset. It checks the files,
// the report's tables, that the charts of report.html draw in headless Chromium, the PNG, and that a second
// invocation keeps the finished run instead of training it again.
func TestReproduceQuickOneRun(t *testing.T) {
	viztest.Chromium(t)
	dir := t.TempDir()
	const id = "table3-mbv2-w0.35-base-s1"
	code, o, e := run(t, "reproduce", "--quick", "--seeds", "1", "--out", dir, "--only", id)
	if code != 0 {
		t.Fatalf("code %d, stderr:\n%s", code, e)
	}
	for _, want := range []string{"[1/1] " + id + ": training", "[1/1] " + id + ": test accuracy", "1 to train"} {
		if !strings.Contains(e, want) {
			t.Errorf("progress lacks %q:\n%s", want, e)
		}
	}
	for _, want := range []string{"## Table 1", "| mbv2-tiny | shift | 0.35 | 0.00 | 27.31 | 27.31 | 0.697 | 0.228 | 0.697 | 0.228 |",
		"| mbv2-w0.35 | base | fashion-mnist | 32 | 1 | 1 |", "Not finished yet (5)", "Runs finished: 1 of 6"} {
		if !strings.Contains(o, want) {
			t.Errorf("printed report lacks %q:\n%s", want, o)
		}
	}
	for _, name := range []string{"runs/" + id + ".json", experiments.ReportMarkdown, experiments.ReportHTML, experiments.ReportJSON,
		experiments.Table1JSON, experiments.Table3HardwareJSON, experiments.Table3HardwareCSV, experiments.Table3AccuracyJSON,
		experiments.Fig5JSON, experiments.LayersJSON, experiments.CurvesJSON, experiments.EnergyPNG} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("missing %s: %v", name, err)
		}
	}
	var acc []experiments.AccuracyRow
	data, _ := os.ReadFile(filepath.Join(dir, experiments.Table3AccuracyJSON))
	if err := json.Unmarshal(data, &acc); err != nil || len(acc) != 1 || acc[0].Method != "base" || acc[0].Seeds != 1 {
		t.Errorf("table3_accuracy.json: %v %+v", err, acc)
	}
	png, _ := os.ReadFile(filepath.Join(dir, experiments.EnergyPNG))
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("table3_energy.png is not a PNG")
	}
	md, _ := os.ReadFile(filepath.Join(dir, experiments.ReportMarkdown))
	if string(md) != o {
		t.Errorf("report.md differs from the printed report")
	}

	// Table 3 energy, latency, breakdown; three per-layer breakdowns; Fig. 5; loss and accuracy curves. The two
	// curve charts of a one-epoch run have one point per series (a marker and the legend), too few coloured
	// pixels for CheckDrawn's threshold: for them, check the instance, its single point and a painted canvas.
	res := viztest.ProbeFile(t, filepath.Join(dir, experiments.ReportHTML))
	if len(res.Charts) != 9 {
		t.Fatalf("%d charts in report.html, want 9", len(res.Charts))
	}
	want := map[string]string{}
	curves := 0
	for _, c := range res.Charts {
		if c.Instance && c.Series == 1 && c.Points == 1 {
			curves++
			if c.Painted < c.W*c.H/50 || c.Colored < 50 {
				t.Errorf("one-epoch curve chart %s not drawn: %+v", c.ID, c)
			}
			continue
		}
		want[c.ID] = "chart " + c.ID
	}
	if curves != 2 {
		t.Errorf("%d one-point curve charts, want 2 (loss and accuracy of the base run)", curves)
	}
	viztest.CheckDrawn(t, res, want)

	// Again, without --only: the finished run is kept; --skip-train trains nothing else.
	code, _, e = run(t, "reproduce", "--quick", "--seeds", "1", "--out", dir, "--skip-train", "--no-png")
	if code != 0 || strings.Contains(e, "training (") || !strings.Contains(e, "1 of 6 runs finished") {
		t.Errorf("second invocation: code %d, stderr:\n%s", code, e)
	}
	code, _, e = run(t, "reproduce", "--quick", "--seeds", "1", "--out", dir, "--only", id, "--no-png")
	if code != 0 || strings.Contains(e, "training (") || !strings.Contains(e, id+": finished earlier, kept") {
		t.Errorf("rerun of a finished run: code %d, stderr:\n%s", code, e)
	}
}

func TestReproduceBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, bad := range [][]string{
		{"reproduce", "--preset", "huge", "--out", dir},
		{"reproduce", "--seeds", "1,x", "--out", dir},
		{"reproduce", "--preset", "paper", "--quick", "--out", dir},
		{"reproduce", "--quick", "--only", "table3-nope-s1", "--out", dir},
		{"reproduce", "--bogus"},
		{"reproduce", "extra"},
	} {
		code, _, e := run(t, bad...)
		if code == 0 || e == "" || strings.Count(strings.TrimSpace(e), "\n") != 0 {
			t.Errorf("%v: want a one-line error and non-zero exit, got %d %q", bad, code, e)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("bad invocations wrote %d entries into the results directory", len(entries))
	}
	if code, o, _ := run(t, "reproduce", "--help"); code != 0 || !strings.Contains(o, "--skip-train") {
		t.Errorf("--help: code %d output %q", code, o)
	}
}

// TestReproducePaperWithoutData: the paper preset needs CIFAR-100; where it is not installed (no network
// here) the job stops at once with the dataset's one-line error and writes nothing.
func TestReproducePaperWithoutData(t *testing.T) {
	if a, err := datasets.Available("cifar100", datasets.Options{}); err == nil && a.Found {
		t.Skip("CIFAR-100 is installed here; the missing-data path cannot be checked")
	}
	dir := filepath.Join(t.TempDir(), "results")
	code, o, e := run(t, "reproduce", "--preset", "paper", "--seeds", "1", "--out", dir)
	if code == 0 || o != "" || strings.Count(strings.TrimSpace(e), "\n") != 0 ||
		!strings.Contains(e, "cifar100") || !strings.Contains(e, "data fetch cifar100") {
		t.Errorf("code %d, stdout %q, stderr %q", code, o, e)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("the failed job created %s", dir)
	}
}
