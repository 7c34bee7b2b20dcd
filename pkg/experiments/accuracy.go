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
	"time"

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
	// Pairs are the comparisons its summary shows as paired differences per seed (PairedDifferences); nil: none.
	Pairs []Pair
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
	p := Preset{Name: "mini", Description: desc, Pairs: Table3Pairs}
	for _, seed := range seeds {
		for _, m := range Table3Methods {
			c := base
			c.Method, c.Seed, c.Sharing = m, seed, table3Sharing(m)
			p.Runs = append(p.Runs, RunSpec{ID: fmt.Sprintf("table3-%s-%s-s%d", c.Model, m, seed), Table: "table3", Config: c})
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
	p := Preset{Name: "paper", Description: "CIFAR-100, 160x160, batch 128, 155 epochs (NetAug's recipe), five models, six methods",
		Pairs: Table3Pairs}
	for _, model := range []string{"mbv2-w0.35", "mbv3-w0.35", "mcunet-in3", "proxyless-w0.35", "mbv2-tiny"} {
		for _, seed := range seeds {
			for _, m := range Table3Methods {
				c := train.DefaultConfig(model, m)
				c.Data, c.Res, c.Batch, c.Epochs, c.WarmupEpochs = "cifar100", 160, 128, 155, 5
				c.LR, c.BNCalib, c.StopWidthAugEpochs, c.Seed = train.NetAugLR(model, c.Batch), 16000, 75, seed
				if model == "mbv3-w0.35" {
					c.WeightDecay = 3e-5
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
	// Diverged is set when the run's loss became NaN or infinite (the paper's "Nan"): training stopped there,
	// Result.History holds only the epochs before it (JSON has no NaN), and Result.FinalAcc is 0, no accuracy.
	Diverged *Divergence `json:"diverged,omitempty"`
}

// Divergence says where a run's loss stopped being finite.
type Divergence struct {
	Epoch  int    `json:"epoch"`  // 1-based epoch whose loss was NaN or infinite
	Reason string `json:"reason"` // e.g. "loss NaN in epoch 3"
}

// IsDiverged reports whether the run diverged: it is marked so, or (for a result built in memory rather than
// read from JSON, which cannot hold NaN) a loss of its history is NaN or infinite.
func (o *RunOutcome) IsDiverged() bool {
	return o != nil && (o.Diverged != nil || o.Result != nil && nonFiniteEpoch(o.Result.History) >= 0)
}

// DivergedReason says where the run diverged ("loss NaN in epoch 3"), "" if it did not.
func (o *RunOutcome) DivergedReason() string {
	switch {
	case !o.IsDiverged():
		return ""
	case o.Diverged != nil:
		return o.Diverged.Reason
	}
	return fmt.Sprintf("loss not finite in epoch %d", nonFiniteEpoch(o.Result.History)+1)
}

// nonFiniteEpoch returns the index of the first epoch record with a NaN or infinite loss, or -1.
func nonFiniteEpoch(h []train.EpochRecord) int {
	for i, r := range h {
		for _, v := range []float64{r.LossTarget, r.LossAug, r.Penalty, r.TestLoss} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return i
			}
		}
	}
	return -1
}

// runTraining trains a run; tests replace it to make a run diverge without training.
var runTraining = train.Run

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
	t0 := time.Now()
	res, err := runTraining(backend, spec.Config, train.RunOptions{Dir: runDir, Resume: statErr == nil, Progress: progress})
	var diverged *train.DivergedError
	var o *RunOutcome
	switch {
	case errors.As(err, &diverged):
		// A loss that became NaN or infinite stops train.Run at the end of the epoch; the epochs before it are in
		// its state file.
		o = divergedOutcome(spec, runDir, backend, fmt.Sprint(diverged.Value))
		o.Result.Seconds = time.Since(t0).Seconds()
	case err != nil:
		return nil, fmt.Errorf("run %s: %w", spec.ID, err)
	default:
		o = &RunOutcome{Spec: spec, Result: res}
		if i := nonFiniteEpoch(res.History); i >= 0 {
			r := *res
			r.History = append([]train.EpochRecord(nil), res.History[:i]...)
			r.FinalAcc, r.BestAcc = 0, train.BestAcc(r.History)
			o.Result = &r
			o.Diverged = &Divergence{Epoch: i + 1, Reason: fmt.Sprintf("loss not finite in epoch %d", i+1)}
		}
	}
	if o.Diverged != nil {
		progressf(progress, "%s: diverged: %s\n", spec.ID, o.Diverged.Reason)
	}
	data, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("run %s: storing its result: %w", spec.ID, err)
	}
	if err := atomicio.WriteFile(out, data); err != nil {
		return nil, err
	}
	return o, nil
}

// divergedOutcome is the outcome of a run whose loss became non-finite (what: "NaN", "+Inf") in the epoch after
// the last one its state file in runDir records.
func divergedOutcome(spec RunSpec, runDir string, backend backends.Backend, what string) *RunOutcome {
	res := &train.Result{Config: spec.Config}
	if data, err := os.ReadFile(filepath.Join(runDir, "state.json")); err == nil {
		var prev train.Result
		if json.Unmarshal(data, &prev) == nil {
			res.Config, res.History = prev.Config, prev.History
		}
	}
	if backend != nil {
		res.Backend = backend.Name()
	}
	res.BestAcc = train.BestAcc(res.History)
	epoch := len(res.History) + 1
	return &RunOutcome{Spec: spec, Result: res, Diverged: &Divergence{Epoch: epoch,
		Reason: fmt.Sprintf("loss %s in epoch %d", what, epoch)}}
}

func progressf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// configDiff names the settings in which two run configurations differ ("lr 0.05 → 0.00625"), as serialised.
// The augmented loss's weight is not compared between two direct runs: they have no augmented loss, so a direct
// run stored before the default α changed is still the same run.
func configDiff(stored, want train.Config) []string {
	var a, b map[string]any
	ja, _ := json.Marshal(stored)
	jb, _ := json.Marshal(want)
	_ = json.Unmarshal(ja, &a)
	_ = json.Unmarshal(jb, &b)
	if direct(stored.Method) && direct(want.Method) {
		delete(a, "alpha")
		delete(b, "alpha")
	}
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
	// Seeds counts the finished runs, Diverged those of them whose loss became NaN or infinite (IsDiverged).
	Seeds, Diverged int
	Mean, Std       float64 // final target test accuracy of the runs that did not diverge, in % (0 if none)
	Min, Max        float64
	Seconds         float64 // mean wall time per run
}

// Summarize groups outcomes of one table by model and method. Diverged runs are counted, not averaged.
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
		s := AccuracySummary{Model: k[0], Method: k[1], Seeds: len(g)}
		var accs []float64
		for _, o := range g {
			s.Seconds += o.Result.Seconds / float64(len(g))
			if o.IsDiverged() {
				s.Diverged++
			} else {
				accs = append(accs, 100*o.Result.FinalAcc)
			}
		}
		if len(accs) > 0 {
			s.Min, s.Max = math.Inf(1), math.Inf(-1)
		}
		for _, a := range accs {
			s.Mean += a / float64(len(accs))
			s.Min, s.Max = math.Min(s.Min, a), math.Max(s.Max, a)
		}
		for _, a := range accs {
			s.Std += (a - s.Mean) * (a - s.Mean)
		}
		if len(accs) > 1 {
			s.Std = math.Sqrt(s.Std / float64(len(accs)-1))
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
	// Seeds counts the finished runs, Diverged those of them whose loss became NaN or infinite (IsDiverged).
	Seeds, Diverged int
	Mean, Std       float64 // final target test accuracy of the runs that did not diverge, %
	Seconds         float64 // mean wall time per run
	IDs             []string
}

// SummarizePreset summarises a preset's finished runs row by row, in the preset's order. Runs without a result
// are left out (Seeds counts those present); diverged runs are counted (Diverged) but not averaged.
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
			r.Seconds += byID[id].Result.Seconds
			if byID[id].IsDiverged() {
				r.Diverged++
				continue
			}
			accs = append(accs, 100*byID[id].Result.FinalAcc)
		}
		r.Seeds = len(r.IDs)
		if r.Seeds == 0 {
			continue
		}
		r.Seconds /= float64(r.Seeds)
		if len(accs) == 0 {
			continue
		}
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

