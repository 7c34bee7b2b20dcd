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
func ReorderChannels(ctx *context.Context, blocks []arch.Block) (ReorderStats, error) {
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
		st.Target += blk.Mid
		for _, p := range perm[:min(blk.Mid, len(perm))] {
			if p >= blk.Mid {
				st.Moved++
			}
		}
		if err := permuteMid(ctx, b, perm); err != nil {
			return st, err
		}
		if se := ctx.InspectVariable("/"+b+"/se/expand", "weights"); se != nil {
			sePerm, err := importanceOrder(se, 2)
			if err != nil {
				return st, err
			}
			if err := permuteSE(ctx, b, sePerm); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

// ReorderStats says how much a reordering changed the target: of the Target mid channels of all inverted
// blocks, Moved came from the augmented region (0 means the target kept its channels, only reordered).
type ReorderStats struct {
	Moved, Target int
}

// permuteMid permutes block b's mid (hidden) channels: every tensor on that axis, with its momentum.
func permuteMid(ctx *context.Context, b string, perm []int) error {
	targets := []axisVar{
		{"/" + b + "/expand", "weights", 3}, {"/" + b + "/dw", "weights", 2}, {"/" + b + "/project", "weights", 2},
		{"/" + b + "/se/reduce", "weights", 2}, {"/" + b + "/se/expand", "weights", 3}, {"/" + b + "/se/expand", "bias", 0},
	}
	targets = append(targets, bnVars(ctx, "/"+b+"/expand")...)
	targets = append(targets, bnVars(ctx, "/"+b+"/dw")...)
	if err := permuteAll(ctx, targets, perm); err != nil {
		return fmt.Errorf("reordering %s: %w", b, err)
	}
	return nil
}

// permuteSE permutes block b's squeeze-excitation hidden channels.
func permuteSE(ctx *context.Context, b string, perm []int) error {
	err := permuteAll(ctx, []axisVar{{"/" + b + "/se/reduce", "weights", 3}, {"/" + b + "/se/reduce", "bias", 0},
		{"/" + b + "/se/expand", "weights", 2}}, perm)
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

// permuteAll permutes each listed variable (and its momentum buffer, if the optimizer made one) along its axis.
func permuteAll(ctx *context.Context, vars []axisVar, perm []int) error {
	for _, av := range vars {
		for _, scope := range []string{av.scope, "/optimizer" + av.scope} {
			name := av.name
			if scope != av.scope {
				name += "_momentum"
			}
			v := ctx.InspectVariable(scope, name)
			if v == nil {
				continue
			}
			if err := permuteVariable(v, av.axis, perm); err != nil {
				return err
			}
		}
	}
	return nil
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
