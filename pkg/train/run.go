package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/ml/context/checkpoints"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/shiftaddaug/shiftaddaug/datasets"
	"github.com/shiftaddaug/shiftaddaug/internal/atomicio"
	"github.com/shiftaddaug/shiftaddaug/pkg/models"
	"github.com/shiftaddaug/shiftaddaug/pkg/models/export"
)

// EpochRecord is one line of the metrics log.
type EpochRecord struct {
	Epoch      int     `json:"epoch"`
	Step       int     `json:"step"`
	LossTarget float64 `json:"loss_target"`
	LossAug    float64 `json:"loss_aug,omitempty"`
	// Penalty is the mean of the loss terms the weight maps added (ShiftAddNAS's KL penalty), if any.
	Penalty  float64 `json:"penalty,omitempty"`
	TrainAcc float64 `json:"train_acc"`
	// TestAcc is the top-1 accuracy, or for segmentation the pixel accuracy (of the labelled pixels).
	TestAcc float64 `json:"test_acc"`
	// MIoU is a segmentation run's test mIoU (datasets.Confusion.MeanIoU).
	MIoU     float64 `json:"miou,omitempty"`
	TestLoss float64 `json:"test_loss"`
	LR       float64 `json:"lr"`
	Seconds  float64 `json:"seconds"`
	// EvalSeconds is the batch-norm recalibration and the evaluation after the epoch (0 when not evaluated).
	EvalSeconds float64 `json:"eval_seconds,omitempty"`
	Mode        string  `json:"aug_mode,omitempty"`
	// SortReplaced is the share of the target's mid channels that the epoch's channel sort took from the
	// augmented region (NetAug's sort_channels; 0 when it only reordered the target's own channels).
	SortReplaced float64 `json:"sort_replaced,omitempty"`
	// NotEvaluated marks an epoch that Config.EvalEvery skipped: TestAcc and TestLoss are not measured.
	NotEvaluated bool `json:"not_evaluated,omitempty"`
}

// Result is a finished (or resumed-and-finished) run.
type Result struct {
	Config   Config        `json:"config"`
	Backend  string        `json:"backend"`
	History  []EpochRecord `json:"history"`
	FinalAcc float64       `json:"final_acc"`
	BestAcc  float64       `json:"best_acc"`
	// FinalMIoU and BestMIoU are a segmentation run's last and best test mIoU.
	FinalMIoU float64 `json:"final_miou,omitempty"`
	BestMIoU  float64 `json:"best_miou,omitempty"`
	Seconds   float64 `json:"seconds"`
	Params    int64   `json:"params"`
}

// RunOptions say where a run keeps its files and how it reports.
type RunOptions struct {
	// Dir holds the checkpoint, state.json and metrics.jsonl ("" keeps nothing on disk).
	Dir string
	// Resume continues the run in Dir from its last finished epoch; without it an existing run in Dir is an error.
	Resume bool
	// Progress receives human-readable progress lines (nil: none).
	Progress io.Writer
	// Data are the dataset options (download, directory).
	Data datasets.Options
	// StopAfterEpochs stops the run after this many epochs of this invocation (0: run to the end). Tests use it
	// to interrupt a run and resume it.
	StopAfterEpochs int
	// OnEpoch, if set, is called after every epoch with the session (e.g. to plot, or to reorder channels).
	OnEpoch func(s *Session, rec EpochRecord)
	// Export, if set, is where the trained target (only) is exported at the end, for the integer kernels.
	Export string
}

const stateFile = "state.json"

