package train

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/datasets"
	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
)

// labelSource is a source of n blank 28x28 images whose labels follow a fixed irregular pattern over 10 classes.
type labelSource struct{ n int }

func (s labelSource) Len() int        { return s.n }
func (s labelSource) Label(i int) int { return (i*7 + i/13) % 10 }
func (s labelSource) Image(i int) (datasets.Image, error) {
	return datasets.Image{H: 28, W: 28, C: 1, Pix: make([]uint8, 28*28)}, nil
}

// TestTrainIndicesBalanced: a balanced subset has exactly TrainLimit/classes images of each class, does not
// depend on Seed but does on SubsetSeed, and the calibration pool is its first BNCalib images. Without Balanced the
// subset is the seeded one of before.
func TestTrainIndicesBalanced(t *testing.T) {
	ds := &datasets.Dataset{Name: "fake", Train: labelSource{3000}, NumClasses: 10, Shape: datasets.Shape{H: 28, W: 28, C: 1}}
	cfg := DefaultConfig("mbv2-w0.35", "base")
	cfg.Data, cfg.TrainLimit, cfg.Balanced = "fake", 600, true
	a, err := TrainIndices(ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]int, 10)
	for _, i := range a {
		counts[ds.Train.Label(i)]++
	}
	for c, n := range counts {
		if n != 60 {
			t.Fatalf("class %d: %d images, want 60 (counts %v)", c, n, counts)
		}
	}
	for _, seed := range []uint64{2, 99} {
		c := cfg
		c.Seed = seed
		if b, _ := TrainIndices(ds, c); !reflect.DeepEqual(a, b) {
			t.Fatalf("the balanced subset changed with --seed %d", seed)
		}
	}
	c := cfg
	c.SubsetSeed = 1
	if b, _ := TrainIndices(ds, c); reflect.DeepEqual(a, b) {
		t.Fatal("the balanced subset does not depend on the subset seed")
	}
	cfg.BNCalib, cfg.Batch = 100, 10
	ld, err := calibLoader(ds, cfg, datasets.Transform{Size: 32, Pad: 2}, a)
	if err != nil {
		t.Fatal(err)
	}
	if got := ld.Order(0); !reflect.DeepEqual(got, a[:100]) {
		t.Fatalf("calibration pool %v, want the first 100 of the subset", got)
	}
	cfg.TrainLimit = 605
	if _, err := TrainIndices(ds, cfg); err == nil || !strings.Contains(err.Error(), "605 images do not divide evenly among the 10 classes") {
		t.Fatalf("limit not divisible: %v", err)
	}
	cfg.TrainLimit, cfg.Balanced, cfg.Seed = 600, false, 4
	if b, _ := TrainIndices(ds, cfg); !reflect.DeepEqual(b, subset(ds.Train, 600, 4)) {
		t.Fatal("without Balanced the subset is not subset(train, limit, seed)")
	}
}

// TestValidateRejects: the settings a user can get wrong are errors before any training: non-finite rates and
// weights (NaN passes a "> 0" check), a balanced subset without a limit, a subset seed without --balanced, an
// unknown augmentation.
func TestValidateRejects(t *testing.T) {
	ok := DefaultConfig("mbv2-w0.35", "augshift")
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.LR = math.NaN() }, "learning rate NaN: must be a finite number"},
		{func(c *Config) { c.LR = math.Inf(1) }, "learning rate +Inf"},
		{func(c *Config) { c.WeightDecay = math.NaN() }, "weight decay NaN"},
		{func(c *Config) { c.Alpha = math.Inf(1) }, "alpha +Inf"},
		{func(c *Config) { c.Balanced = true }, "balanced training subset needs a training limit"},
		{func(c *Config) { c.SubsetSeed = 3 }, "subset seed 3: applies to balanced training subsets only"},
		{func(c *Config) { c.Augment = "mixup" }, `unknown augmentation "mixup"`},
	} {
		c := ok
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error containing %q", err, tc.want)
		}
	}
	for _, a := range []string{"", "netaug", "padcrop", "none"} {
		c := ok
		c.Augment = a
		if err := c.Validate(); err != nil {
			t.Errorf("augment %q: %v", a, err)
		}
	}
}

// TestRunAndLoadBalancedPadCrop: a one-epoch run with a balanced subset and pad-and-crop trains, records both in
// its state, and Load rebuilds the same pipeline: the padcrop eval transform, the calibration pool (the first
// BNCalib images of the balanced subset) with the padcrop training transform, and the run's test accuracy.
func TestRunAndLoadBalancedPadCrop(t *testing.T) {
	skipWithoutData(t)
	cfg := DefaultConfig("mbv2-w0.35", "base")
	cfg.Epochs, cfg.WarmupEpochs, cfg.Batch, cfg.LR = 1, 0, 20, NetAugLR(cfg.Model, 20)
	cfg.TrainLimit, cfg.Balanced, cfg.SubsetSeed, cfg.TestLimit, cfg.BNCalib, cfg.Augment = 40, true, 5, 20, 20, "padcrop"
	dir := t.TempDir()
	backend := engine.MustNew()
	res, err := Run(backend, cfg, RunOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	l, err := Load(backend, dir, datasets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c := l.State.Config; !c.Balanced || c.SubsetSeed != 5 || c.Augment != "padcrop" {
		t.Fatalf("state config %+v", c)
	}
	trainT, evalT, err := datasets.Transforms(l.Data, cfg.Res, "padcrop")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(l.EvalT, evalT) {
		t.Errorf("Load's eval transform %+v, want padcrop's %+v", l.EvalT, evalT)
	}
	idx, err := TrainIndices(l.Data, cfg)
	if err != nil {
		t.Fatal(err)
	}
	pool := l.Calib.Order(0)
	if !reflect.DeepEqual(pool, idx[:20]) {
		t.Fatalf("calibration pool %v, want the first 20 of the balanced subset %v", pool, idx)
	}
	want, err := datasets.NewLoader(l.Data.Train, datasets.LoaderConfig{BatchSize: 20, Seed: cfg.Seed + 3, Transform: trainT,
		Layout: datasets.NHWC, Indices: pool})
	if err != nil {
		t.Fatal(err)
	}
	a, err := l.Calib.MakeBatch(pool, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := want.MakeBatch(pool, 0, 0)
	if !reflect.DeepEqual(a.Images, b.Images) {
		t.Error("the calibration loader does not use the padcrop training transform")
	}
	tl, err := l.TestLoader(cfg.TestLimit, cfg.EvalBatch(), cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	acc, loss, err := l.Session.Evaluate(tl)
	if err != nil || acc != res.FinalAcc {
		t.Errorf("loaded run evaluates to %v (%v), the run recorded %v", acc, err, res.FinalAcc)
	}
	// Evaluation's batch changes nothing but the rounding of the mean loss (inference-mode batch norm).
	tl7, err := l.TestLoader(cfg.TestLimit, 7, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	if acc7, loss7, err := l.Session.Evaluate(tl7); err != nil || acc7 != acc || math.Abs(loss7-loss) > 1e-5*math.Abs(loss) {
		t.Errorf("in batches of 7 the run evaluates to %v, loss %v (%v); in batches of %d to %v, loss %v", acc7, loss7, err,
			cfg.EvalBatch(), acc, loss)
	}
}
