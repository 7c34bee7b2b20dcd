package train

import (
	"fmt"
	"math"
	"sort"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/shiftaddaug/shiftaddaug/kernels/norm"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/pkg/models"
)

// ReorderChannels is NetAug's sort_channels, run at the start of every epoch of width augmentation: in every
// inverted block, the hidden (mid) channels are sorted by importance, the L1 norm of the project conv's weights
// reading them (over all wide output channels), so the most important ones sit in the target slice. Squeeze-
// excitation hidden channels are sorted likewise by their expand conv's weights. Every tensor that shares the
// axis is permuted the same way: the expand conv's outputs and its batch norm (parameters and every set of
// running statistics), the depthwise conv and its batch norm, the SE convs, the project conv's inputs, and the
// optimizer's momentum of each. The augmented network's function is unchanged by it; the target's changes.
// Block outputs are never sorted (they feed residual paths), as in NetAug.
//
// NetAug sorts the tensors' data only and leaves the optimizer's momentum where it was; here it moves with its
// channel, so that a step followed by a sort equals the sort followed by that step
// (TestStepCommutesWithChannelPermutation).
//
// With keepBoundary the order is NetAug's within each side of the target boundary, and no channel crosses it: the
// target's channels are sorted among themselves, and the augmented ones among themselves (so the sampled widths
// still take the most important augmented channels first). For hybrid networks a channel that crosses the boundary
// changes operator (a multiplicative channel becomes a Shift or Add one, or the reverse), so what it learned does
// not carry over.
func ReorderChannels(ctx *context.Context, blocks []arch.Block, momentum SortMomentum, keepBoundary bool) (ReorderStats, error) {
	if err := momentum.Validate(); err != nil {
		return ReorderStats{}, err
	}
	if momentum == "" {
		momentum = MomentumResetCrossing
	}
	var st ReorderStats
	for _, blk := range blocks {
		b := blk.Name
		proj := ctx.InspectVariable("/"+b+"/project", "weights")
		if proj == nil {
			continue // no such block (or not built yet)
		}
		if ctx.InspectVariable("/"+b+"/expand", "weights") == nil {
			continue // depthwise-separable block: its mid channels are its input's
		}
		perm, err := importanceOrder(proj, 2)
		if err != nil {
			return st, err
		}
		if keepBoundary {
			perm = withinBoundary(perm, blk.Mid)
		}
		st.Target += blk.Mid
		for _, p := range perm[:min(blk.Mid, len(perm))] {
			if p >= blk.Mid {
				st.Moved++
			}
		}
		if err := permuteMid(ctx, b, perm, blk.Mid, momentum); err != nil {
			return st, err
		}
		if se := ctx.InspectVariable("/"+b+"/se/expand", "weights"); se != nil {
			sePerm, err := importanceOrder(se, 2)
			if err != nil {
				return st, err
			}
			if keepBoundary {
				sePerm = withinBoundary(sePerm, blk.SE)
			}
			if err := permuteSE(ctx, b, sePerm, blk.SE, momentum); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

// withinBoundary keeps perm's order within [0, target) and within [target, n), the target's channels first: a
// permutation that never moves a channel across the target boundary.
func withinBoundary(perm []int, target int) []int {
	out := make([]int, 0, len(perm))
	for _, p := range perm {
		if p < target {
			out = append(out, p)
		}
	}
	for _, p := range perm {
		if p >= target {
			out = append(out, p)
		}
	}
	return out
}

// ReorderStats says how much a reordering changed the target: of the Target mid channels of all inverted
// blocks, Moved came from the augmented region (0 means the target kept its channels, only reordered).
type ReorderStats struct {
	Moved, Target int
}

// permuteMid permutes block b's mid (hidden) channels, of which the first target are the target's: every tensor on
// that axis, and its momentum as the policy says.
func permuteMid(ctx *context.Context, b string, perm []int, target int, momentum SortMomentum) error {
	targets := []axisVar{
		{"/" + b + "/expand", "weights", 3}, {"/" + b + "/dw", "weights", 2}, {"/" + b + "/project", "weights", 2},
		{"/" + b + "/se/reduce", "weights", 2}, {"/" + b + "/se/expand", "weights", 3}, {"/" + b + "/se/expand", "bias", 0},
	}
	targets = append(targets, bnVars(ctx, "/"+b+"/expand")...)
	targets = append(targets, bnVars(ctx, "/"+b+"/dw")...)
	if err := permuteAll(ctx, targets, perm, target, momentum); err != nil {
		return fmt.Errorf("reordering %s: %w", b, err)
	}
	return nil
}

// permuteSE permutes block b's squeeze-excitation hidden channels (the first target are the target's).
func permuteSE(ctx *context.Context, b string, perm []int, target int, momentum SortMomentum) error {
	err := permuteAll(ctx, []axisVar{{"/" + b + "/se/reduce", "weights", 3}, {"/" + b + "/se/reduce", "bias", 0},
		{"/" + b + "/se/expand", "weights", 2}}, perm, target, momentum)
	if err != nil {
		return fmt.Errorf("reordering %s's SE: %w", b, err)
	}
	return nil
}

// axisVar names a variable and the axis of it that is permuted.
type axisVar struct {
	scope, name string
	axis        int
}

// bnVars lists the per-channel batch-norm variables in scope: γ, β and both passes' running statistics
// (named, not enumerated, so that variables still waiting in a checkpoint are loaded and permuted too).
func bnVars(_ *context.Context, scope string) []axisVar {
	var out []axisVar
	for _, name := range []string{norm.GammaName, norm.BetaName, norm.RunningMeanName, norm.RunningVarName,
		norm.RunningMeanName + "_" + models.AugStats, norm.RunningVarName + "_" + models.AugStats} {
		out = append(out, axisVar{scope, name, 0})
	}
	return out
}

// permuteAll permutes each listed variable along its axis, and its momentum buffer (if the optimizer made one)
// as the policy says.
func permuteAll(ctx *context.Context, vars []axisVar, perm []int, target int, momentum SortMomentum) error {
	var crossed []int // new positions whose channel came from the other side of the target boundary
	for i, p := range perm {
		if (i < target) != (p < target) {
			crossed = append(crossed, i)
		}
	}
	for _, av := range vars {
		if v := ctx.InspectVariable(av.scope, av.name); v != nil {
			if err := permuteVariable(v, av.axis, perm); err != nil {
				return err
			}
		}
		m := ctx.InspectVariable("/optimizer"+av.scope, av.name+"_momentum")
		if m == nil || momentum == MomentumStay {
			continue
		}
		if err := permuteVariable(m, av.axis, perm); err != nil {
			return err
		}
		if momentum == MomentumResetCrossing && len(crossed) > 0 {
			if err := zeroSlices(m, av.axis, crossed); err != nil {
				return err
			}
		}
	}
	return nil
}

// Where the channel sort may move channels (Config.SortScope).
const (
	SortAcross = "across"
	SortWithin = "within"
)

// keepBoundary resolves the configuration's sort scope.
func (c Config) keepBoundary() bool {
	return c.SortScope == SortWithin
}

// SortMomentum is what the channel sort does with the optimizer's momentum of the channels it moves.
type SortMomentum string

const (
	// MomentumResetCrossing moves each channel's momentum with it, and zeroes it for the channels that crossed
	// the boundary between the target and the augmented region: a channel that changed role has momentum from a
	// gradient regime that no longer applies; a target channel moved to a rarely active augmented position would
	// otherwise coast on its large momentum for many steps with no gradient to correct it. The default.
	MomentumResetCrossing SortMomentum = "reset"
	// MomentumFollow moves each channel's momentum with it: a step then the sort equals the sort then the step.
	MomentumFollow SortMomentum = "follow"
	// MomentumStay leaves the momentum where it was, as NetAug (which sorts the tensors' data only).
	MomentumStay SortMomentum = "netaug"
)

// SortMomentums lists the policies, for flags and errors.
var SortMomentums = []SortMomentum{MomentumResetCrossing, MomentumFollow, MomentumStay}

// Validate checks the policy name ("" is the default, MomentumResetCrossing).
func (m SortMomentum) Validate() error {
	if m == "" {
		return nil
	}
	for _, k := range SortMomentums {
		if m == k {
			return nil
		}
	}
	return fmt.Errorf("unknown sort momentum policy %q: want reset, follow or netaug", string(m))
}

// zeroSlices sets v's slices at the given indices of axis to zero.
func zeroSlices(v *context.Variable, axis int, idx []int) error {
	t, err := v.Value()
	if err != nil {
		return err
	}
	dims := t.Shape().Dimensions
	outer, inner := 1, 1
	for _, d := range dims[:axis] {
		outer *= d
	}
	for _, d := range dims[axis+1:] {
		inner *= d
	}
	n := dims[axis]
	var out []float32
	err = tensors.ConstFlatData(t, func(flat []float32) { out = append([]float32(nil), flat...) })
	if err != nil {
		return err
	}
	for o := 0; o < outer; o++ {
		for _, i := range idx {
			clear(out[(o*n+i)*inner : (o*n+i+1)*inner])
		}
	}
	return v.SetValue(tensors.FromFlatDataAndDimensions(out, dims...))
}

// importanceOrder returns the indices of v's axis sorted by decreasing L1 norm of the slices along it (stable).
func importanceOrder(v *context.Variable, axis int) ([]int, error) {
	t, err := v.Value()
	if err != nil {
		return nil, err
	}
	dims := t.Shape().Dimensions
	n := dims[axis]
	imp := make([]float64, n)
	err = tensors.ConstFlatData(t, func(flat []float32) {
		inner := 1
		for _, d := range dims[axis+1:] {
			inner *= d
		}
		for i, x := range flat {
			imp[(i/inner)%n] += math.Abs(float64(x))
		}
	})
	if err != nil {
		return nil, err
	}
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	sort.SliceStable(perm, func(a, b int) bool { return imp[perm[a]] > imp[perm[b]] })
	return perm, nil
}

// permuteVariable reorders v along axis: new[..., i, ...] = old[..., perm[i], ...].
func permuteVariable(v *context.Variable, axis int, perm []int) error {
	t, err := v.Value()
	if err != nil {
		return err
	}
	dims := t.Shape().Dimensions
	if axis >= len(dims) || dims[axis] != len(perm) {
		return fmt.Errorf("%s: axis %d of %v does not have %d entries", v.ScopeAndName(), axis, dims, len(perm))
	}
	outer, inner := 1, 1
	for _, d := range dims[:axis] {
		outer *= d
	}
	for _, d := range dims[axis+1:] {
		inner *= d
	}
	n := len(perm)
	var out []float32
	err = tensors.ConstFlatData(t, func(flat []float32) {
		out = make([]float32, len(flat))
		for o := 0; o < outer; o++ {
			for i, p := range perm {
				copy(out[(o*n+i)*inner:(o*n+i+1)*inner], flat[(o*n+p)*inner:(o*n+p+1)*inner])
			}
		}
	})
	if err != nil {
		return err
	}
	return v.SetValue(tensors.FromFlatDataAndDimensions(out, dims...))
}