// Run trains cfg on its dataset, evaluating the target after every epoch (after batch-norm recalibration),
// checkpointing every epoch, and resuming from Dir when asked.
func Run(backend backends.Backend, cfg Config, opts RunOptions) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ds, err := datasets.Open(cfg.Data, opts.Data)
	if err != nil {
		return nil, err
	}
	if ds.Segmentation && !cfg.Segmentation() {
		return nil, fmt.Errorf("dataset %s is a segmentation set: train it with --task seg", cfg.Data)
	}
	if cfg.Segmentation() && !ds.Segmentation {
		return nil, fmt.Errorf("segmentation needs a segmentation dataset (fashion-seg, mnist-seg, voc:PATH, openeds:PATH), not %s", cfg.Data)
	}
	trainIdx, err := TrainIndices(ds, cfg)
	if err != nil {
		return nil, err
	}
	trainT, evalT, err := transforms(ds, cfg)
	if err != nil {
		return nil, err
	}
	trainLoader, err := datasets.NewLoader(ds.Train, datasets.LoaderConfig{BatchSize: cfg.Batch, Shuffle: true, DropLast: true,
		Seed: cfg.Seed, Transform: trainT, Layout: datasets.NHWC, Indices: trainIdx})
	if err != nil {
		return nil, err
	}
	if trainLoader.NumBatches() == 0 {
		return nil, fmt.Errorf("%d training images make no full batch of %d", trainLoader.Len(), cfg.Batch)
	}
	testLoader, err := datasets.NewLoader(ds.Test, datasets.LoaderConfig{BatchSize: cfg.EvalBatch(), Seed: cfg.Seed, Transform: evalT,
		Layout: datasets.NHWC, Indices: subset(ds.Test, cfg.TestLimit, cfg.Seed+1)})
	if err != nil {
		return nil, err
	}
	calib, err := calibLoader(ds, cfg, trainT, trainIdx)
	if err != nil {
		return nil, err
	}
	cfg.StepsPerEpoch = trainLoader.NumBatches()

	res := &Result{Config: cfg}
	var ckpt *checkpoints.Handler
	if opts.Dir != "" {
		if err := prepareDir(opts.Dir, cfg, opts.Resume, res); err != nil {
			return nil, err
		}
	}
	s, err := NewSession(backend, cfg, ds.NumClasses)
	if err != nil {
		return nil, err
	}
	res.Backend = backend.Name()
	if opts.Dir != "" {
		// Immediate: every saved variable is put in the context now, not when a graph first asks for it, so that
		// what enumerates the context before that finds them (the batch-norm recalibration counters that
		// Recalibrate resets; left in the loader, a resumed run's first recalibration averaged with stale
		// statistics).
		ckpt, err = checkpoints.Build(s.Ctx).Dir(filepath.Join(opts.Dir, "checkpoint")).Keep(2).Immediate().Done()
		if err != nil {
			return nil, fmt.Errorf("checkpoint in %s: %w", opts.Dir, err)
		}
	}
	start := 0
	if opts.Resume && len(res.History) > 0 {
		// The checkpoint's global step says how far training got (checkpoints after state.json's last record were
		// dropped by prepareDir).
		step := int(optimizers.GetGlobalStep(s.Ctx))
		start = step / cfg.StepsPerEpoch
		s.Step = step
		if start < len(res.History) {
			res.History = res.History[:start]
		}
		progressf(opts.Progress, "resuming %s/%s at epoch %d (step %d)\n", cfg.Model, cfg.Method, start, step)
	}
	t0 := time.Now()
	ran := 0
	for epoch := start; epoch < cfg.Epochs; epoch++ {
		if opts.StopAfterEpochs > 0 && ran == opts.StopAfterEpochs {
			return res, ErrStopped
		}
		rec, err := trainEpoch(s, trainLoader, epoch, opts.Progress)
		if err != nil {
			return nil, err
		}
		if cfg.evaluates(epoch) {
			te := time.Now()
			releaseBuffers()
			// The recalibration only serves the evaluation: the running statistics never feed training.
			if calib != nil {
				if err := s.Recalibrate(calib); err != nil {
					return nil, err
				}
			}
			if cfg.Segmentation() {
				var sm SegMetrics
				sm, err = s.EvaluateSeg(testLoader)
				rec.TestAcc, rec.TestLoss, rec.MIoU = sm.PixelAcc, sm.Loss, sm.MIoU
			} else {
				rec.TestAcc, rec.TestLoss, err = s.Evaluate(testLoader)
			}
			if err != nil {
				return nil, err
			}
			releaseBuffers()
			rec.EvalSeconds = time.Since(te).Seconds()
		} else {
			rec.NotEvaluated = true
		}
		res.History = append(res.History, rec)
		sorted := ""
		if rec.SortReplaced > 0 {
			sorted = fmt.Sprintf(", sort replaced %.1f%% of the target", 100*rec.SortReplaced)
		}
		testAcc := fmt.Sprintf("test acc %.2f%%", 100*rec.TestAcc)
		if cfg.Segmentation() {
			testAcc = fmt.Sprintf("test mIoU %.2f%%, pixel acc %.2f%%", 100*rec.MIoU, 100*rec.TestAcc)
		}
		if rec.NotEvaluated {
			testAcc = "not evaluated"
		}
		progressf(opts.Progress, "%s/%s epoch %d/%d: loss %.4f (aug %.4f), train acc %.2f%%, %s, %.1fs%s\n",
			cfg.Model, cfg.Method, epoch+1, cfg.Epochs, rec.LossTarget, rec.LossAug, 100*rec.TrainAcc, testAcc, rec.Seconds, sorted)
		if ckpt != nil {
			if err := ckpt.Save(); err != nil {
				return nil, fmt.Errorf("saving checkpoint: %w", err)
			}
			if err := writeState(opts.Dir, res); err != nil {
				return nil, err
			}
		}
		if opts.OnEpoch != nil {
			opts.OnEpoch(s, rec)
		}
		ran++
	}
	res.Seconds = time.Since(t0).Seconds()
	res.BestAcc = BestAcc(res.History)
	if n := len(res.History); n > 0 {
		res.FinalAcc = res.History[n-1].TestAcc
		if cfg.Segmentation() {
			res.FinalMIoU, res.BestMIoU = res.History[n-1].MIoU, BestMIoU(res.History)
		}
	}
	if err := s.syncPhase(); err != nil {
		return nil, err
	}
	target, err := s.TargetNet()
	if err != nil {
		return nil, err
	}
	c, _ := target.Arch.Count(cfg.Res)
	res.Params = c.Params
	if opts.Export != "" {
		m, err := export.Extract(s.Ctx, target, export.Options{Ops: s.Ops(), Backend: backend,
			Input: export.Input{Res: cfg.Res, Mean: evalT.Mean, Std: evalT.Std}})
		if err != nil {
			return nil, fmt.Errorf("exporting the target: %w", err)
		}
		if err := m.Save(opts.Export); err != nil {
			return nil, err
		}
	}
	if opts.Dir != "" {
		if err := writeState(opts.Dir, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// BestAcc is the highest test accuracy over the evaluated epochs of a history.
func BestAcc(history []EpochRecord) float64 {
	best := 0.0
	for _, h := range history {
		if !h.NotEvaluated {
			best = max(best, h.TestAcc)
		}
	}
	return best
}

// evaluates reports whether the run evaluates the target after epoch (0-based): every EvalEvery epochs, and
// always after the last.
func (c Config) evaluates(epoch int) bool {
	return c.EvalEvery <= 1 || (epoch+1)%c.EvalEvery == 0 || epoch == c.Epochs-1
}

// ErrStopped is returned by Run when RunOptions.StopAfterEpochs stopped it early.
var ErrStopped = errors.New("training stopped early as asked")

func trainEpoch(s *Session, l *datasets.Loader, epoch int, progress io.Writer) (EpochRecord, error) {
	cfg := s.Cfg
	mode := models.SampleRandom
	modeName := "width+expand"
	if epoch >= cfg.Epochs-cfg.StopWidthAugEpochs {
		mode, modeName = models.SampleMinWidth, "expand"
	}
	if !s.Method.Augmented {
		modeName = ""
	}
	t0 := time.Now()
	rec := EpochRecord{Epoch: epoch, Mode: modeName}
	if s.Method.Augmented && mode == models.SampleRandom && !cfg.NoReorder && !s.unshared {
		st, err := ReorderChannels(s.Ctx, s.Net.Arch.Blocks, cfg.SortMomentum, cfg.keepBoundary())
		if err != nil {
			return EpochRecord{}, err
		}
		if st.Target > 0 {
			rec.SortReplaced = float64(st.Moved) / float64(st.Target)
		}
	}
	it := l.Epoch(epoch)
	defer it.Close()
	var n, right, steps int
	for {
		b, err := it.Next()
		if err != nil {
			if isEOF(err) {
				break
			}
			return rec, err
		}
		r, err := s.TrainStep(b, mode)
		if err != nil {
			return rec, err
		}
		rec.LossTarget += r.LossTarget
		rec.LossAug += r.LossAug
		rec.Penalty += r.Penalty
		right += r.Correct
		if r.Seen > 0 {
			n += r.Seen
		} else {
			n += b.Size()
		}
		steps++
		if progress != nil && (steps%20 == 0 || steps == l.NumBatches()) {
			fmt.Fprintf(progress, "\r  epoch %d: step %d/%d, loss %.4f   ", epoch+1, steps, l.NumBatches(), rec.LossTarget/float64(steps))
			if steps == l.NumBatches() {
				fmt.Fprintln(progress)
			}
		}
	}
	rec.LossTarget /= float64(steps)
	rec.LossAug /= float64(steps)
	rec.Penalty /= float64(steps)
	for _, l := range []float64{rec.LossTarget, rec.LossAug, rec.Penalty} {
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return rec, &DivergedError{Epoch: epoch + 1, Value: l}
		}
	}
	rec.TrainAcc = float64(right) / float64(n)
	rec.Step = s.Step
	rec.LR = cfg.Schedule().At(s.Step - 1)
	rec.Seconds = time.Since(t0).Seconds()
	return rec, nil
}

// DivergedError stops a run whose loss became NaN or infinite (the paper's "Nan" rows): the epoch is not
// recorded or checkpointed, so the run's state holds the epochs before it.
type DivergedError struct {
	Epoch int     // 1-based
	Value float64 // the epoch's mean loss: NaN or ±Inf
}

func (e *DivergedError) Error() string {
	return fmt.Sprintf("training diverged: loss %v in epoch %d", e.Value, e.Epoch)
}

func subset(src datasets.Source, limit int, seed uint64) []int {
	if limit <= 0 || limit >= src.Len() {
		return nil
	}
	return datasets.CalibrationSubset(src, limit, seed)
}

func progressf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// prepareDir checks that dir holds no run (or, to resume, the same run) and loads its history into res.
func prepareDir(dir string, cfg Config, resume bool, res *Result) error {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if resume {
			if _, err := os.Stat(filepath.Join(dir, "checkpoint")); err == nil {
				return fmt.Errorf("%s has a checkpoint but no %s: cannot resume; remove it or choose another --dir", dir, stateFile)
			}
		} else if _, err := os.Stat(filepath.Join(dir, "checkpoint")); err == nil {
			return fmt.Errorf("%s already holds a run: use --resume to continue it, or choose another --dir", dir)
		}
		return os.MkdirAll(dir, 0o755)
	case err != nil:
		return err
	}
	if !resume {
		return fmt.Errorf("%s already holds a run: use --resume to continue it, or choose another --dir", dir)
	}
	var prev Result
	if err := json.Unmarshal(data, &prev); err != nil {
		return fmt.Errorf("%s: corrupt state file: %w", filepath.Join(dir, stateFile), err)
	}
	if !reflect.DeepEqual(prev.Config, cfg) {
		return fmt.Errorf("%s holds a run with a different configuration; resume with the same flags or choose another --dir", dir)
	}
	res.History = prev.History
	last := 0
	if n := len(prev.History); n > 0 {
		last = prev.History[n-1].Step
	}
	return dropUnrecorded(dir, last)
}

