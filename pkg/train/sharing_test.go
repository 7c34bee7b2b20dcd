package train

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/pkg/hybrid"
	"github.com/shiftaddaug/shiftaddaug/pkg/models"
	"github.com/shiftaddaug/shiftaddaug/pkg/models/deploy"
	"github.com/shiftaddaug/shiftaddaug/pkg/models/export"
)

// TestSharingAblations runs one augshift step with every weight-sharing mode of Tables 7-10 and checks what
// makes each mode what it is: ShiftAddNAS's modes add their KL penalty to the target loss (and only the
// piecewise one creates bin scalars), "none" gives the augmented pass variables of its own and leaves the
// target's unused wide channels untouched, and every mode exports a target the integer kernels run exactly as
// the reference runner does.
func TestSharingAblations(t *testing.T) {
	backend := engine.MustNew()
	batch := quadrantBatch(rand.New(rand.NewPCG(1, 2)), 8, 32)
	var plainLoss float64
	for _, sharing := range hybrid.SharingModes {
		cfg := DefaultConfig("mbv2-w0.35", "augshift")
		cfg.Res, cfg.Batch, cfg.Epochs, cfg.WarmupEpochs, cfg.StepsPerEpoch, cfg.Sharing = 32, 8, 1, 0, 1, string(sharing)
		s, err := NewSession(backend, cfg, 4)
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.TrainStep(batch, models.SampleMax)
		if err != nil {
			t.Fatalf("%s: %v", sharing, err)
		}
		if math.IsNaN(r.LossTarget) || math.IsNaN(r.LossAug) {
			t.Errorf("%s: loss NaN on the first step (target %g, aug %g)", sharing, r.LossTarget, r.LossAug)
		}
		scalars := 0
		unshared := 0
		for v := range s.Ctx.IterVariables() {
			if v.Name() == hybrid.PiecewiseScaleName {
				scalars++
			}
			if len(v.Scope()) > len(UnsharedScope) && v.Scope()[1:len(UnsharedScope)+1] == UnsharedScope {
				unshared++
			}
		}
		switch sharing {
		case hybrid.SharePlain:
			plainLoss = r.LossTarget
		case hybrid.SharePiecewise:
			if scalars == 0 {
				t.Errorf("piecewise: no %s variables", hybrid.PiecewiseScaleName)
			}
		case hybrid.ShareNone:
			if unshared == 0 {
				t.Errorf("none: the augmented pass made no variables of its own under /%s", UnsharedScope)
			}
		}
		if sharing != hybrid.SharePiecewise && scalars != 0 {
			t.Errorf("%s: %d piecewise scalars", sharing, scalars)
		}
		if sharing != hybrid.ShareNone && unshared != 0 {
			t.Errorf("%s: %d unshared variables", sharing, unshared)
		}
		switch sharing {
		case hybrid.ShareKL:
			// Same weights as plain sharing, so the same cross entropy; the penalty comes on top.
			if r.LossTarget != plainLoss {
				t.Errorf("kl: target loss %g, plain sharing's %g: the weights should be the same", r.LossTarget, plainLoss)
			}
			fallthrough
		case hybrid.SharePiecewise:
			if !(r.Penalty > 0) {
				t.Errorf("%s: KL penalty %g", sharing, r.Penalty)
			}
		default:
			if r.Penalty != 0 {
				t.Errorf("%s: penalty %g", sharing, r.Penalty)
			}
		}
		path := filepath.Join(t.TempDir(), "t.saaug")
		if _, err := s.ExportTarget(path, export.Input{Res: cfg.Res}); err != nil {
			t.Fatalf("%s: export: %v", sharing, err)
		}
		m, err := export.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		run, err := deploy.New(m)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := deploy.NewReference(m)
		if err != nil {
			t.Fatal(err)
		}
		_, c1, err := run.Predict(batch.Images, batch.Size(), 32, 32)
		if err != nil {
			t.Fatal(err)
		}
		_, c2, err := ref.Predict(batch.Images, batch.Size(), 32, 32)
		if err != nil {
			t.Fatal(err)
		}
		for i := range c1 {
			if c1[i] != c2[i] {
				t.Errorf("%s: integer kernels predict %d, reference %d", sharing, c1[i], c2[i])
			}
		}
	}
}

// TestUnsharedLeavesTargetAlone: with no weight sharing, the augmented loss cannot reach the target's
// variables: a step with α = 1 moves them exactly as a step with α = 0.
func TestUnsharedLeavesTargetAlone(t *testing.T) {
	backend := engine.MustNew()
	batch := quadrantBatch(rand.New(rand.NewPCG(3, 4)), 8, 32)
	weights := map[float64][]float32{}
	for _, alpha := range []float64{0, 1} {
		cfg := DefaultConfig("mbv2-w0.35", "augshift")
		cfg.Res, cfg.Batch, cfg.Epochs, cfg.WarmupEpochs, cfg.StepsPerEpoch, cfg.Sharing, cfg.Alpha = 32, 8, 1, 0, 2, "none", alpha
		s, err := NewSession(backend, cfg, 4)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			if _, err := s.TrainStep(batch, models.SampleMax); err != nil {
				t.Fatal(err)
			}
		}
		weights[alpha], _ = tensors.CopyFlatData[float32](s.Ctx.GetVariableByScopeAndName("/blocks.3/expand", "weights").MustValue())
	}
	a, b := weights[0], weights[1]
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("target weight %d: %g with α=0, %g with α=1: the augmented pass reached the target", i, a[i], b[i])
		}
	}
}
