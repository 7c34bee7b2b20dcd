package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/pkg/models"
)

// TestStepCommutesWithChannelPermutation: a training step at the widest sample followed by a permutation of the
// mid (and SE) channels must equal the permutation followed by the same step, for every variable: weights,
// batch-norm parameters and both passes' running statistics, momentum buffers. The permutation keeps the target
// slice as a set (it shuffles channels within the target and within the augmented region), so the target pass
// is permuted too and the whole step of Eq. 3 is equivariant. A tensor that ReorderChannels forgets to move, or
// one the step reads at a channel position, breaks it.
func TestStepCommutesWithChannelPermutation(t *testing.T) {
	// Rounding differs (sums over permuted channels), and batch norm at batch 8 (8 rows at the last stages' 1x1
	// maps, channels whose spread is far below √ε) amplifies it through the blocks chaotically: with Mult the
	// worst variable moved by 2e-2, 5e-2, 6e-2, 0.13 or 0.33 of its scale depending only on how the engine blocks
	// the batch norm's sums (measured 2026-12-07, mbv2 netaug at batch 8, 16, 32); Shift's power-of-two rounding
	// flips a few weights whose HWS statistics moved by a rounding error, which reaches further: augshift's worst
	// variable moved by 0.01-0.40 of its scale over RNG seeds 5, 7, 11, 13 at α 0.5 and 1 (a late block's batch-norm
	// shift), netaug's by 0.007-0.16. A tensor left unpermuted moves variables by 1.0-2.0 of their scale (the
	// momentum left in place, MomentumStay, at the same seeds), so 0.25 (netaug) and 0.6 (augshift) separate the
	// two. Add is not
	// here: permuting the channels of a (direct) add network moves its training-mode logits by ~0.25 at batch 8,
	// so rounding alone is O(1) there.
	for _, tc := range []struct {
		model, method, sharing string
		tol                    float64
	}{
		{"mbv2-w0.35", "netaug", "", 0.25},
		{"mbv3-w0.35", "netaug", "", 0.25}, // squeeze-excitation blocks
		{"mbv2-w0.35", "augshift", "hws", 0.6},
	} {
		t.Run(tc.model+"/"+tc.method, func(t *testing.T) {
			cfg := DefaultConfig(tc.model, tc.method)
			cfg.Res, cfg.Batch, cfg.StepsPerEpoch, cfg.Sharing = 32, 8, 4, tc.sharing
			s, err := NewSession(engine.MustNew(), cfg, 4)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(5, 6))
			for i := 0; i < 3; i++ { // variables, momentum buffers, and statistics away from their initial values
				if _, err := s.TrainStep(quadrantBatch(rng, cfg.Batch, cfg.Res), models.SampleRandom); err != nil {
					t.Fatal(err)
				}
			}
			batch := quadrantBatch(rng, cfg.Batch, cfg.Res)
			permute := blockPreservingPermutation(t, s, rng)
			start, step := saveAll(t, s.Ctx), s.Step

			if _, err := s.TrainStep(batch, models.SampleMax); err != nil {
				t.Fatal(err)
			}
			permute()
			stepThenPermute := snapshot(t, s.Ctx)

			restoreAll(t, s.Ctx, start)
			s.Step = step
			permute()
			if _, err := s.TrainStep(batch, models.SampleMax); err != nil {
				t.Fatal(err)
			}
			permuteThenStep := snapshot(t, s.Ctx)

			checked, worst, worstName := 0, 0.0, ""
			for name, a := range stepThenPermute {
				b, ok := permuteThenStep[name]
				if !ok {
					t.Errorf("%s: missing after permute-then-step", name)
					continue
				}
				var maxDiff, scale float64
				for i := range a {
					maxDiff = math.Max(maxDiff, math.Abs(a[i]-b[i]))
					scale = math.Max(scale, math.Abs(a[i]))
				}
				if r := maxDiff / (scale + 1e-3); r > worst {
					worst, worstName = r, name
				}
				if maxDiff > tc.tol*scale+1e-4 { // the floor: parameters whose gradient is 0 up to rounding
					t.Errorf("%s: step∘permute and permute∘step differ by %g (scale %g)", name, maxDiff, scale)
				}
				checked++
			}
			t.Logf("worst relative difference %.2g (%s)", worst, worstName)
			t.Logf("%d variables agree", checked)
		})
	}
}

