package train

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/pkg/hybrid"
	"github.com/shiftaddaug/shiftaddaug/pkg/models"
	"github.com/shiftaddaug/shiftaddaug/pkg/models/export"
)

// stepSession builds a session of model/method and trains it one step, so that its variables exist.
func stepSession(t *testing.T, model, method, sharing string) *Session {
	t.Helper()
	cfg := DefaultConfig(model, method)
	cfg.Res, cfg.Batch, cfg.Epochs, cfg.WarmupEpochs, cfg.StepsPerEpoch, cfg.Sharing = 32, 8, 1, 0, 1, sharing
	s, err := NewSession(engine.MustNew(), cfg, 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.TrainStep(quadrantBatch(rand.New(rand.NewPCG(1, 2)), cfg.Batch, cfg.Res), models.SampleMax); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTargetWeightsHWS reads a layer of an augmented Shift network with HWS and checks each stage: the shared
// slice is the leading block of the wide stored tensor, the remapped weights are Eq. 5's map of it, and the
// effective weights are exactly those the export (the target pass's weights) holds.
func TestTargetWeightsHWS(t *testing.T) {
	s := stepSession(t, "mbv2-w0.35", "augshift", "hws")
	const scope = "blocks.16/project"
	wide, dims, err := LayerWeights(s.Ctx, scope)
	if err != nil {
		t.Fatal(err)
	}
	tw, err := s.TargetWeights(scope)
	if err != nil {
		t.Fatal(err)
	}
	target := tw.Layer.WeightDims()
	if len(dims) != 4 || dims[2] <= target[2] || dims[3] <= target[3] || len(wide) != dims[2]*dims[3] {
		t.Fatalf("stored weights %v, target %v: want a wider stored tensor", dims, target)
	}
	if tw.Layer.Op.String() != "shift" || len(tw.Shared) != target[2]*target[3] {
		t.Fatalf("layer %+v, %d shared weights", tw.Layer, len(tw.Shared))
	}
	for i := 0; i < target[2]; i++ {
		for j := 0; j < target[3]; j++ {
			if tw.Shared[i*target[3]+j] != wide[i*dims[3]+j] {
				t.Fatalf("shared[%d,%d] = %v, stored %v", i, j, tw.Shared[i*target[3]+j], wide[i*dims[3]+j])
			}
		}
	}
	// Remapped: the Gaussian-CDF -> Laplace-PPF map with the slice's own mean and std (identity FC).
	var mu, sd float64
	for _, w := range tw.Shared {
		mu += float64(w) / float64(len(tw.Shared))
	}
	for _, w := range tw.Shared {
		sd += (float64(w) - mu) * (float64(w) - mu) / float64(len(tw.Shared))
	}
	sd = math.Sqrt(sd)
	changed := 0
	for i, w := range tw.Shared {
		want := hybrid.DefaultRemap().RemapValue(float64(w), mu, sd)
		// The graph computes 1 − erf in float32: exact to ~1e-5 σ in the bulk, coarse far in the tails.
		tol := 1e-3 * sd
		if math.Abs(float64(w)-mu) > 4*sd {
			tol = 0.05 * sd
		}
		if math.Abs(float64(tw.Remapped[i])-want) > tol {
			t.Fatalf("remapped[%d] = %v, Eq. 5 gives %v (w %v)", i, tw.Remapped[i], want, w)
		}
		if tw.Remapped[i] != w {
			changed++
		}
	}
	if changed < len(tw.Shared)/2 {
		t.Errorf("HWS changed only %d of %d weights", changed, len(tw.Shared))
	}
	// Effective: what the export, i.e. the target pass, uses.
	m, err := export.Extract(s.Ctx, s.Net, export.Options{Ops: s.Ops(), Backend: s.Backend})
	if err != nil {
		t.Fatal(err)
	}
	l := m.Layer(scope)
	if l == nil || len(l.Sign) != len(tw.Effective) {
		t.Fatalf("exported layer %+v", l)
	}
	for i, e := range tw.Effective {
		if want := float32(float64(l.Sign[i]) * math.Ldexp(1, int(l.Exp[i]))); e != want {
			t.Fatalf("effective[%d] = %v, exported %v", i, e, want)
		}
	}

	for _, bad := range []string{"blocks.99/project", "blocks.16"} {
		if _, err := s.TargetWeights(bad); err == nil || !strings.Contains(err.Error(), "no layer") {
			t.Errorf("TargetWeights(%q): %v", bad, err)
		}
	}
	if _, _, err := LayerWeights(s.Ctx, "nowhere"); err == nil {
		t.Error("LayerWeights of a missing scope: no error")
	}
}

// TestTargetWeightsMult: a multiplicative layer is used as stored, whatever the sharing.
func TestTargetWeightsMult(t *testing.T) {
	s := stepSession(t, "mbv2-w0.35", "base", "")
	tw, err := s.TargetWeights("stem")
	if err != nil {
		t.Fatal(err)
	}
	stored, dims, err := LayerWeights(s.Ctx, "stem")
	if err != nil {
		t.Fatal(err)
	}
	if len(dims) != 4 || dims[0] != 3 || dims[2] != 3 || len(tw.Shared) != len(stored) {
		t.Fatalf("stem weights %v, %d shared", dims, len(tw.Shared))
	}
	for i := range stored {
		if tw.Shared[i] != stored[i] || tw.Remapped[i] != stored[i] || tw.Effective[i] != stored[i] {
			t.Fatalf("weight %d: %v %v %v, stored %v", i, tw.Shared[i], tw.Remapped[i], tw.Effective[i], stored[i])
		}
	}
}

func TestStats(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	gauss, laplace := make([]float32, 200000), make([]float32, 200000)
	for i := range gauss {
		gauss[i] = float32(1 + 2*rng.NormFloat64())
		laplace[i] = float32(rng.ExpFloat64())
		if rng.IntN(2) == 0 {
			laplace[i] = -laplace[i]
		}
	}
	g, l := Stats(gauss), Stats(laplace)
	if math.Abs(g.Mean-1) > 0.02 || math.Abs(g.Std-2) > 0.02 || math.Abs(g.ExcessKurtosis) > 0.1 || g.N != 200000 {
		t.Errorf("Gaussian: %+v", g)
	}
	if math.Abs(l.Mean) > 0.02 || math.Abs(l.Std-math.Sqrt2) > 0.03 || math.Abs(l.ExcessKurtosis-3) > 0.3 {
		t.Errorf("Laplace: %+v", l)
	}
	q := Stats([]float32{-0.5, 0.25, 0.25, 1, 0.25})
	if q.Distinct != 3 || q.Min != -0.5 || q.Max != 1 || math.Abs(q.Mean-0.25) > 1e-12 {
		t.Errorf("small set: %+v", q)
	}
	if c := Stats([]float32{2, 2}); c.Std != 0 || c.ExcessKurtosis != 0 || c.Distinct != 1 {
		t.Errorf("constant: %+v", c)
	}
	if z := Stats(nil); z.N != 0 || z.Distinct != 0 {
		t.Errorf("empty: %+v", z)
	}
}
