package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
)

// adderRun trains mbv2-w0.35 with Add layers (method add) on a seeded 640-image subset of Fashion-MNIST for 6
// epochs (20 steps each, batch 32, lr 0.025) with the given adder recipe and returns its final test accuracy on
// 500 test images.
func adderRun(t *testing.T, recipe AdderRecipe) float64 {
	t.Helper()
	cfg := DefaultConfig("mbv2-w0.35", "add")
	cfg.Res, cfg.Batch, cfg.Epochs, cfg.WarmupEpochs, cfg.LR = 32, 32, 8, 1, 0.025
	cfg.TrainLimit, cfg.TestLimit, cfg.BNCalib = 640, 500, 512
	cfg.AdderRecipe = recipe
	res, err := Run(engine.MustNew(), cfg, RunOptions{})
	if err != nil {
		t.Fatalf("%s: %v", recipe, err)
	}
	var losses []float64
	for _, h := range res.History {
		losses = append(losses, math.Round(h.LossTarget*1000)/1000)
	}
	t.Logf("recipe %q: final test accuracy %.1f%% (best %.1f%%), training losses %v", recipe, 100*res.FinalAcc,
		100*res.BestAcc, losses)
	return res.FinalAcc
}

// TestAdderRecipeTrainsAdd (issue 13): with the default adder recipe (AdderLarge: N(0, 4²) weights, η = 4) an
// Add network learns from real images in a few hundred steps; with AdderNet's setting (N(0, 1), η = 0.2) it
// stays at chance (10%) at this scale, as the kaiming-uniform setting did before the recipe existed.
func TestAdderRecipeTrainsAdd(t *testing.T) {
	skipWithoutData(t)
	if testing.Short() {
		t.Skip("trains two small networks")
	}
	if acc := adderRun(t, ""); acc < 0.35 {
		t.Errorf("default adder recipe: test accuracy %.1f%%, want at least 35%% (chance 10%%)", 100*acc)
	}
	if acc := adderRun(t, AdderNetRecipe); acc > 0.2 {
		t.Errorf("AdderNet's recipe: test accuracy %.1f%%, expected near chance (10%%) at this scale", 100*acc)
	}
}

// TestAdderRecipeParams: the recipes' numbers, the overrides, and the defaults they leave to other methods.
func TestAdderRecipeParams(t *testing.T) {
	for _, c := range []struct {
		cfg          Config
		initStd, eta float64
	}{
		{Config{}, 4, 4},
		{Config{AdderRecipe: AdderLarge}, 4, 4},
		{Config{AdderRecipe: AdderNetRecipe}, 1, 0.2},
		{Config{AdderRecipe: AdderKaiming}, 0, 0.2},
		{Config{AdderRecipe: AdderNetRecipe, AdderEta: 1}, 1, 1},
		{Config{AdderInitStd: 2}, 2, 4},
	} {
		if s, e := c.cfg.adderParams(); s != c.initStd || e != c.eta {
			t.Errorf("%+v: init std %g, η %g; want %g, %g", c.cfg, s, e, c.initStd, c.eta)
		}
	}
	for _, bad := range []Config{{AdderRecipe: "adder"}, {AdderEta: -1}, {AdderInitStd: math.NaN()}, {Method: "shift", AdderEta: 1}} {
		if err := bad.validateAdder(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	cfg := DefaultConfig("mbv2-w0.35", "add")
	cfg.AdderRecipe = AdderNetRecipe
	s, err := NewSession(engine.MustNew(), cfg, 10)
	if err != nil {
		t.Fatal(err)
	}
	if s.Net.AddInitStd != 1 || s.Ops().Add.Eta != 0.2 {
		t.Errorf("addernet session: init std %g, η %g; want 1, 0.2", s.Net.AddInitStd, s.Ops().Add.Eta)
	}
	s, err = NewSession(engine.MustNew(), DefaultConfig("mbv2-w0.35", "augshift"), 10)
	if err != nil {
		t.Fatal(err)
	}
	if s.Net.AddInitStd != 0 || s.Ops().Add.Eta != 0 {
		t.Errorf("augshift session: adder init std %g, η %g; want both untouched (0)", s.Net.AddInitStd, s.Ops().Add.Eta)
	}
}

// meanAbsChannelCorrelation is the mean |Pearson correlation| over the pairs of output channels of a 1x1 adder
// layer, y_o = −Σ_i |x_i − w_io|, on n input vectors drawn by draw, with weights drawn by weight.
func meanAbsChannelCorrelation(rng *rand.Rand, n, in, out int, draw, weight func() float64) float64 {
	w := make([][]float64, out)
	for o := range w {
		w[o] = make([]float64, in)
		for i := range w[o] {
			w[o][i] = weight()
		}
	}
	y := make([][]float64, out)
	x := make([]float64, in)
	for s := 0; s < n; s++ {
		for i := range x {
			x[i] = draw()
		}
		for o := range y {
			v := 0.0
			for i, xi := range x {
				v -= math.Abs(xi - w[o][i])
			}
			y[o] = append(y[o], v)
		}
	}
	sum, pairs := 0.0, 0
	for a := 0; a < out; a++ {
		for b := a + 1; b < out; b++ {
			sum += math.Abs(pearson(y[a], y[b]))
			pairs++
		}
	}
	return sum / float64(pairs)
}

func pearson(a, b []float64) float64 {
	var ma, mb float64
	for i := range a {
		ma, mb = ma+a[i], mb+b[i]
	}
	ma, mb = ma/float64(len(a)), mb/float64(len(b))
	var sab, saa, sbb float64
	for i := range a {
		da, db := a[i]-ma, b[i]-mb
		sab, saa, sbb = sab+da*db, saa+da*da, sbb+db*db
	}
	return sab / math.Sqrt(saa*sbb)
}

// TestAdderChannelCollapseAtSmallInit is the mechanism behind AdderRecipe: on batch-normalised inputs (unit
// normal, and the same after ReLU6 as a projection's input), an adder whose weights are far smaller than the
// inputs computes nearly the same function in every output channel (−Σ|x − w| ≈ −Σ|x|), while weights a few
// times the input scale give channels that differ.
func TestAdderChannelCollapseAtSmallInit(t *testing.T) {
	const n, in, out = 2000, 64, 16
	rng := rand.New(rand.NewPCG(1, 2))
	normal := func() float64 { return rng.NormFloat64() }
	relu6 := func() float64 { return math.Min(math.Max(rng.NormFloat64(), 0), 6) }
	kaiming := func() float64 { return (2*rng.Float64() - 1) / math.Sqrt(in) }
	large := func() float64 { return 4 * rng.NormFloat64() }
	for _, input := range []struct {
		name string
		draw func() float64
	}{{"N(0,1)", normal}, {"ReLU6(N(0,1))", relu6}} {
		small := meanAbsChannelCorrelation(rng, n, in, out, input.draw, kaiming)
		unit := meanAbsChannelCorrelation(rng, n, in, out, input.draw, normal) // AdderNet's N(0, 1)
		big := meanAbsChannelCorrelation(rng, n, in, out, input.draw, large)
		t.Logf("%s inputs: mean |channel correlation| %.2f with kaiming-uniform weights, %.2f with N(0, 1), %.2f with N(0, 4²)",
			input.name, small, unit, big)
		if small < 0.9 || big > 0.6 {
			t.Errorf("%s inputs: correlation %.2f (kaiming), %.2f (std 4); want >= 0.9 and <= 0.6", input.name, small, big)
		}
	}
}
