package experiments

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/pkg/train"
)

// TestTable11Preset: four rows per seed on the reference protocol, differing only in depth augmentation and
// block mutation, and two direct-shift controls, at α = 1; the shift control has the reference preset's shift
// configuration and the first row its augshift (HWS) one at α = 1, under the table's own IDs; the mutation control
// differs from the shift run in the mutation window alone; the cost line comes from sim.
func TestTable11Preset(t *testing.T) {
	p := Table11Preset([]uint64{1, 2}, false)
	if len(p.Runs) != 12 || len(p.Pairs) != 5 {
		t.Fatalf("%d runs, %d pairs; want 12 and 5", len(p.Runs), len(p.Pairs))
	}
	refRuns := map[string]RunSpec{}
	for _, r := range ReferencePreset([]uint64{1}, false).Runs {
		refRuns[r.Table] = r
	}
	// The table keeps its runs apart from the reference preset's: the shift control has its configuration, the
	// first row its augshift (HWS) configuration at the study's α.
	for i, want := range map[int]string{0: "reference:augshift-hws", 4: "reference:shift"} {
		got, ref := p.Runs[i], refRuns[want]
		d, wantDiff := strings.Join(configDiff(got.Config, ref.Config), ","), ""
		if i == 0 {
			wantDiff = fmt.Sprintf("alpha %g → %g", studyAlpha, train.DefaultAlpha)
		}
		if got.ID == ref.ID || d != wantDiff {
			t.Fatalf("row %s: %s differs from the reference run %s in %q; want %q under its own ID", got.Table, got.ID, ref.ID, d, wantDiff)
		}
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
