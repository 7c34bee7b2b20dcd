package experiments

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/pkg/train"
)

// TestReferencePresetProtocol: the reference preset declares exactly the protocol: mbv2-w0.35, Fashion-MNIST,
// a balanced 6,000-image training subset (subset seed 0), the full test set, 32x32, batch 128, 15 epochs, lr
// 0.025, 1 warm-up epoch, BN recalibration on 2,048 images, pad-and-crop; seven rows per seed; NetAug's recipe
// otherwise.
func TestReferencePresetProtocol(t *testing.T) {
	p, err := PresetByName("reference", []uint64{1, 2}, false)
	if err != nil {
		t.Fatal(err)
	}
	rows := []struct{ key, method, sharing string }{{"base", "base", ""}, {"shift", "shift", ""}, {"netaug", "netaug", ""},
		{"augshift-hws", "augshift", "hws"}, {"augshift-plain", "augshift", "plain"}, {"add", "add", ""}, {"augadd", "augadd", ""}}
	if p.Name != "reference" || len(p.Runs) != 2*len(rows) {
		t.Fatalf("preset %q with %d runs", p.Name, len(p.Runs))
	}
	i := 0
	for _, seed := range []uint64{1, 2} {
		for _, r := range rows {
			want := train.DefaultConfig("mbv2-w0.35", r.method)
			want.Data, want.TrainLimit, want.Balanced, want.SubsetSeed, want.TestLimit = "fashion-mnist", 6000, true, 0, 0
			want.Res, want.Batch, want.Epochs, want.LR, want.WarmupEpochs, want.BNCalib = 32, 128, 15, 0.025, 1, 2048
			want.Augment, want.Sharing, want.Seed = "padcrop", r.sharing, seed
			s := p.Runs[i]
			i++
			if !reflect.DeepEqual(s.Config, want) {
				t.Errorf("%s: config\n%+v\nwant\n%+v", s.ID, s.Config, want)
			}
			if id := fmt.Sprintf("reference-mbv2-w0.35-%s-s%d", r.key, seed); s.ID != id || s.Table != "reference:"+r.key {
				t.Errorf("run %s (table %s), want %s", s.ID, s.Table, id)
			}
			if err := s.Config.Validate(); err != nil {
				t.Errorf("%s: %v", s.ID, err)
			}
		}
	}
	// The default recipe is NetAug's (momentum 0.9, wd 4e-5, label smoothing 0.1, warm-up from 0.1 lr) but for α.
	if c := p.Runs[0].Config; c.Momentum != 0.9 || c.WeightDecay != 4e-5 || c.LabelSmoothing != 0.1 || c.WarmupStartFactor != 0.1 || c.Alpha != train.DefaultAlpha {
		t.Errorf("recipe %+v", c)
	}
	names := []string{}
	for _, pr := range p.Pairs {
		names = append(names, pr.Name+": "+pr.Row.Table+" − "+pr.Ref.Table)
	}
	if want := []string{"augshift (hws) − shift: reference:augshift-hws − reference:shift", "netaug − base: reference:netaug − reference:base",
		"augadd − add: reference:augadd − reference:add"}; !reflect.DeepEqual(names, want) {
		t.Errorf("pairs %v, want %v", names, want)
	}
	q := ReferencePreset([]uint64{1}, true)
	if c := q.Runs[0].Config; c.Epochs != 1 || !c.Balanced || c.Augment != "padcrop" || c.TrainLimit%10 != 0 || c.Validate() != nil {
		t.Errorf("quick: %+v", c)
	}
}

