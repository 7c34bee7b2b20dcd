package experiments

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/shiftaddaug/shiftaddaug/pkg/train"
)

// ReferenceRow is one row of the reference protocol: Key names its runs (ID "reference-<model>-<key>-s<seed>",
// table label "reference:<key>"), Method and Sharing are its training settings (see train.Config).
type ReferenceRow struct {
	Key, Method, Sharing string
}

// ReferenceRows are the rows of ReferencePreset: the six methods, with ShiftAddAug's shift augmentation both with
// heterogeneous weight sharing (the paper's method) and with plain sharing.
var ReferenceRows = []ReferenceRow{
	{"base", "base", ""}, {"shift", "shift", ""}, {"netaug", "netaug", ""},
	{"augshift-hws", "augshift", "hws"}, {"augshift-plain", "augshift", "plain"},
	{"add", "add", ""}, {"augadd", "augadd", ""},
}

// ReferencePairs are the comparisons the reference protocol is about, seed by seed.
var ReferencePairs = []Pair{
	{Name: "augshift (hws) − shift", Row: RowKey{"reference:augshift-hws", "augshift"}, Ref: RowKey{"reference:shift", "shift"}},
	{Name: "netaug − base", Row: RowKey{"reference:netaug", "netaug"}, Ref: RowKey{"reference:base", "base"}},
	{Name: "augadd − add", Row: RowKey{"reference:augadd", "augadd"}, Ref: RowKey{"reference:add", "add"}},
}

// Table3Pairs are Table 3's augmented methods against their direct counterparts, seed by seed.
var Table3Pairs = []Pair{
	{Name: "netaug − base", Row: RowKey{"table3", "netaug"}, Ref: RowKey{"table3", "base"}},
	{Name: "augshift − shift", Row: RowKey{"table3", "augshift"}, Ref: RowKey{"table3", "shift"}},
	{Name: "augadd − add", Row: RowKey{"table3", "augadd"}, Ref: RowKey{"table3", "add"}},
}

// referenceBase is the reference protocol's training configuration: MobileNetV2-w0.35 on a class-balanced
// 6,000-image subset of Fashion-MNIST (600 per class, subset seed 0: the same images for every method and seed),
// the full 10,000-image test set, 32x32 (28x28 zero-padded), pad-and-crop augmentation (DeepShift's and
// AdderNet's CIFAR recipe), batch 128, 15 epochs (1 warm-up), lr 0.025 (NetAug's for batch 128), batch norm
// recalibrated on 2,048 training images. quick shrinks it for CI and notebooks.
func referenceBase(quick bool) (train.Config, string) {
	c := train.DefaultConfig("mbv2-w0.35", "base")
	c.Data, c.Res, c.Batch, c.Epochs, c.WarmupEpochs, c.LR = "fashion-mnist", 32, 128, 15, 1, 0.025
	c.TrainLimit, c.Balanced, c.SubsetSeed, c.TestLimit, c.BNCalib = 6000, true, 0, 0, 2048
	c.Augment = "padcrop"
	desc := "mbv2-w0.35 on a class-balanced Fashion-MNIST subset (6,000 train images, 600 per class, subset seed 0; the full 10,000 test images), 32x32, pad-and-crop augmentation (±2 px, flip), batch 128, 15 epochs (1 warm-up), lr 0.025, BN recalibrated on 2,048 training images"
	if quick {
		c.TrainLimit, c.TestLimit, c.BNCalib, c.Batch, c.Epochs, c.WarmupEpochs = 200, 200, 64, 32, 1, 0
		c.LR = train.NetAugLR(c.Model, c.Batch)
		desc = "quick check of the reference protocol: mbv2-w0.35, Fashion-MNIST 200 balanced train / 200 test images, pad-and-crop, 1 epoch"
	}
	return c, desc
}

// studyAlpha is the augmented loss's weight of the studies made before the default became train.DefaultAlpha
// (the scaling study, Tables 5 and 11): their stored augmented runs are at NetAug's α = 1, so their presets keep
// it; at another α they would be new studies. Their runs on the reference protocol's own settings are stored
// under the study's IDs, apart from the reference preset's, which is rerun whenever the project's code changes.
const studyAlpha = 1.0

// ReferencePreset is a reference protocol that others can run and compare with: ReferenceRows, each once per
// seed, at referenceBase's scale. Its summary shows the paired differences of ReferencePairs.
func ReferencePreset(seeds []uint64, quick bool) Preset {
	base, desc := referenceBase(quick)
	p := Preset{Name: "reference", Description: desc, Pairs: ReferencePairs}
	for _, seed := range seeds {
		for _, r := range ReferenceRows {
			c := base
			c.Method, c.Sharing, c.Seed = r.Method, r.Sharing, seed
			p.Runs = append(p.Runs, RunSpec{ID: fmt.Sprintf("reference-%s-%s-s%d", c.Model, r.Key, seed),
				Table: "reference:" + r.Key, Config: c})
		}
	}
	return p
}

