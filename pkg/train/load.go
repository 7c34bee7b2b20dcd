package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/ml/context/checkpoints"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/shiftaddaug/shiftaddaug/datasets"
	"github.com/shiftaddaug/shiftaddaug/pkg/models/export"
)

// TargetFile is the name `shiftaddaug export` gives the exported target inside a run directory.
const TargetFile = "target.saaug"

// Loaded is a training run read back from its directory (as Run writes it): a session holding the latest
// checkpoint's variables, the run's state, and the data pipeline Run evaluates with, so that the target can be
// recalibrated, evaluated and exported exactly as Run does at the end of an epoch.
type Loaded struct {
	Dir     string
	Session *Session
	// State is the run's state.json: its configuration and the history of finished epochs.
	State *Result
	// Data is the dataset of the run's configuration; EvalT is the transform Run evaluates (and records in
	// exported targets) with.
	Data  *datasets.Dataset
	EvalT datasets.Transform
	// Calib is the batch-norm recalibration loader Run uses (nil when the run recalibrates on nothing).
	Calib *datasets.Loader
}

// Load rebuilds the session of the run in dir from its state.json and restores the latest checkpoint. It opens
// the run's dataset (needed for the class count, the recalibration subset and the input normalisation) with
// dataOpts. A directory that holds no run, a corrupt state file or a missing checkpoint are errors naming dir.
func Load(backend backends.Backend, dir string, dataOpts datasets.Options) (l *Loaded, err error) {
	if dir == "" {
		return nil, errors.New("no run directory given")
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("run directory %s: %w", dir, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory (want the --dir of a training run)", dir)
	}
	statePath := filepath.Join(dir, stateFile)
	data, err := os.ReadFile(statePath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s holds no training run (no %s): give the --dir that 'shiftaddaug train --dir' wrote", dir, stateFile)
	} else if err != nil {
		return nil, err
	}
	state := &Result{}
	if err := json.Unmarshal(data, state); err != nil {
		return nil, fmt.Errorf("%s: corrupt state file: %w", statePath, err)
	}
	cfg := state.Config
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: bad configuration: %w", statePath, err)
	}
	ckDir := filepath.Join(dir, "checkpoint")
	if ok, err := hasCheckpoint(ckDir); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("%s has no checkpoint (no finished epoch in %s): train at least one epoch first", dir, ckDir)
	}
	ds, err := datasets.Open(cfg.Data, dataOpts)
	if err != nil {
		return nil, err
	}
	if ds.Segmentation != cfg.Segmentation() {
		return nil, fmt.Errorf("%s: dataset %s does not fit the run's task %q", statePath, cfg.Data, cfg.Task)
	}
	l = &Loaded{Dir: dir, State: state, Data: ds}
	trainT, evalT, err := transforms(ds, cfg)
	if err != nil {
		return nil, err
	}
	l.EvalT = evalT
	trainIdx, err := TrainIndices(ds, cfg)
	if err != nil {
		return nil, err
	}
	if l.Calib, err = calibLoader(ds, cfg, trainT, trainIdx); err != nil {
		return nil, err
	}
	s, err := NewSession(backend, cfg, ds.NumClasses)
	if err != nil {
		return nil, err
	}
	// Immediate: every variable is in the context before any graph is built, so that the recalibration
	// counters are reset like Run's (lazily loaded ones would resume from the checkpoint's counts) and Extract
	// finds every variable.
	var loadErr error
	err = tryCatch(func() {
		if _, loadErr = checkpoints.Load(s.Ctx).Dir(ckDir).Immediate().Done(); loadErr == nil {
			s.Step = int(optimizers.GetGlobalStep(s.Ctx))
		}
	})
	if err == nil {
		err = loadErr
	}
	if err != nil {
		return nil, fmt.Errorf("loading the checkpoint in %s: %s", ckDir, firstLine(err.Error()))
	}
	l.Session = s
	return l, nil
}

// hasCheckpoint says whether dir holds at least one GoMLX checkpoint (without creating dir, as
// checkpoints.Build would).
func hasCheckpoint(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("reading %s: %w", dir, err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "checkpoint-") && strings.HasSuffix(e.Name(), ".json") {
			return true, nil
		}
	}
	return false, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// AtEpochEnd reports whether the checkpoint is the end of an epoch the state records (its step is the last
// recorded epoch's): Run saves that checkpoint right after recalibrating batch norm and evaluating, so its
// running statistics are the ones Run evaluated, and State's last test accuracy is the target's.
func (l *Loaded) AtEpochEnd() bool {
	h := l.State.History
	return len(h) > 0 && h[len(h)-1].Step == l.Session.Step
}

