package experiments

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/pkg/train"
)

// TestTable11Preset: four rows per seed on the reference protocol, differing only in depth augmentation and
// block mutation, and two direct-shift controls, at α = 1; the shift control is the reference preset's shift run,
// configuration and ID alike, and the first row its augshift (HWS) run at α = 1 under its own ID; the mutation control differs from the shift run in the
// mutation window alone; the cost line comes from sim.
func TestTable11Preset(t *testing.T) {
	p := Table11Preset([]uint64{1, 2}, false)
	if len(p.Runs) != 12 || len(p.Pairs) != 5 {
		t.Fatalf("%d runs, %d pairs; want 12 and 5", len(p.Runs), len(p.Pairs))
	}
	refRuns := map[string]RunSpec{}
	for _, r := range ReferencePreset([]uint64{1}, false).Runs {
		refRuns[r.Table] = r
	}
	if got, ref := p.Runs[4], refRuns["reference:shift"]; got.ID != ref.ID || len(configDiff(got.Config, ref.Config)) != 0 {
		t.Fatalf("row %s: %s (%v) is not the reference run %s", got.Table, got.ID, configDiff(got.Config, ref.Config), ref.ID)
	}
	// The table is at α = 1, the reference preset at the default: its first row is the reference run but for α.
	if got, ref := p.Runs[0], refRuns["reference:augshift-hws"]; got.ID == ref.ID || got.Config.Alpha != studyAlpha ||
		strings.Join(configDiff(got.Config, ref.Config), ",") != fmt.Sprintf("alpha %g → %g", studyAlpha, train.DefaultAlpha) {
		t.Fatalf("row %s: %s (%v) should be the reference run %s at alpha 1, under its own ID", got.Table, got.ID, configDiff(got.Config, ref.Config), ref.ID)
	}
	if ctl := p.Runs[5]; ctl.Table != "table11:shift-mutation" || ctl.Config.Validate() != nil ||
		len(configDiff(ctl.Config, p.Runs[4].Config)) != 2 || ctl.Config.MutationStart != 0.1 || ctl.Config.MutationStop != 0.6 {
		t.Fatalf("mutation control %s: %+v differs from the shift run in %v", ctl.Table, ctl.Config, configDiff(ctl.Config, p.Runs[4].Config))
	}
	for i, r := range p.Runs[:4] {
		row := Table11Rows[i]
		c := r.Config
		if c.DepthAug != row.DepthAug || c.MutationStart != row.MutStart || c.MutationStop != row.MutStop || c.Method != "augshift" || c.Sharing != "hws" {
			t.Errorf("row %s: config %+v", row.Key, c)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("row %s: %v", row.Key, err)
		}
		if d := configDiff(c, p.Runs[0].Config); i > 0 && len(d) == 0 {
			t.Errorf("row %s: same configuration as width-expand", row.Key)
		}
	}
	var b bytes.Buffer
	if err := WriteTable11Cost(&b, 32); err != nil || !strings.Contains(b.String(), "mJ") || !strings.Contains(b.String(), "76.35") {
		t.Fatalf("cost line %q, error %v", b.String(), err)
	}
}
