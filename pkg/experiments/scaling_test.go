package experiments

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/pkg/train"
)

// TestScalingPreset: every cell trains the four rows per seed under the study's IDs; the corner's runs have the
// reference preset's configurations (the augmented ones at the study's α), and every other cell differs from the
// reference run of its row only in the setting its axis names (plus how often it evaluates, which changes no
// training) and α.
func TestScalingPreset(t *testing.T) {
	seeds := []uint64{1, 2}
	p := ScalingPreset(seeds, false)
	if want := len(ScalingCells) * len(ScalingRows) * len(seeds); len(p.Runs) != want || len(p.Pairs) != 2*len(ScalingCells) {
		t.Fatalf("%d runs, %d pairs; want %d and %d", len(p.Runs), len(p.Pairs), want, 2*len(ScalingCells))
	}
	ref := map[string]RunSpec{}
	for _, r := range ReferencePreset(seeds, false).Runs {
		ref[fmt.Sprintf("%s-s%d", strings.TrimPrefix(r.Table, "reference:"), r.Config.Seed)] = r
	}
	allowed := map[string][]string{
		AxisImages: {"train_limit"}, AxisEpochs: {"epochs"}, AxisRes: {"res"}, AxisMNIST: {"data", "train_limit"},
	}
	ids := map[string]bool{}
	for _, r := range p.Runs {
		if ids[r.ID] {
			t.Fatalf("run ID %s twice", r.ID)
		}
		ids[r.ID] = true
		parts := strings.Split(r.Table, ":")
		if len(parts) != 3 || parts[0] != "scaling" {
			t.Fatalf("table label %q", r.Table)
		}
		var cell ScalingCell
		for _, c := range ScalingCells {
			if c.Key == parts[1] {
				cell = c
			}
		}
		want := ref[fmt.Sprintf("%s-s%d", parts[2], r.Config.Seed)]
		if err := r.Config.Validate(); err != nil {
			t.Errorf("%s: %v", r.ID, err)
		}
		c := r.Config
		if c.Data != cell.Data || c.TrainLimit != cell.TrainLimit || c.Epochs != cell.Epochs || c.Res != cell.Res {
			t.Errorf("%s: data %s, %d images, %d epochs, res %d; cell %+v", r.ID, c.Data, c.TrainLimit, c.Epochs, c.Res, cell)
		}
		d := configDiff(c, want.Config)
		if !direct(c.Method) && c.Alpha != studyAlpha {
			t.Errorf("%s: alpha %g, the study's is %g", r.ID, c.Alpha, studyAlpha)
		}
		if r.ID == want.ID {
			t.Errorf("%s: the reference preset's ID; the study keeps its runs apart", r.ID)
		}
		if cell.Axis == AxisCorner {
			if direct(c.Method) && len(d) != 0 || !direct(c.Method) && (len(d) != 1 || !strings.HasPrefix(d[0], "alpha ")) {
				t.Errorf("corner run %s: want the reference run %s's settings (but alpha if augmented): %v", r.ID, want.ID, d)
			}
			continue
		}
		c.EvalEvery = 0
		for _, d := range configDiff(c, want.Config) {
			ok := !direct(c.Method) && strings.HasPrefix(d, "alpha ")
			for _, a := range allowed[cell.Axis] {
				ok = ok || strings.HasPrefix(d, a+" ")
			}
			if !ok {
				t.Errorf("%s differs from the reference run %s in %s, not on its axis %s", r.ID, want.ID, d, cell.Axis)
			}
		}
	}
	q := ScalingPreset([]uint64{1}, true)
	for _, r := range q.Runs {
		if err := r.Config.Validate(); err != nil || r.Config.TrainLimit > 200 {
			t.Errorf("quick %s: %d images, %v", r.ID, r.Config.TrainLimit, err)
		}
	}
}

// TestScalingResults: the table and chart pair each cell's augmented run with the direct one of the same seed,
// leave out unpaired seeds, and average the accuracies over the paired seeds only.
func TestScalingResults(t *testing.T) {
	p := ScalingPreset([]uint64{1, 2}, false)
	acc := map[string]float64{
		"scaling-mbv2-w0.35-corner-shift-s1": 0.80, "scaling-mbv2-w0.35-corner-augshift-hws-s1": 0.78,
		"scaling-mbv2-w0.35-corner-shift-s2": 0.82, "scaling-mbv2-w0.35-corner-augshift-hws-s2": 0.81,
		"scaling-mbv2-w0.35-n20k-shift-s1": 0.85, "scaling-mbv2-w0.35-n20k-augshift-hws-s1": 0.86,
		"scaling-mbv2-w0.35-n20k-shift-s2": 0.84, // its augmented run is unfinished: unpaired
	}
	var outs []*RunOutcome
	for _, r := range p.Runs {
		if a, ok := acc[r.ID]; ok {
			outs = append(outs, &RunOutcome{Spec: r, Result: &train.Result{Config: r.Config, FinalAcc: a, Seconds: 100 * a}})
		}
	}
	got := map[string]ScalingResult{}
	for _, r := range ScalingResults(p, outs) {
		got[r.Cell.Key+"/"+r.Augmented] = r
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	corner := got["corner/augshift-hws"]
	if corner.Seeds != 2 || !near(corner.DirectAcc, 81) || !near(corner.AugAcc, 79.5) || !near(corner.Gain.MeanPct, -1.5) {
		t.Errorf("corner: %+v", corner)
	}
	n20k := got["n20k/augshift-hws"]
	if n20k.Seeds != 1 || !near(n20k.DirectAcc, 85) || !near(n20k.AugAcc, 86) || !near(n20k.Gain.MeanPct, 1) ||
		n20k.DirectRuns != 2 || !near(n20k.DirectSec, 84.5) {
		t.Errorf("n20k: %+v", n20k)
	}
	if e45 := got["e45/netaug"]; e45.Seeds != 0 {
		t.Errorf("e45 netaug has no runs but %d seeds", e45.Seeds)
	}
	var b bytes.Buffer
	WriteScalingMarkdown(&b, p, outs)
	for _, want := range []string{"| n20k | images | fashion-mnist, 20k images, 15 epochs, 32x32 | augshift (hws) − shift | 1 | 85.00 | 86.00 | s1 +1.00 | +1.00 |",
		"| corner | corner |", "-1.50 ± 0.71"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	chart := ScalingChart(p, outs).Option()
	for _, want := range []string{"augshift (hws) − shift along images", "augshift (hws) − shift along epochs"} {
		if !strings.Contains(chart, want) {
			t.Errorf("chart lacks the series %q", want)
		}
	}
	if strings.Contains(chart, "netaug − base along") {
		t.Errorf("chart draws netaug, which has no paired run")
	}
}