// RecalibrateBN recalibrates the target's batch-norm statistics on the run's calibration subset, as Run does
// before every evaluation, and reports whether it did. It does nothing when the run has no calibration subset,
// or (unless force) when the checkpoint is at an epoch end (AtEpochEnd): its statistics are already Run's
// recalibrated ones, and recalibrating them again would reproduce them only to float rounding (the first batch
// replaces the old value as old + (batch − old)), so the accuracy could differ from the one the run recorded.
func (l *Loaded) RecalibrateBN(force bool) (bool, error) {
	if l.Calib == nil || !force && l.AtEpochEnd() {
		return false, nil
	}
	return true, l.Session.Recalibrate(l.Calib)
}

// TestLoader returns a loader of the test subset Run evaluates a run with this limit and seed on (TestIndices),
// with the run's evaluation transform, in batches of batch. The run's own are Session.Cfg's TestLimit, Seed and
// EvalBatch().
func (l *Loaded) TestLoader(limit, batch int, seed uint64) (*datasets.Loader, error) {
	return datasets.NewLoader(l.Data.Test, datasets.LoaderConfig{BatchSize: batch, Seed: seed, Transform: l.EvalT,
		Layout: datasets.NHWC, Indices: TestIndices(l.Data.Test, limit, seed)})
}

// ExportTarget extracts the target alone (in the run's input normalisation) and writes it to path atomically.
// Call RecalibrateBN first, so that it exports the statistics Run evaluates with.
func (l *Loaded) ExportTarget(path string) (*export.Model, error) {
	return l.Session.ExportTarget(path, export.Input{Res: l.Session.Cfg.Res, Mean: l.EvalT.Mean, Std: l.EvalT.Std})
}

// ExportTarget extracts the session's target network (only; the augmented channels are cut away) with the
// operators it was trained with, recording input, and writes it to path atomically (see export.Model.Save).
func (s *Session) ExportTarget(path string, input export.Input) (*export.Model, error) {
	if err := s.syncPhase(); err != nil {
		return nil, err
	}
	net, err := s.TargetNet()
	if err != nil {
		return nil, err
	}
	var m *export.Model
	err = tryCatch(func() {
		var err error
		m, err = export.Extract(s.Ctx, net, export.Options{Ops: s.Ops(), Backend: s.Backend, Input: input})
		if err != nil {
			panic(err)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("exporting the target: %w", err)
	}
	if err := m.Save(path); err != nil {
		return nil, err
	}
	return m, nil
}

// TestIndices is the test subset Run evaluates a run of the given TestLimit and Seed on (nil: the whole split).
func TestIndices(test datasets.Source, limit int, seed uint64) []int {
	return subset(test, limit, seed+1)
}

// TrainIndices is the training subset of a run of cfg on ds (nil: the whole split). With Balanced it is
// TrainLimit/NumClasses images of each class drawn with SubsetSeed, the same for every method and Seed (a limit
// that does not divide evenly among the classes is an error); otherwise TrainLimit images drawn with Seed.
func TrainIndices(ds *datasets.Dataset, cfg Config) ([]int, error) {
	if !cfg.Balanced {
		return subset(ds.Train, cfg.TrainLimit, cfg.Seed), nil
	}
	switch {
	case cfg.TrainLimit <= 0:
		return nil, errors.New("a balanced training subset needs a training limit (--train-limit N)")
	case ds.NumClasses <= 0:
		return nil, fmt.Errorf("dataset %s has no classes to balance", cfg.Data)
	case cfg.TrainLimit%ds.NumClasses != 0:
		return nil, fmt.Errorf("balanced training subset: %d images do not divide evenly among the %d classes of %s: use a multiple of %d",
			cfg.TrainLimit, ds.NumClasses, cfg.Data, ds.NumClasses)
	}
	return datasets.BalancedSubset(ds.Train, ds.NumClasses, cfg.TrainLimit/ds.NumClasses, cfg.SubsetSeed)
}

// calibLoader is Run's batch-norm recalibration loader: the first BNCalib images of the training subset trainIdx
// (TrainIndices; nil: a seeded calibration subset of the whole split), with the training transform trainT.
// NetAug recalibrates with the training transforms on a fixed subset of the training set.
func calibLoader(ds *datasets.Dataset, cfg Config, trainT datasets.Transform, trainIdx []int) (*datasets.Loader, error) {
	if cfg.BNCalib <= 0 {
		return nil, nil
	}
	pool := trainIdx
	if pool == nil {
		pool = datasets.CalibrationSubset(ds.Train, cfg.BNCalib, cfg.Seed+2)
	} else if len(pool) > cfg.BNCalib {
		pool = pool[:cfg.BNCalib]
	}
	return datasets.NewLoader(ds.Train, datasets.LoaderConfig{BatchSize: cfg.Batch, Seed: cfg.Seed + 3,
		Transform: trainT, Layout: datasets.NHWC, Indices: pool})
}