// dropUnrecorded removes what a run killed while saving leaves behind: atomicio's temporary files, and
// checkpoints of steps after the last one state.json records (a GoMLX checkpoint is written in place, so a kill
// during its save leaves a half-written one, and a kill between it and state.json leaves an epoch without its
// metrics record). The resumed run then redoes that epoch.
func dropUnrecorded(dir string, lastStep int) error {
	for _, pattern := range []string{"." + stateFile + ".tmp-*", ".metrics.jsonl.tmp-*"} {
		tmps, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, f := range tmps {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "checkpoint", "checkpoint-*"))
	for _, f := range files {
		base := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(f), ".json"), ".bin")
		var step int
		if i := strings.LastIndex(base, "-step-"); i >= 0 {
			step, _ = strconv.Atoi(base[i+len("-step-"):])
		}
		if step > lastStep {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeState(dir string, res *Result) error {
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicio.WriteFile(filepath.Join(dir, stateFile), data); err != nil {
		return err
	}
	var lines []byte
	for _, h := range res.History {
		b, _ := json.Marshal(h)
		lines = append(append(lines, b...), '\n')
	}
	return atomicio.WriteFile(filepath.Join(dir, "metrics.jsonl"), lines)
}

// releaseBuffers lets the Go runtime take back the buffers the engine keeps for the phase that just ended.
// SimpleGo pools its buffers by exact size, so training's are of no use to evaluation's batches and the reverse,
// and the heap seldom reaches the collector's target within an epoch: without this both sets stay resident, and
// evaluating in batches of 500 raised a whole augshift run's peak RSS from 2.27 to 2.52-2.56 GB. Two collections
// empty the pools (sync.Pool keeps one generation of victims); they take milliseconds, the buffers hold no
// pointers.
func releaseBuffers() {
	runtime.GC()
	runtime.GC()
}
