package train

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/pkg/models"
)

// TestReorderKeepsAugmentedFunction: sorting channels permutes every tensor on the shared axis consistently, so
// the widest augmented network computes the same logits before and after, while the target (the leading
// slice) changes. Checked on MobileNetV3 (it has SE blocks) with the multiplicative method.
func TestReorderKeepsAugmentedFunction(t *testing.T) {
	s, logits := steppedSession(t, "mbv3-w0.35", "netaug", 2) // the steps create the variables and momentum buffers
	momentum := func() []float32 {
		v := s.Ctx.InspectVariable("/optimizer/blocks.12/project", "weights_momentum")
		if v == nil {
			t.Fatal("no momentum buffer for blocks.12/project")
		}
		return tensors.MustCopyFlatData[float32](v.MustValue())
	}
	weights := func() []float32 {
		return tensors.MustCopyFlatData[float32](s.Ctx.InspectVariable("/blocks.12/project", "weights").MustValue())
	}
	augBefore, targetBefore := logits()
	wBefore, mBefore := weights(), momentum()
	if _, err := ReorderChannels(s.Ctx, s.Net.Arch.Blocks, MomentumFollow, false); err != nil {
		t.Fatal(err)
	}
	augAfter, targetAfter := logits()
	var maxAug, maxTarget, scaleAug, scaleTarget float64
	for i := range augBefore {
		maxAug = math.Max(maxAug, math.Abs(float64(augAfter[i]-augBefore[i])))
		maxTarget = math.Max(maxTarget, math.Abs(float64(targetAfter[i]-targetBefore[i])))
		scaleAug = math.Max(scaleAug, math.Abs(float64(augBefore[i])))
		scaleTarget = math.Max(scaleTarget, math.Abs(float64(targetBefore[i])))
	}
	t.Logf("augmented logits: change %g (scale %g); target: change %g (scale %g)", maxAug, scaleAug, maxTarget, scaleTarget)
	if maxAug > 1e-4*scaleAug {
		t.Errorf("augmented logits changed by %g (scale %g) after reordering", maxAug, scaleAug)
	}
	if maxTarget == 0 {
		t.Errorf("target logits unchanged: the reorder moved nothing into the target slice")
	}
	// The mid channels are now in decreasing importance (L1 of the project conv's input slices).
	proj := s.Ctx.InspectVariable("/blocks.12/project", "weights")
	order, err := importanceOrder(proj, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range order {
		if o != i {
			t.Fatalf("after reordering, channel %d is not the %d-th most important (order %v...)", o, i, order[:8])
		}
	}
	// The momentum buffer moved with its weights: the same permutation maps both.
	wAfter, mAfter := weights(), momentum()
	pairs := map[[2]float32]int{} // the multiset of (weight, momentum) pairs is invariant under any permutation
	for i := range wBefore {
		pairs[[2]float32{wBefore[i], mBefore[i]}]++
	}
	for i := range wAfter {
		k := [2]float32{wAfter[i], mAfter[i]}
		if pairs[k] == 0 {
			t.Fatalf("entry %d: (weight, momentum) pair not found before reordering: momentum did not follow", i)
		}
		pairs[k]--
	}
}

// TestReorderMomentumPolicies: with "reset" the sort moves each channel's momentum with it and zeroes it where
// a channel crossed the target boundary; "netaug" leaves the momentum in place; "follow" moves all of it.
func TestReorderMomentumPolicies(t *testing.T) {
	cfg := DefaultConfig("mbv2-w0.35", "netaug")
	cfg.Res, cfg.Batch, cfg.StepsPerEpoch = 32, 8, 4
	blk := "blocks.2"
	for _, policy := range []SortMomentum{MomentumResetCrossing, MomentumFollow, MomentumStay} {
		s, err := NewSession(engine.MustNew(), cfg, 4)
		if err != nil {
			t.Fatal(err)
		}
		b := quadrantBatch(rand.New(rand.NewPCG(3, 4)), cfg.Batch, cfg.Res)
		for i := 0; i < 3; i++ {
			if _, err := s.TrainStep(b, models.SampleRandom); err != nil {
				t.Fatal(err)
			}
		}
		target := 0
		for _, a := range s.Net.Arch.Blocks {
			if a.Name == blk {
				target = a.Mid
			}
		}
		perm, err := importanceOrder(s.Ctx.InspectVariable("/"+blk+"/project", "weights"), 2)
		if err != nil {
			t.Fatal(err)
		}
		gammaMom := func() []float32 {
			return tensors.MustCopyFlatData[float32](s.Ctx.InspectVariable("/optimizer/"+blk+"/dw", "gamma_momentum").MustValue())
		}
		before := gammaMom()
		if _, err := ReorderChannels(s.Ctx, s.Net.Arch.Blocks, policy, false); err != nil {
			t.Fatal(err)
		}
		after := gammaMom()
		crossed := 0
		for i, p := range perm {
			want := before[p]
			switch {
			case policy == MomentumStay:
				want = before[i]
			case policy == MomentumResetCrossing && (i < target) != (p < target):
				want, crossed = 0, crossed+1
			}
			if after[i] != want {
				t.Fatalf("%s: momentum of channel %d (was %d) is %g, want %g", policy, i, p, after[i], want)
			}
		}
		if policy == MomentumResetCrossing && crossed == 0 {
			t.Fatalf("no channel crossed the target boundary: the test checks nothing")
		}
	}
}

// TestReorderWithinBoundary: the boundary-keeping sort permutes the target's mid channels among themselves and the
// augmented ones among themselves, so no channel changes sides: the target's function is unchanged (a
// permutation of its hidden channels), and so is the widest network's, while each side is in decreasing
// importance. The NetAug sort on the same weights moves channels into the target.
func TestReorderWithinBoundary(t *testing.T) {
	s, logits := steppedSession(t, "mbv2-w0.35", "augshift", 3)
	maxDiff := func(a, b []float32) (d, scale float64) {
		for i := range a {
			d = math.Max(d, math.Abs(float64(a[i]-b[i])))
			scale = math.Max(scale, math.Abs(float64(a[i])))
		}
		return d, scale
	}
	augBefore, targetBefore := logits()
	st, err := ReorderChannels(s.Ctx, s.Net.Arch.Blocks, MomentumResetCrossing, true)
	if err != nil {
		t.Fatal(err)
	}
	if st.Moved != 0 {
		t.Errorf("boundary-keeping sort moved %d of %d target channels across the boundary", st.Moved, st.Target)
	}
	augAfter, targetAfter := logits()
	// Rounding only (the sums run in another order); the logits are small after 3 steps.
	if d, sc := maxDiff(augBefore, augAfter); d > 1e-3*sc {
		t.Errorf("augmented logits changed by %g (scale %g)", d, sc)
	}
	if d, sc := maxDiff(targetBefore, targetAfter); d > 1e-4*sc {
		t.Errorf("target logits changed by %g (scale %g): the sort changed the target's function", d, sc)
	}
	permuted := 0
	for _, blk := range s.Net.Arch.Blocks {
		proj := s.Ctx.InspectVariable("/"+blk.Name+"/project", "weights")
		if proj == nil || s.Ctx.InspectVariable("/"+blk.Name+"/expand", "weights") == nil {
			continue
		}
		order, err := importanceOrder(proj, 2)
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range withinBoundary(order, blk.Mid) {
			if o != i {
				t.Fatalf("%s: after the sort, position %d holds the channel of importance rank %d within its side", blk.Name, i, o)
			}
		}
		permuted++
	}
	if permuted == 0 {
		t.Fatal("no block checked")
	}
	across, err := ReorderChannels(s.Ctx, s.Net.Arch.Blocks, MomentumResetCrossing, false)
	if err != nil {
		t.Fatal(err)
	}
	if across.Moved == 0 {
		t.Errorf("the NetAug sort moved nothing across the boundary either: the test cannot tell the two apart")
	}
	t.Logf("within: 0 of %d target channels crossed; across, then: %d crossed", st.Target, across.Moved)
}

// steppedSession is a session of model and method at res 32, batch 8, after steps training steps on a fixed batch,
// and a function returning its widest augmented and its target logits on that batch.
func steppedSession(t *testing.T, model, method string, steps int) (*Session, func() (aug, target []float32)) {
	t.Helper()
	cfg := DefaultConfig(model, method)
	cfg.Res, cfg.Batch, cfg.StepsPerEpoch = 32, 8, 4
	backend := engine.MustNew()
	s, err := NewSession(backend, cfg, 4)
	if err != nil {
		t.Fatal(err)
	}
	b := quadrantBatch(rand.New(rand.NewPCG(3, 4)), cfg.Batch, cfg.Res)
	for i := 0; i < steps; i++ {
		if _, err := s.TrainStep(b, models.SampleRandom); err != nil {
			t.Fatal(err)
		}
	}
	x := tensors.FromFlatDataAndDimensions(b.Images, b.Shape[:]...)
	masks := tensors.FromFlatDataAndDimensions(s.Net.SampleMasks(nil, models.SampleMax), s.Net.MaskLen())
	return s, func() (aug, target []float32) {
		outs := context.MustExecOnceN(backend, s.Ctx, func(ctx *context.Context, x, m *Node) []*Node {
			ops := s.Ops()
			return []*Node{
				s.Net.Logits(ctx, x, models.Pass{Augmented: true, Masks: m, Ops: ops, BNScope: models.AugStats}),
				s.Net.Logits(ctx, x, models.Pass{Ops: ops}),
			}
		}, x, masks)
		return tensors.MustCopyFlatData[float32](outs[0]), tensors.MustCopyFlatData[float32](outs[1])
	}
}