// blockPreservingPermutation returns a function that permutes every inverted block's mid channels (and SE hidden
// channels) by a random permutation that maps the target slice onto itself and the augmented region onto itself.
func blockPreservingPermutation(t *testing.T, s *Session, rng *rand.Rand) func() {
	t.Helper()
	type blockPerm struct {
		name             string
		mid, se          []int
		target, seTarget int
	}
	var perms []blockPerm
	for _, b := range s.Net.Arch.Blocks {
		if !b.Expand {
			continue
		}
		p := blockPerm{name: b.Name, target: b.Mid, seTarget: b.SE}
		wide := s.Ctx.InspectVariable("/"+b.Name+"/project", "weights").Shape().Dimensions[2]
		p.mid = splitShuffle(rng, b.Mid, wide)
		if se := s.Ctx.InspectVariable("/"+b.Name+"/se/reduce", "weights"); se != nil {
			p.se = splitShuffle(rng, b.SE, se.Shape().Dimensions[3])
		}
		perms = append(perms, p)
	}
	if len(perms) == 0 {
		t.Fatal("no inverted blocks to permute")
	}
	return func() {
		for _, p := range perms {
			if err := permuteMid(s.Ctx, p.name, p.mid, p.target, MomentumResetCrossing); err != nil {
				t.Fatal(err)
			}
			if p.se != nil {
				if err := permuteSE(s.Ctx, p.name, p.se, p.seTarget, MomentumResetCrossing); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// splitShuffle is a permutation of [0, wide) that shuffles [0, target) and [target, wide) separately.
func splitShuffle(rng *rand.Rand, target, wide int) []int {
	perm := make([]int, wide)
	for i := range perm {
		perm[i] = i
	}
	rng.Shuffle(target, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	rest := perm[target:]
	rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	return perm
}

// snapshot copies every float32 variable's value, as float64, by scope and name.
func snapshot(t *testing.T, ctx *context.Context) map[string][]float64 {
	t.Helper()
	out := map[string][]float64{}
	for v := range ctx.IterVariables() {
		if !v.Shape().Ok() || v.Shape().DType != dtypes.Float32 {
			continue // the global step, the RNG state
		}
		var flat []float64
		for _, x := range tensors.MustCopyFlatData[float32](v.MustValue()) {
			flat = append(flat, float64(x))
		}
		out[v.ScopeAndName()] = flat
	}
	return out
}

// saveAll clones every variable's value; restoreAll puts them back.
func saveAll(t *testing.T, ctx *context.Context) map[string]*tensors.Tensor {
	t.Helper()
	out := map[string]*tensors.Tensor{}
	for v := range ctx.IterVariables() {
		val, err := v.Value()
		if err != nil {
			continue // a variable a graph declared but never set
		}
		c, err := val.Clone()
		if err != nil {
			t.Fatal(err)
		}
		out[v.ScopeAndName()] = c
	}
	return out
}

func restoreAll(t *testing.T, ctx *context.Context, saved map[string]*tensors.Tensor) {
	t.Helper()
	for v := range ctx.IterVariables() {
		val, ok := saved[v.ScopeAndName()]
		if !ok {
			continue
		}
		c, err := val.Clone() // SetValue takes ownership: the next SetValue frees it
		if err != nil {
			t.Fatal(err)
		}
		if err := v.SetValue(c); err != nil {
			t.Fatal(err)
		}
	}
}