// PresetNames are the names PresetByName knows, in order.
var PresetNames = []string{"mini", "table7", "table8", "table9", "table10", "table11", "reference", "scaling", "table5", "paper"}

// PresetByName returns the named preset: mini (Table 3's methods), an ablation (table7 ... table10, see
// Ablations), reference (ReferencePreset) or paper.
func PresetByName(name string, seeds []uint64, quick bool) (Preset, error) {
	switch name {
	case "mini":
		return MiniPreset(seeds, quick), nil
	case "paper":
		return PaperPreset(seeds), nil
	case "reference":
		return ReferencePreset(seeds, quick), nil
	case "table11":
		return Table11Preset(seeds, quick), nil
	case "scaling":
		return ScalingPreset(seeds, quick), nil
	case "table5":
		return Table5Preset(seeds, quick), nil
	}
	if a, ok := AblationByName(name); ok {
		return AblationPreset(a, seeds, quick), nil
	}
	return Preset{}, fmt.Errorf("unknown preset %q: want %s", name, PresetNamesList())
}

// PresetNamesList is PresetNames as prose: "mini, table7, ... or paper".
func PresetNamesList() string {
	n := len(PresetNames)
	return strings.Join(PresetNames[:n-1], ", ") + " or " + PresetNames[n-1]
}
