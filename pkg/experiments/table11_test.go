package experiments

import (
	"bytes"
	"strings"
	"testing"
)

// TestTable11Preset: four rows per seed on the reference protocol, differing only in depth augmentation and
// block mutation; the first row is the reference preset's augshift (HWS) run, configuration and ID alike; the cost
// line comes from sim.
func TestTable11Preset(t *testing.T) {
	p := Table11Preset([]uint64{1, 2}, false)
	if len(p.Runs) != 8 || len(p.Pairs) != 3 {
		t.Fatalf("%d runs, %d pairs; want 8 and 3", len(p.Runs), len(p.Pairs))
	}
	ref := ReferencePreset([]uint64{1}, false)
	var refRun RunSpec
	for _, r := range ref.Runs {
		if r.Table == "reference:augshift-hws" {
			refRun = r
		}
	}
	if first := p.Runs[0]; first.ID != refRun.ID || len(configDiff(first.Config, refRun.Config)) != 0 {
		t.Fatalf("width-expand row %s (%v) is not the reference augshift-hws run %s", first.ID, configDiff(first.Config, refRun.Config), refRun.ID)
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