// RowKey names a row of a preset as SummarizePreset groups its runs (per model): a table label and a method.
type RowKey struct{ Table, Method string }

// Pair is a comparison of two rows of a preset, seed by seed: Row's accuracy minus Ref's.
type Pair struct {
	Name     string // e.g. "netaug − base"
	Row, Ref RowKey
}

// PairedDifference is a Pair's result for one model: the differences of final target test accuracy between the
// two rows' runs of the same seed.
type PairedDifference struct {
	Name  string `json:"name"`
	Model string `json:"model"`
	Row   RowKey `json:"row"`
	Ref   RowKey `json:"ref"`
	// Seeds are the seeds at which both rows have a finished run that did not diverge, in the preset's order;
	// DiffPct the row's accuracy minus the reference's at each (percentage points).
	Seeds   []uint64  `json:"seeds"`
	DiffPct []float64 `json:"diff_pct"`
	// Unpaired counts the preset's seeds left out: a run of either row unfinished or diverged.
	Unpaired int `json:"unpaired,omitempty"`
	// MeanPct and StdPct are the mean and sample std (0 for one seed) of DiffPct; Better counts its positive values.
	MeanPct float64 `json:"mean_pct"`
	StdPct  float64 `json:"std_pct"`
	Better  int     `json:"better"`
}

// PairedDifferences computes the preset's Pairs from finished runs, pair by pair and, within a pair, model by
// model in the preset's order. A seed counts only where both runs finished without diverging.
func PairedDifferences(p Preset, outs []*RunOutcome) []PairedDifference {
	byID := map[string]*RunOutcome{}
	for _, o := range outs {
		if o != nil && o.Result != nil {
			byID[o.Spec.ID] = o
		}
	}
	type key struct {
		row   RowKey
		model string
		seed  uint64
	}
	ids := map[key]string{}
	var models []string
	var seeds []uint64
	seenModel, seenSeed := map[string]bool{}, map[uint64]bool{}
	for _, s := range p.Runs {
		c := s.Config
		ids[key{RowKey{s.Table, c.Method}, c.Model, c.Seed}] = s.ID
		if !seenModel[c.Model] {
			seenModel[c.Model] = true
			models = append(models, c.Model)
		}
		if !seenSeed[c.Seed] {
			seenSeed[c.Seed] = true
			seeds = append(seeds, c.Seed)
		}
	}
	var diffs []PairedDifference
	for _, pr := range p.Pairs {
		for _, m := range models {
			d := PairedDifference{Name: pr.Name, Model: m, Row: pr.Row, Ref: pr.Ref}
			planned := false
			for _, seed := range seeds {
				ia, okA := ids[key{pr.Row, m, seed}]
				ib, okB := ids[key{pr.Ref, m, seed}]
				if !okA || !okB {
					continue
				}
				planned = true
				a, b := byID[ia], byID[ib]
				if a == nil || b == nil || a.IsDiverged() || b.IsDiverged() {
					d.Unpaired++
					continue
				}
				v := 100 * (a.Result.FinalAcc - b.Result.FinalAcc)
				d.Seeds, d.DiffPct = append(d.Seeds, seed), append(d.DiffPct, v)
				if v > 0 {
					d.Better++
				}
			}
			if !planned {
				continue
			}
			for _, v := range d.DiffPct {
				d.MeanPct += v / float64(len(d.DiffPct))
			}
			for _, v := range d.DiffPct {
				d.StdPct += (v - d.MeanPct) * (v - d.MeanPct)
			}
			if n := len(d.DiffPct); n > 1 {
				d.StdPct = math.Sqrt(d.StdPct / float64(n-1))
			}
			diffs = append(diffs, d)
		}
	}
	return diffs
}

// WritePairedMarkdown writes paired differences as a Markdown table: each seed's difference, their mean ± sample
// std, and at how many seeds the row was the better one.
func WritePairedMarkdown(w io.Writer, diffs []PairedDifference) {
	if len(diffs) == 0 {
		return
	}
	fmt.Fprintln(w, "Paired differences: final target test accuracy of the first row minus the second's, seed by seed "+
		"(percentage points), over the seeds at which both runs finished without diverging.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| comparison | model | seeds | per seed | mean ± std | better in | unpaired |")
	fmt.Fprintln(w, "|---|---|---:|---|---:|---:|---:|")
	for _, d := range diffs {
		per, mean, better := "-", "not run", "-"
		if n := len(d.DiffPct); n > 0 {
			var parts []string
			for i, v := range d.DiffPct {
				parts = append(parts, fmt.Sprintf("s%d %+.2f", d.Seeds[i], v))
			}
			per = strings.Join(parts, ", ")
			mean = fmt.Sprintf("%+.2f", d.MeanPct)
			if n > 1 {
				mean += fmt.Sprintf(" ± %.2f", d.StdPct)
			}
			better = fmt.Sprintf("%d of %d", d.Better, n)
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %d |\n", d.Name, d.Model, len(d.DiffPct), per, mean, better, d.Unpaired)
	}
}
