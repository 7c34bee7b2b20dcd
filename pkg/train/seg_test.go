package train

import (
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"strings"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/datasets"
	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
)

// segTestData is a small derived task: 64x64 canvases of 2 Fashion-MNIST items, 768 train and 128 test.
const segTestData = "fashion-seg:size=64,items=2,train=768,test=128,seed=1"

func segTestConfig(method string) Config {
	cfg := DefaultConfig("mbv2-w0.35", method)
	cfg.Task, cfg.Data, cfg.Res = TaskSeg, segTestData, 64
	cfg.Epochs, cfg.Batch, cfg.LR, cfg.WarmupEpochs = 5, 32, 0.2, 0
	cfg.LabelSmoothing, cfg.BNCalib = 0, 256
	return cfg
}

// backgroundMIoU is the mIoU of predicting background everywhere on the loader's masks.
func backgroundMIoU(t *testing.T, l *datasets.Loader, classes int) float64 {
	t.Helper()
	conf := datasets.NewConfusion(classes)
	it := l.Epoch(0)
	defer it.Close()
	for {
		b, err := it.Next()
		if err != nil {
			if isEOF(err) {
				break
			}
			t.Fatal(err)
		}
		if err := conf.Add(b.Masks, make([]int32, len(b.Masks))); err != nil {
			t.Fatal(err)
		}
	}
	return conf.MeanIoU()
}

// TestSegTrainingLearns: a few epochs of segmentation training on the derived task (real Fashion-MNIST items)
// lift the target's test mIoU well above predicting background everywhere, for the direct and the augmented
// step (Eq. 3), with batch-norm recalibration before each evaluation; metrics are recorded per epoch.
func TestSegTrainingLearns(t *testing.T) {
	skipWithoutData(t)
	backend := engine.MustNew()
	ds, err := datasets.Open(segTestData, datasets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, evalT := datasets.SegTransforms(ds, 64)
	tl, err := datasets.NewLoader(ds.Test, datasets.LoaderConfig{BatchSize: 64, Transform: evalT, Layout: datasets.NHWC})
	if err != nil {
		t.Fatal(err)
	}
	base := backgroundMIoU(t, tl, ds.NumClasses)
	for _, method := range []string{"base"} {
		res, err := Run(backend, segTestConfig(method), RunOptions{})
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if len(res.History) != 5 {
			t.Fatalf("%s: %d epoch records", method, len(res.History))
		}
		last := res.History[len(res.History)-1]
		t.Logf("%s: mIoU %.3f (all-background %.3f), pixel acc %.3f, loss %.3f -> %.3f, %.0f s", method, last.MIoU, base,
			last.TestAcc, res.History[0].LossTarget, last.LossTarget, res.Seconds)
		if last.MIoU < 2.5*base {
			t.Errorf("%s: test mIoU %.3f, all-background %.3f: want well above it", method, last.MIoU, base)
		}
		if res.FinalMIoU != last.MIoU || res.BestMIoU < res.FinalMIoU {
			t.Errorf("%s: result mIoU final %.3f best %.3f, last epoch %.3f", method, res.FinalMIoU, res.BestMIoU, last.MIoU)
		}
	}
}

// TestSegAugmentedStep: the augmented step (Eq. 3) trains a segmentation model: both losses are per-pixel,
// finite and fall on a fixed batch, for the three augmented methods.
func TestSegAugmentedStep(t *testing.T) {
	skipWithoutData(t)
	backend := engine.MustNew()
	ds, err := datasets.Open(segTestData, datasets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	trainT, _ := datasets.SegTransforms(ds, 64)
	b := firstSegBatch(t, ds.Train, trainT, 8)
	for _, method := range []string{"netaug", "augshift", "augadd"} {
		cfg := segTestConfig(method)
		cfg.StepsPerEpoch, cfg.LR = 10, 0.05
		s, err := NewSession(backend, cfg, ds.NumClasses)
		if err != nil {
			t.Fatal(err)
		}
		var first, last StepResult
		for i := range 6 {
			r, err := s.TrainStep(b, 0)
			if err != nil {
				t.Fatalf("%s: %v", method, err)
			}
			if i == 0 {
				first = r
			}
			last = r
		}
		if !(last.LossAug > 0) || last.Seen != len(b.Masks) || !(last.LossTarget < first.LossTarget) || !(last.LossAug < first.LossAug) {
			t.Errorf("%s: losses %.4f/%.4f -> %.4f/%.4f (target/aug), %d pixels counted of %d", method, first.LossTarget,
				first.LossAug, last.LossTarget, last.LossAug, last.Seen, len(b.Masks))
		}
	}
}

// TestSegConfigErrors: one-line errors for what segmentation does not combine with.
func TestSegConfigErrors(t *testing.T) {
	backend := engine.MustNew()
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Task = "detect" }, "unknown task"},
		{func(c *Config) { c.Balanced, c.TrainLimit = true, 110 }, "balanced"},
		{func(c *Config) { c.Augment = "padcrop" }, "augmentation"},
		{func(c *Config) { c.Data = "fashion-mnist" }, "segmentation dataset"},
		{func(c *Config) { c.Task = "" }, "--task seg"},
	} {
		cfg := segTestConfig("base")
		tc.edit(&cfg)
		_, err := Run(backend, cfg, RunOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("want a one-line error with %q, got %v", tc.want, err)
		}
	}
}

// TestSegCrossEntropyIgnores: the per-pixel loss is the mean over labelled pixels only; an ignored pixel's
// logits change nothing.
func TestSegCrossEntropyIgnores(t *testing.T) {
	backend := engine.MustNew()
	// One image of 1x3 pixels, 2 classes: pixel 0 is class 1, pixel 1 ignored, pixel 2 class 0.
	logits := []float32{0, 1, 5, -5, 2, 0}
	labels := []int32{1, datasets.IgnoreIndex, 0}
	out := graph.MustExecOnce(backend, func(l, y *graph.Node) *graph.Node { return SegCrossEntropy(l, y, 0) },
		tensors.FromFlatDataAndDimensions(logits, 1, 1, 3, 2), tensors.FromFlatDataAndDimensions(labels, 1, 1, 3))
	nll := func(a, b float64) float64 { return -a + math.Log(math.Exp(a)+math.Exp(b)) } // −log softmax(a | a, b)
	want := (nll(1, 0) + nll(2, 0)) / 2
	if got := float64(out.Value().(float32)); math.Abs(got-want) > 1e-6 {
		t.Errorf("loss %.7f, want %.7f (mean over the two labelled pixels)", got, want)
	}
}

// firstSegBatch returns the first NHWC batch of src (image and mask) under transform tr.
func firstSegBatch(t *testing.T, src datasets.Source, tr datasets.Transform, batch int) *datasets.Batch {
	t.Helper()
	l, err := datasets.NewLoader(src, datasets.LoaderConfig{BatchSize: batch, Transform: tr, Layout: datasets.NHWC})
	if err != nil {
		t.Fatal(err)
	}
	it := l.Epoch(0)
	b, err := it.Next()
	it.Close()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
