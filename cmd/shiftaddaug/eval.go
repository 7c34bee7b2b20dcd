package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/shiftaddaug/shiftaddaug/datasets"
	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/pkg/models/deploy"
	"github.com/shiftaddaug/shiftaddaug/pkg/models/export"
	"github.com/shiftaddaug/shiftaddaug/pkg/train"
)

func init() {
	register(&command{name: "eval", summary: "test accuracy of an exported target on the integer kernels (--model) or of a run's target in GoMLX (--dir)", run: runEval})
}

type evalFlags struct {
	fs                        *flag.FlagSet
	model, dir, data, dataDir string
	seed                      string
	testLimit, batch, res     int
	reference, recalibrate    bool
}

func runEval(args []string) error {
	f := evalFlags{fs: newFlags("eval", "--model FILE.saaug [--data NAME] [--test-limit N] [--reference] | --dir RUN [--test-limit N]")}
	fs := f.fs
	fs.StringVar(&f.model, "model", "", "exported target (from 'shiftaddaug export'), run on the integer kernels")
	fs.StringVar(&f.dir, "dir", "", "training run directory: evaluate its latest checkpoint's target in GoMLX, with the batch-norm statistics the run recalibrated")
	fs.StringVar(&f.data, "data", "fashion-mnist", "dataset whose test split is evaluated (--model; a run knows its own)")
	fs.StringVar(&f.dataDir, "data-dir", "", "extra dataset directory")
	fs.IntVar(&f.testLimit, "test-limit", 0, "evaluate a seeded subset of this many test images, the one 'train --test-limit' uses (0: all; --dir: the run's)")
	fs.StringVar(&f.seed, "seed", "1", "seed of the test subset, as 'train --seed' (--dir: the run's)")
	fs.IntVar(&f.batch, "batch", 64, "batch size (--dir: the one the run evaluates in)")
	fs.IntVar(&f.res, "res", 0, "input resolution (0: the one the model records)")
	fs.BoolVar(&f.reference, "reference", false, "run the float reference runner instead of the integer kernels (--model)")
	fs.BoolVar(&f.recalibrate, "recalibrate", false, "--dir: recalibrate batch norm even when the checkpoint holds the statistics its epoch recalibrated")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	switch {
	case f.model != "" && f.dir != "":
		return errors.New("give either --model FILE or --dir RUN, not both")
	case f.model == "" && f.dir == "":
		return errors.New("--model FILE.saaug (an exported target) or --dir RUN (a training run) is required")
	case f.testLimit < 0:
		return fmt.Errorf("--test-limit %d: must be non-negative", f.testLimit)
	case f.batch <= 0:
		return fmt.Errorf("--batch %d: must be positive", f.batch)
	case f.res < 0:
		return fmt.Errorf("--res %d: must be positive", f.res)
	}
	seed, err := strconv.ParseUint(f.seed, 10, 64)
	if err != nil {
		return fmt.Errorf("--seed %q: not a non-negative integer", f.seed)
	}
	if f.dir != "" {
		for _, name := range []string{"reference", "res", "data"} {
			if set[name] {
				return fmt.Errorf("--%s applies to --model, not --dir (a run evaluates with its own configuration)", name)
			}
		}
		return evalRun(f, set, seed)
	}
	if set["recalibrate"] {
		return errors.New("--recalibrate applies to --dir (an exported model's statistics are fixed)")
	}
	return evalExported(f, seed)
}

