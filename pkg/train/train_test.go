package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/datasets"
	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/pkg/models"
)

// quadrantBatch is a small synthetic task: the class is which quadrant of the image holds a bright square.
func quadrantBatch(rng *rand.Rand, n, res int) *datasets.Batch {
	b := &datasets.Batch{Images: make([]float32, n*res*res*3), Shape: [4]int{n, res, res, 3}, Layout: datasets.NHWC,
		Labels: make([]int32, n)}
	h := res / 2
	for i := 0; i < n; i++ {
		c := rng.IntN(4)
		b.Labels[i] = int32(c)
		y0, x0 := (c/2)*h, (c%2)*h
		for y := 0; y < res; y++ {
			for x := 0; x < res; x++ {
				for ch := 0; ch < 3; ch++ {
					v := float32(rng.NormFloat64()) * 0.3
					if y >= y0+2 && y < y0+h-2 && x >= x0+2 && x < x0+h-2 {
						v += 1.5
					}
					b.Images[((i*res+y)*res+x)*3+ch] = v
				}
			}
		}
	}
	return b
}

// trainLosses trains steps steps on the quadrant task at learning rate lr and returns the target's losses.
func trainLosses(t *testing.T, model, method string, steps int, lr float64) []float64 {
	t.Helper()
	cfg := DefaultConfig(model, method)
	cfg.Res, cfg.Batch, cfg.Epochs, cfg.WarmupEpochs, cfg.LR = 32, 16, 1, 0, lr
	cfg.StepsPerEpoch = steps
	s, err := NewSession(engine.MustNew(), cfg, 4)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	batches := make([]*datasets.Batch, 4)
	for i := range batches {
		batches[i] = quadrantBatch(rng, cfg.Batch, cfg.Res)
	}
	losses := make([]float64, steps)
	for i := range losses {
		r, err := s.TrainStep(batches[i%len(batches)], models.SampleRandom)
		if err != nil {
			t.Fatal(err)
		}
		losses[i] = r.LossTarget
	}
	return losses
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// trainLossFalls trains a few steps on the quadrant task and reports the mean loss of the first and last steps.
func trainLossFalls(t *testing.T, model, method string, steps int) (first, last float64) {
	t.Helper()
	losses := trainLosses(t, model, method, steps, 0.05)
	k := 3
	return mean(losses[:k]), mean(losses[steps-k:])
}

// TestLossFallsAllModelsAndMethods: every paper model trains with every operator on the pure-Go engine. Adder
// networks learn more slowly (AdderNet's adaptive step has a fixed norm per layer), so they get more steps and a
// smaller required drop; the paper itself reports AddConv diverging on MobileNetV3 (its note 2), so there it must
// only stay finite.
func TestLossFallsAllModelsAndMethods(t *testing.T) {
	models := []string{"mbv2-w0.35", "mbv3-w0.35", "mcunet-in3", "proxyless-w0.35", "mbv2-tiny"}
	for _, m := range models {
		for _, meth := range []string{"base", "shift", "add"} {
			steps, ratio := 20, 0.8
			if meth == "add" {
				steps, ratio = 40, 0.95
			}
			first, last := trainLossFalls(t, m, meth, steps)
			t.Logf("%s/%s: loss %.3f -> %.3f in %d steps", m, meth, first, last, steps)
			if math.IsNaN(last) || math.IsInf(last, 0) {
				t.Errorf("%s/%s: loss is %v", m, meth, last)
				continue
			}
			if m == "mbv3-w0.35" && meth == "add" {
				continue
			}
			if !(last < ratio*first) {
				t.Errorf("%s/%s: loss did not fall by %.0f%%: %.4f -> %.4f", m, meth, 100*(1-ratio), first, last)
			}
		}
	}
}

// TestLossFallsAugmented: the augmented methods train on the pure-Go engine. The quadrant task has 4 classes, so
// chance is ln 4 ≈ 1.386; at this rate every method's loss first rises for a few steps (the wide net's first
// updates are large), so the first steps are not the reference: all three must end well below chance. (Before
// the adder recipe of issue 13, AdderRecipe, the augadd target never got below chance here.)
func TestLossFallsAugmented(t *testing.T) {
	chance := math.Log(4)
	for _, meth := range []string{"netaug", "augshift", "augadd"} {
		losses := trainLosses(t, "mbv2-w0.35", meth, 48, 0.025)
		peak, last := 0.0, mean(losses[40:])
		for _, l := range losses {
			if math.IsNaN(l) || math.IsInf(l, 0) {
				t.Fatalf("%s: loss %v (losses %.3f)", meth, l, losses)
			}
			peak = max(peak, l)
		}
		t.Logf("mbv2-w0.35/%s: first %.3f, peak %.3f, mean of the last 8 steps %.3f (chance %.3f)", meth, losses[0],
			peak, last, chance)
		if !(last < 0.8*chance) {
			t.Errorf("%s: the loss did not fall below chance: last 8 steps %.3f, chance %.3f", meth, last, chance)
		}
	}
}
