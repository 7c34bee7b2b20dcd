package experiments

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/backends"

	"github.com/shiftaddaug/shiftaddaug/internal/atomicio"
	"github.com/shiftaddaug/shiftaddaug/pkg/train"
)

// RunSpec is one training run of an accuracy table: an ID (its directory name) and its configuration.
type RunSpec struct {
	ID     string       `json:"id"`
	Table  string       `json:"table"` // e.g. "table3", "table7"
	Config train.Config `json:"config"`
}

// Preset is a named protocol: which runs to do, at which scale.
type Preset struct {
	Name        string
	Description string
	Runs        []RunSpec
}

// Table3Methods are the six training methods of Table 3's accuracy columns, direct and augmented.
var Table3Methods = []string{"base", "netaug", "shift", "augshift", "add", "augadd"}

// miniBase is the training configuration of the mini protocol: MobileNetV2-w0.35 on a seeded subset of
// Fashion-MNIST (28x28 grey, zero-padded to 32x32 and repeated to 3 channels), NetAug's recipe at a scale a
// 2-core CPU finishes in about an hour for the whole table. quick shrinks it for CI and notebooks.
func miniBase(quick bool) (train.Config, string) {
	c := train.DefaultConfig("mbv2-w0.35", "base")
	c.Data, c.Res, c.Batch = "fashion-mnist", 32, 32
	c.TrainLimit, c.TestLimit, c.BNCalib = 1024, 1000, 512
	// NetAug's learning rate for the batch (0.025 per 128 images): the 8x higher rate of earlier versions of this
	// preset made the augmented runs diverge (their two losses both move the shared weights).
	c.Epochs, c.WarmupEpochs, c.LR = 4, 1, train.NetAugLR(c.Model, c.Batch)
	c.StopWidthAugEpochs = 1
	desc := "mbv2-w0.35 on a seeded Fashion-MNIST subset (1,024 train / 1,000 test images, padded to 32x32), batch 32, 4 epochs (1 warm-up; width augmentation off in the last), lr 0.00625 (NetAug's 0.025 per 128 images), BN recalibrated on 512 training images"
	if quick {
		c.TrainLimit, c.TestLimit, c.BNCalib, c.Epochs, c.WarmupEpochs, c.StopWidthAugEpochs = 128, 128, 64, 1, 0, 0
		desc = "quick check: mbv2-w0.35, Fashion-MNIST 128 train / 128 test images, 1 epoch"
	}
	return c, desc
}

// MiniPreset is Table 3's accuracy columns at the mini scale: the six methods, each with the given seeds. The
// augmented multiplication-free methods use heterogeneous weight sharing, as the paper's ShiftAddAug does.
func MiniPreset(seeds []uint64, quick bool) Preset {
	base, desc := miniBase(quick)
	p := Preset{Name: "mini", Description: desc}
	for _, seed := range seeds {
		for _, m := range Table3Methods {
			c := base
			c.Method, c.Seed = m, seed
			if m == "augshift" || m == "augadd" {
				c.Sharing = "hws"
			}
			p.Runs = append(p.Runs, RunSpec{ID: fmt.Sprintf("table3-%s-%s-s%d", c.Model, m, seed), Table: "table3", Config: c})
		}
	}
	return p
}

// Table7Rows are the rows of the paper's Table 7 (does hybrid computing need HWS?), as training settings. The
// multiplicative baseline is Table 3's base run.
var Table7Rows = []struct {
	Row     string
	Method  string
	AugMF   bool
	Sharing string
}{
	{"mult. baseline", "base", false, ""},
	{"to-shift (direct)", "shift", false, ""},
	{"aug with shift", "augshift", true, ""},
	{"aug with hybrid, w/o HWS", "augshift", false, "plain"},
	{"aug with hybrid + HWS", "augshift", false, "hws"},
}

// Table7Preset is the HWS ablation at the mini scale. Rows equal to a Table 3 run share its ID (and result).
func Table7Preset(seeds []uint64, quick bool) Preset {
	base, desc := miniBase(quick)
	p := Preset{Name: "table7", Description: desc}
	for _, seed := range seeds {
		for _, r := range Table7Rows {
			c := base
			c.Method, c.Seed, c.AugMF, c.Sharing = r.Method, seed, r.AugMF, r.Sharing
			id := fmt.Sprintf("table7-%s-%s-s%d", c.Model, slug(r.Row), seed)
			switch {
			case r.Method == "base" || r.Method == "shift":
				id = fmt.Sprintf("table3-%s-%s-s%d", c.Model, r.Method, seed)
			case r.Sharing == "hws":
				id = fmt.Sprintf("table3-%s-augshift-s%d", c.Model, seed)
			}
			p.Runs = append(p.Runs, RunSpec{ID: id, Table: "table7:" + r.Row, Config: c})
		}
	}
	return p
}

