package train

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/shiftaddaug/shiftaddaug/kernels"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/pkg/models/export"
)

// LayerWeights reads the stored weight tensor of one layer from a network's context (the one passed to
// models.Net.Logits, e.g. Session.Ctx): the variable "weights" under scope, a layer scope as export.Specs names
// them ("stem", "blocks.3/expand", "blocks.5/se/reduce", "head.conv", "classifier"). It returns the values flat in
// row-major order and the tensor's dimensions. In an augmented network this is the wide tensor that the target
// and the augmented channels share.
func LayerWeights(ctx *context.Context, scope string) ([]float32, []int, error) {
	c := export.InScope(ctx, scope)
	v := c.GetVariable("weights")
	if v == nil {
		return nil, nil, fmt.Errorf("no weights in scope %q (%s/weights): is it a layer of a network built in this context?",
			scope, c.Scope())
	}
	t, err := v.Value()
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s/weights: %w", c.Scope(), err)
	}
	dims := append([]int(nil), t.Shape().Dimensions...)
	switch t.DType() {
	case dtypes.Float32:
		return tensors.MustCopyFlatData[float32](t), dims, nil
	case dtypes.Float64:
		var out []float32
		for _, x := range tensors.MustCopyFlatData[float64](t) {
			out = append(out, float32(x))
		}
		return out, dims, nil
	}
	return nil, nil, fmt.Errorf("%s/weights has dtype %s, want a float", c.Scope(), t.DType())
}

// TargetWeights are one layer's weights as the target network uses them, at three stages (Fig. 2 and Fig. 7 of
// the paper plot such distributions).
type TargetWeights struct {
	// Layer describes the layer: scope, kind, target operator and target shapes (Layer.WeightDims()).
	Layer export.LayerSpec
	// Shared is the target's leading slice of the stored weight, flat in Layer.WeightDims() order: the weights
	// weight sharing keeps (and, in an augmented network, the multiplicative channels train too).
	Shared []float32
	// Remapped is Shared after the session's weight remap for the layer's operator (heterogeneous weight sharing,
	// Eq. 5, with Config.Sharing "hws"): the weights the multiplication-free operator receives. It equals Shared
	// for Mult layers and without a remap.
	Remapped []float32
	// Effective is what the operator computes with: Remapped rounded to signed powers of two, sign·2^exp, by the
	// Shift quantiser (kernels.ShiftQuantizeValue, the host twin of the one the training graph applies) for Shift
	// layers; Remapped for the others.
	Effective []float32
}

// TargetWeights reads the weights of one layer of the session's target network (scope as in LayerWeights) and
// derives what its operator uses from them. The session must have built its variables (trained a step, or been
// restored).
func (s *Session) TargetWeights(scope string) (*TargetWeights, error) {
	var spec export.LayerSpec
	found := false
	var scopes []string
	for _, l := range export.Specs(s.Net.Arch) {
		scopes = append(scopes, l.Scope)
		if l.Scope == scope {
			spec, found = l, true
		}
	}
	if !found {
		return nil, fmt.Errorf("%s has no layer %q (layers: %v)", s.Net.Arch.Name, scope, scopes)
	}
	w, dims, err := LayerWeights(s.Ctx, scope)
	if err != nil {
		return nil, err
	}
	target := spec.WeightDims()
	shared, err := leadingSlice(w, dims, target)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", scope, err)
	}
	tw := &TargetWeights{Layer: spec, Shared: shared, Remapped: shared, Effective: shared}
	ops := s.Ops()
	if ops.MFWeight != nil && spec.Op != arch.Mult {
		t, err := remapOnce(s, spec, shared)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", scope, err)
		}
		tw.Remapped, tw.Effective = t, t
	}
	if spec.Op == arch.Shift {
		bits := ops.Shift.Bits
		if bits <= 0 {
			bits = kernels.DefaultShiftBits
		}
		eff := make([]float32, len(tw.Remapped))
		for i, x := range tw.Remapped {
			sign, exp := kernels.ShiftQuantizeValue(float64(x), bits)
			eff[i] = float32(float64(sign) * math.Ldexp(1, exp))
		}
		tw.Effective = eff
	}
	return tw, nil
}

// remapOnce evaluates the session's MFWeight on one layer's target weights, as the target pass applies it.
func remapOnce(s *Session, spec export.LayerSpec, w []float32) (out []float32, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("evaluating the weight remap: %v", r)
		}
	}()
	mf := s.Ops().MFWeight
	t, err := graph.ExecOnce(s.Backend, func(x *graph.Node) *graph.Node { return mf(x, spec.Op) },
		tensors.FromFlatDataAndDimensions(w, spec.WeightDims()...))
	if err != nil {
		return nil, fmt.Errorf("evaluating the weight remap: %w", err)
	}
	return tensors.MustCopyFlatData[float32](t), nil
}

// leadingSlice cuts the leading block of shape target out of data of shape dims (row-major).
func leadingSlice(data []float32, dims, target []int) ([]float32, error) {
	if len(dims) != len(target) {
		return nil, fmt.Errorf("weights have shape %v, want rank %d (target %v)", dims, len(target), target)
	}
	n := 1
	for i := range target {
		if dims[i] < target[i] {
			return nil, fmt.Errorf("weights of shape %v do not contain the target %v", dims, target)
		}
		n *= target[i]
	}
	out := make([]float32, 0, n)
	var rec func(axis, off int)
	rec = func(axis, off int) {
		if axis == len(target)-1 {
			out = append(out, data[off:off+target[axis]]...)
			return
		}
		stride := 1
		for _, d := range dims[axis+1:] {
			stride *= d
		}
		for i := 0; i < target[axis]; i++ {
			rec(axis+1, off+i*stride)
		}
	}
	rec(0, 0)
	return out, nil
}

// WeightStats are summary statistics of a set of weights.
type WeightStats struct {
	N         int
	Mean, Std float64 // population standard deviation
	// ExcessKurtosis is the fourth standardised moment minus 3: 0 for a Gaussian, 3 for a Laplace distribution
	// (the shapes the paper gives Conv and AddConv weights, Fig. 2).
	ExcessKurtosis float64
	Min, Max       float64
	// Distinct counts the distinct values (a few for quantised Shift weights).
	Distinct int
}

// Stats computes WeightStats of w (zero value for no weights; ExcessKurtosis 0 when all are equal).
func Stats(w []float32) WeightStats {
	s := WeightStats{N: len(w)}
	if len(w) == 0 {
		return s
	}
	s.Min, s.Max = math.Inf(1), math.Inf(-1)
	distinct := map[float32]bool{}
	for _, x := range w {
		v := float64(x)
		s.Mean += v / float64(len(w))
		s.Min, s.Max = math.Min(s.Min, v), math.Max(s.Max, v)
		distinct[x] = true
	}
	s.Distinct = len(distinct)
	var m2, m4 float64
	for _, x := range w {
		d := float64(x) - s.Mean
		m2 += d * d / float64(len(w))
		m4 += d * d * d * d / float64(len(w))
	}
	s.Std = math.Sqrt(m2)
	if m2 > 0 {
		s.ExcessKurtosis = m4/(m2*m2) - 3
	}
	return s
}
