package experiments

import (
	"math"
	"strings"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/pkg/train"
)

// TestTable5Preset: both backbones, the six methods, each seed; every run a segmentation run on the derived
// task (never VOC), augshift with HWS.
func TestTable5Preset(t *testing.T) {
	p, err := PresetByName("table5", []uint64{1, 2}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Runs) != 2*6*2 {
		t.Fatalf("%d runs, want 24", len(p.Runs))
	}
	seen := map[string]bool{}
	for _, r := range p.Runs {
		c := r.Config
		if !c.Segmentation() || !strings.HasPrefix(c.Data, "fashion-seg") || c.Validate() != nil {
			t.Errorf("%s: task %q data %q (%v)", r.ID, c.Task, c.Data, c.Validate())
		}
		if c.Method == "augshift" && c.Sharing != "hws" {
			t.Errorf("%s: augshift with sharing %q", r.ID, c.Sharing)
		}
		if seen[r.ID] {
			t.Errorf("run %s twice", r.ID)
		}
		seen[r.ID] = true
	}
	for _, m := range Table5Models {
		for _, meth := range Table3Methods {
			if !seen[Table5RunID(m, meth, 2)] {
				t.Errorf("no run of %s %s at seed 2", m, meth)
			}
		}
	}
	if !strings.Contains(p.Description, "not VOC") {
		t.Errorf("description does not say the task is derived: %s", p.Description)
	}
}

// TestTable5Rows: rows average mIoU (not pixel accuracy) over seeds, pair direct and augmented runs by seed,
// leave diverged runs out, and carry the published values.
func TestTable5Rows(t *testing.T) {
	p := Table5Preset([]uint64{1, 2}, true)
	res := func(miou, acc float64) *train.Result { return &train.Result{FinalMIoU: miou, FinalAcc: acc} }
	var outs []*RunOutcome
	for _, s := range p.Runs {
		if s.Config.Model != "mbv2-w0.35" {
			continue
		}
		var r *train.Result
		switch s.Config.Method {
		case "shift":
			r = res(0.30+0.02*float64(s.Config.Seed), 0.9)
		case "augshift":
			r = res(0.36+0.01*float64(s.Config.Seed), 0.8)
		case "add":
			if s.Config.Seed == 2 {
				continue // not run
			}
			r = res(0.2, 0.7)
		default:
			r = res(0.5, 0.5)
		}
		outs = append(outs, &RunOutcome{Spec: s, Result: r})
	}
	rows := Table5Rows(p, outs)
	if len(rows) != 6 {
		t.Fatalf("%d rows", len(rows))
	}
	sh := rows[1]
	if sh.Direct != "shift" || math.Abs(sh.DirectMean-33) > 1e-9 || math.Abs(sh.AugMean-37.5) > 1e-9 || math.Abs(sh.Gain-4.5) > 1e-9 || sh.Paired != 2 {
		t.Errorf("shift row %+v", sh)
	}
	if math.Abs(sh.DirectPixAcc-90) > 1e-9 {
		t.Errorf("pixel accuracy %v, want 90", sh.DirectPixAcc)
	}
	if ad := rows[2]; ad.DirectSeeds != 1 || ad.Paired != 1 {
		t.Errorf("add row %+v", ad)
	}
	if px := rows[3]; px.DirectSeeds != 0 || !math.IsNaN(px.Gain) {
		t.Errorf("proxyless row without runs %+v", px)
	}
	var md strings.Builder
	if err := WriteTable5Markdown(&md, p, outs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"33.00 ± 1.41", "+4.50 (2)", "88.01 / 94.52", "not run"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, md.String())
		}
	}
	if PaperTable5("VOC", "proxyless-w0.35", "augshift") != 68.98 || !math.IsNaN(PaperTable5("VOC", "mbv2-w0.35", "add")) {
		t.Error("published values")
	}
}