func slug(s string) string {
	out := make([]rune, 0, len(s))
	dash := false
	for _, r := range s {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			out = append(out, r)
			dash = false
		} else if !dash && len(out) > 0 {
			out = append(out, '-')
			dash = true
		}
	}
	return strings.TrimRight(string(out), "-")
}

// PaperPreset is the paper's protocol (CIFAR-100 at 160x160, NetAug's recipe, 150+5 epochs) for the five models
// and six methods: for machines with XLA and GPUs.
func PaperPreset(seeds []uint64) Preset {
	p := Preset{Name: "paper", Description: "CIFAR-100, 160x160, batch 128, 155 epochs (NetAug's recipe), five models, six methods"}
	for _, model := range []string{"mbv2-w0.35", "mbv3-w0.35", "mcunet-in3", "proxyless-w0.35", "mbv2-tiny"} {
		for _, seed := range seeds {
			for _, m := range Table3Methods {
				c := train.DefaultConfig(model, m)
				c.Data, c.Res, c.Batch, c.Epochs, c.WarmupEpochs = "cifar100", 160, 128, 155, 5
				c.LR, c.BNCalib, c.StopWidthAugEpochs, c.Seed = 0.025, 16000, 75, seed
				if model == "mbv3-w0.35" {
					c.LR, c.WeightDecay = 0.1, 3e-5
				}
				p.Runs = append(p.Runs, RunSpec{ID: fmt.Sprintf("table3-%s-%s-s%d", model, m, seed), Table: "table3", Config: c})
			}
		}
	}
	return p
}

// RunOutcome is a finished run as stored in results/runs/ID.json.
type RunOutcome struct {
	Spec   RunSpec       `json:"spec"`
	Result *train.Result `json:"result"`
}

// Execute runs spec unless its result already exists in dir/runs (finished runs are not redone); an
// interrupted run resumes from its checkpoint in dir/runs/ID.
func Execute(backend backends.Backend, spec RunSpec, dir string, progress io.Writer) (*RunOutcome, error) {
	out := filepath.Join(dir, "runs", spec.ID+".json")
	if data, err := os.ReadFile(out); err == nil {
		var o RunOutcome
		if err := json.Unmarshal(data, &o); err == nil && o.Result != nil {
			if d := configDiff(o.Spec.Config, spec.Config); len(d) > 0 {
				return nil, fmt.Errorf("%s was made with other settings than this run's (%s): use another results directory, or delete it to rerun",
					out, strings.Join(d, ", "))
			}
			return &o, nil
		}
	}
	runDir := filepath.Join(dir, "runs", spec.ID)
	_, statErr := os.Stat(filepath.Join(runDir, "state.json"))
	res, err := train.Run(backend, spec.Config, train.RunOptions{Dir: runDir, Resume: statErr == nil, Progress: progress})
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", spec.ID, err)
	}
	o := &RunOutcome{Spec: spec, Result: res}
	data, _ := json.MarshalIndent(o, "", "  ")
	if err := atomicio.WriteFile(out, data); err != nil {
		return nil, err
	}
	return o, nil
}

// configDiff names the settings in which two run configurations differ ("lr 0.05 → 0.00625"), as serialised.
func configDiff(stored, want train.Config) []string {
	var a, b map[string]any
	ja, _ := json.Marshal(stored)
	jb, _ := json.Marshal(want)
	_ = json.Unmarshal(ja, &a)
	_ = json.Unmarshal(jb, &b)
	var diff []string
	for k := range b {
		if _, ok := a[k]; !ok {
			diff = append(diff, fmt.Sprintf("%s unset → %v", k, b[k]))
		}
	}
	for k, va := range a {
		if vb, ok := b[k]; !ok || fmt.Sprint(va) != fmt.Sprint(vb) {
			diff = append(diff, fmt.Sprintf("%s %v → %v", k, va, b[k]))
		}
	}
	sort.Strings(diff)
	return diff
}

// LoadOutcomes reads every finished run in dir/runs.
func LoadOutcomes(dir string) ([]*RunOutcome, error) {
	files, err := filepath.Glob(filepath.Join(dir, "runs", "*.json"))
	if err != nil {
		return nil, err
	}
	var outs []*RunOutcome
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var o RunOutcome
		if err := json.Unmarshal(data, &o); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		outs = append(outs, &o)
	}
	return outs, nil
}