// TestPairedDifferences: paired differences per seed from stored results (written and read back as Execute and
// LoadOutcomes do; no training): a diverged or missing run leaves its seed unpaired.
func TestPairedDifferences(t *testing.T) {
	p := ReferencePreset([]uint64{1, 2, 3}, true)
	acc := map[string]float64{"base": 0.80, "shift": 0.78, "netaug": 0.81, "augshift-hws": 0.79, "augshift-plain": 0.775, "add": 0.70, "augadd": 0.72}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "runs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Runs {
		key := strings.TrimPrefix(s.Table, "reference:")
		a := acc[key] + 0.01*float64(s.Config.Seed)
		if key == "augshift-hws" && s.Config.Seed == 2 {
			a -= 0.03 // worse than shift at seed 2
		}
		if key == "augadd" && s.Config.Seed == 3 {
			continue // not finished
		}
		o := RunOutcome{Spec: s, Result: &train.Result{Config: s.Config, FinalAcc: a, Seconds: 1}}
		if key == "add" && s.Config.Seed == 2 {
			o.Result.FinalAcc, o.Diverged = 0, &Divergence{Epoch: 1, Reason: "loss NaN in epoch 1"}
		}
		data, _ := json.Marshal(o)
		if err := os.WriteFile(filepath.Join(dir, "runs", s.ID+".json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outs, err := LoadOutcomes(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := PairedDifferences(p, outs)
	if len(d) != 3 {
		t.Fatalf("%d paired differences, want 3", len(d))
	}
	near := func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
	hws, na, ad := d[0], d[1], d[2]
	if hws.Name != "augshift (hws) − shift" || !reflect.DeepEqual(hws.Seeds, []uint64{1, 2, 3}) || !near(hws.DiffPct[0], 1) ||
		!near(hws.DiffPct[1], -2) || !near(hws.DiffPct[2], 1) || !near(hws.MeanPct, 0) || !near(hws.StdPct, 1.7320508075688772) ||
		hws.Better != 2 || hws.Unpaired != 0 {
		t.Errorf("augshift (hws) − shift: %+v", hws)
	}
	if na.Name != "netaug − base" || len(na.Seeds) != 3 || !near(na.MeanPct, 1) || !near(na.StdPct, 0) || na.Better != 3 {
		t.Errorf("netaug − base: %+v", na)
	}
	// add diverged at seed 2, augadd did not finish at seed 3: only seed 1 pairs.
	if ad.Name != "augadd − add" || !reflect.DeepEqual(ad.Seeds, []uint64{1}) || !near(ad.DiffPct[0], 2) || ad.Unpaired != 2 {
		t.Errorf("augadd − add: %+v", ad)
	}
	var b strings.Builder
	WritePairedMarkdown(&b, d)
	md := b.String()
	for _, want := range []string{"| comparison | model | seeds | per seed | mean ± std | better in | unpaired |",
		"| augshift (hws) − shift | mbv2-w0.35 | 3 | s1 +1.00, s2 -2.00, s3 +1.00 | +0.00 ± 1.73 | 2 of 3 | 0 |",
		"| netaug − base | mbv2-w0.35 | 3 | s1 +1.00, s2 +1.00, s3 +1.00 | +1.00 ± 0.00 | 3 of 3 | 0 |",
		"| augadd − add | mbv2-w0.35 | 1 | s1 +2.00 | +2.00 | 1 of 1 | 2 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// TestReportPairedTable3: the report of the mini preset shows Table 3's paired differences per seed.
func TestReportPairedTable3(t *testing.T) {
	seeds := []uint64{1, 2}
	p := MiniPreset(seeds, true)
	r, err := BuildReport(ReportOptions{Preset: &p, Outcomes: fakeOutcomes(seeds)})
	if err != nil {
		t.Fatal(err)
	}
	// fakeOutcomes: accuracy 0.60 + 0.01*method index + 0.02*seed, so each augmented method is its direct one
	// plus one point (netaug − base) at every seed.
	if len(r.Paired) != 3 || r.Paired[0].Name != "netaug − base" || len(r.Paired[0].DiffPct) != 2 || r.Paired[0].Better != 2 {
		t.Fatalf("paired %+v", r.Paired)
	}
	md := r.Markdown()
	if !strings.Contains(md, "| netaug − base | mbv2-w0.35 | 2 | s1 +1.00, s2 +1.00 | +1.00 ± 0.00 | 2 of 2 | 0 |") {
		t.Errorf("report lacks the paired table:\n%s", md)
	}
}

// TestStoreKeysAugmentAndSubset: a result stored before Augment, Balanced and SubsetSeed existed (its JSON has
// none of them) is still the default run's and reused; a stored result that differs in any of them is refused,
// naming it. Nothing is trained.
func TestStoreKeysAugmentAndSubset(t *testing.T) {
	dir := t.TempDir()
	spec := MiniPreset([]uint64{1}, true).Runs[0]
	path := filepath.Join(dir, "runs", spec.ID+".json")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	put := func(c train.Config, isDefault bool) {
		o := RunOutcome{Spec: spec, Result: &train.Result{Config: c, FinalAcc: 0.5}}
		o.Spec.Config = c
		data, _ := json.Marshal(o)
		for _, k := range []string{`"augment"`, `"balanced"`, `"subset_seed"`} {
			if isDefault && strings.Contains(string(data), k) {
				t.Fatalf("the default configuration serialises %s", k)
			}
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put(spec.Config, true)
	if o, err := Execute(nil, spec, dir, nil); err != nil || o.Result.FinalAcc != 0.5 {
		t.Fatalf("default run not reused: %v", err)
	}
	for _, tc := range []struct {
		edit func(*train.Config)
		want string
	}{
		{func(c *train.Config) { c.Augment = "padcrop" }, "augment padcrop → "},
		{func(c *train.Config) { c.Balanced = true }, "balanced true → "},
		{func(c *train.Config) { c.Balanced, c.SubsetSeed = true, 2 }, "subset_seed 2 → "},
	} {
		c := spec.Config
		tc.edit(&c)
		put(c, false)
		if _, err := Execute(nil, spec, dir, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("stored %+v: err %v, want one naming %q", c, err, tc.want)
		}
	}
}