// evalExported runs an exported target over the test split with the integer kernels (or the float reference).
func evalExported(f evalFlags, seed uint64) error {
	m, err := export.Load(f.model)
	if err != nil {
		return err
	}
	newRunner, runnerName := deploy.New, "integer"
	if f.reference {
		newRunner, runnerName = deploy.NewReference, "reference"
	}
	r, err := newRunner(m)
	if err != nil {
		return err
	}
	res := f.res
	if res == 0 {
		res = m.Input.Res
	}
	if res == 0 {
		return fmt.Errorf("%s records no input resolution: pass --res", f.model)
	}
	if min := m.Arch.MinRes(); res < min {
		return fmt.Errorf("--res %d is too small for %s: its strides need at least %d", res, m.Arch.Name, min)
	}
	ds, err := datasets.Open(f.data, datasets.Options{Dir: f.dataDir})
	if err != nil {
		return err
	}
	if ds.Segmentation {
		return fmt.Errorf("dataset %s is a segmentation set; exported targets are classifiers", f.data)
	}
	if ds.NumClasses != m.Arch.Classes {
		return fmt.Errorf("%s classifies %d classes, dataset %s has %d: evaluate it on the dataset it was trained on",
			f.model, m.Arch.Classes, f.data, ds.NumClasses)
	}
	if ds.Test.Len() == 0 {
		return fmt.Errorf("dataset %s has no test split", f.data)
	}
	// The model's input exactly as training prepared it: the run's evaluation transform at the model's
	// resolution, with the normalisation the file records.
	_, evalT := datasets.DefaultTransforms(ds, res)
	if len(m.Input.Mean) > 0 || len(m.Input.Std) > 0 {
		evalT.Mean, evalT.Std = m.Input.Mean, m.Input.Std
	}
	l, err := datasets.NewLoader(ds.Test, datasets.LoaderConfig{BatchSize: f.batch, Seed: seed, Transform: evalT,
		Layout: datasets.NHWC, Indices: train.TestIndices(ds.Test, f.testLimit, seed)})
	if err != nil {
		return err
	}
	t0 := time.Now()
	right, n, err := predictAll(r, l)
	if err != nil {
		return err
	}
	secs := time.Since(t0).Seconds()
	rec := map[string]any{"runner": runnerName, "model": m.Arch.Name, "method": m.Method, "data": f.data, "res": res,
		"accuracy": float64(right) / float64(n), "n": n, "seconds": secs}
	if err := addCost(rec, m.Arch, res); err != nil {
		return err
	}
	b, _ := json.Marshal(rec)
	fmt.Fprintln(out, string(b))
	return nil
}

// predictAll counts the loader's images the runner classifies right.
func predictAll(r *deploy.Runner, l *datasets.Loader) (right, n int, err error) {
	it := l.Epoch(0)
	defer it.Close()
	for {
		b, err := it.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return 0, 0, err
		}
		_, classes, err := r.Predict(b.Images, b.Size(), b.Shape[1], b.Shape[2])
		if err != nil {
			return 0, 0, err
		}
		for i, c := range classes {
			if int32(c) == b.Labels[i] {
				right++
			}
		}
		n += b.Size()
	}
	if n == 0 {
		return 0, 0, errors.New("no test images to evaluate")
	}
	return right, n, nil
}

// evalRun evaluates the target of a run's latest checkpoint in GoMLX, after batch-norm recalibration, on the
// run's test subset (or the one the flags choose): the accuracy the integer kernels should give on its export.
func evalRun(f evalFlags, set map[string]bool, seed uint64) error {
	backend, err := engine.New()
	if err != nil {
		return err
	}
	l, err := train.Load(backend, f.dir, datasets.Options{Dir: f.dataDir})
	if err != nil {
		return err
	}
	s := l.Session
	cfg := s.Cfg
	limit, batch := cfg.TestLimit, cfg.EvalBatch()
	if set["test-limit"] {
		limit = f.testLimit
	}
	if set["batch"] {
		batch = f.batch
	}
	if !set["seed"] {
		seed = cfg.Seed
	}
	tl, err := l.TestLoader(limit, batch, seed)
	if err != nil {
		return err
	}
	recal, err := l.RecalibrateBN(f.recalibrate)
	if err != nil {
		return err
	}
	t0 := time.Now()
	acc, loss, err := s.Evaluate(tl)
	if err != nil {
		return err
	}
	secs := time.Since(t0).Seconds()
	rec := map[string]any{"runner": "gomlx", "model": s.Net.Arch.Name, "method": export.MethodOf(s.Net.Arch),
		"train_method": cfg.Method, "data": cfg.Data, "res": cfg.Res, "accuracy": acc, "loss": loss, "n": tl.Len(),
		"step": s.Step, "recalibrated": recal, "seconds": secs}
	if err := addCost(rec, s.Net.Arch, cfg.Res); err != nil {
		return err
	}
	b, _ := json.Marshal(rec)
	fmt.Fprintln(out, string(b))
	return nil
}

// addCost adds the target's parameters and simulated energy and latency at resolution res to rec.
func addCost(rec map[string]any, a *arch.Model, res int) error {
	c, err := a.Count(res)
	if err != nil {
		return err
	}
	nc, err := targetCost(a, res)
	if err != nil {
		return err
	}
	rec["params"], rec["energy_mj"], rec["latency_ms"] = c.Params, nc.EnergyMJ, nc.LatencyMS
	return nil
}