// PresetOutcomes keeps the finished runs that belong to the preset (a results directory may hold others, e.g.
// another preset's), each labelled with the preset's table: a run two presets share (Table 7's baseline, direct
// and HWS rows are Table 3 runs) is stored under the table of whichever preset ran it first. A run listed twice
// is kept once.
func PresetOutcomes(p Preset, outs []*RunOutcome) []*RunOutcome {
	tables := map[string]string{}
	for _, s := range p.Runs {
		tables[s.ID] = s.Table
	}
	var keep []*RunOutcome
	seen := map[string]bool{}
	for _, o := range outs {
		if o == nil || o.Result == nil {
			continue
		}
		table, ok := tables[o.Spec.ID]
		if !ok || seen[o.Spec.ID] {
			continue
		}
		seen[o.Spec.ID] = true
		if o.Spec.Table != table {
			c := *o
			c.Spec.Table = table
			o = &c
		}
		keep = append(keep, o)
	}
	return keep
}

// AccuracySummary is the mean and spread of one model and method over seeds.
type AccuracySummary struct {
	Model, Method string
	Seeds         int
	Mean, Std     float64 // final target test accuracy, in %
	Min, Max      float64
	Seconds       float64 // mean wall time per run
}

// Summarize groups outcomes of one table by model and method.
func Summarize(outs []*RunOutcome, table string) []AccuracySummary {
	groups := map[[2]string][]*RunOutcome{}
	for _, o := range outs {
		if o.Spec.Table == table {
			k := [2]string{o.Spec.Config.Model, o.Spec.Config.Method}
			groups[k] = append(groups[k], o)
		}
	}
	var sums []AccuracySummary
	for k, g := range groups {
		s := AccuracySummary{Model: k[0], Method: k[1], Seeds: len(g), Min: math.Inf(1), Max: math.Inf(-1)}
		for _, o := range g {
			a := 100 * o.Result.FinalAcc
			s.Mean += a / float64(len(g))
			s.Min, s.Max = math.Min(s.Min, a), math.Max(s.Max, a)
			s.Seconds += o.Result.Seconds / float64(len(g))
		}
		for _, o := range g {
			d := 100*o.Result.FinalAcc - s.Mean
			s.Std += d * d
		}
		if len(g) > 1 {
			s.Std = math.Sqrt(s.Std / float64(len(g)-1))
		}
		sums = append(sums, s)
	}
	order := map[string]int{}
	for i, m := range Table3Methods {
		order[m] = i
	}
	sort.Slice(sums, func(i, j int) bool {
		if sums[i].Model != sums[j].Model {
			return sums[i].Model < sums[j].Model
		}
		return order[sums[i].Method] < order[sums[j].Method]
	})
	return sums
}

// ErrNoRuns is returned when a table has no finished runs to show.
var ErrNoRuns = errors.New("no finished runs")

// RowSummary is the mean and spread of the runs of one row of a preset (one table label and method).
type RowSummary struct {
	Table, Model, Method string
	Seeds                int
	Mean, Std            float64 // final target test accuracy, %
	Seconds              float64 // mean wall time per run
	IDs                  []string
}

// SummarizePreset summarises a preset's finished runs row by row, in the preset's order. Runs without a result
// are left out (Seeds counts those present).
func SummarizePreset(p Preset, outs []*RunOutcome) []RowSummary {
	byID := map[string]*RunOutcome{}
	for _, o := range outs {
		byID[o.Spec.ID] = o
	}
	var rows []RowSummary
	index := map[string]int{}
	for _, spec := range p.Runs {
		key := spec.Table + "|" + spec.Config.Model + "|" + spec.Config.Method
		i, ok := index[key]
		if !ok {
			i = len(rows)
			index[key] = i
			rows = append(rows, RowSummary{Table: spec.Table, Model: spec.Config.Model, Method: spec.Config.Method})
		}
		if o := byID[spec.ID]; o != nil && o.Result != nil {
			rows[i].IDs = append(rows[i].IDs, spec.ID)
		}
	}
	for i := range rows {
		r := &rows[i]
		var accs []float64
		for _, id := range r.IDs {
			accs = append(accs, 100*byID[id].Result.FinalAcc)
			r.Seconds += byID[id].Result.Seconds
		}
		r.Seeds = len(accs)
		if r.Seeds == 0 {
			continue
		}
		r.Seconds /= float64(r.Seeds)
		for _, a := range accs {
			r.Mean += a / float64(len(accs))
		}
		for _, a := range accs {
			r.Std += (a - r.Mean) * (a - r.Mean)
		}
		if len(accs) > 1 {
			r.Std = math.Sqrt(r.Std / float64(len(accs)-1))
		}
	}
	return rows
}

// PresetByName returns the named preset: mini, table7 or paper.
func PresetByName(name string, seeds []uint64, quick bool) (Preset, error) {
	switch name {
	case "mini":
		return MiniPreset(seeds, quick), nil
	case "table7":
		return Table7Preset(seeds, quick), nil
	case "paper":
		return PaperPreset(seeds), nil
	}
	return Preset{}, fmt.Errorf("unknown preset %q: want mini, table7 or paper", name)
}
