package export

import (
	"fmt"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/shiftaddaug/shiftaddaug/kernels"
	"github.com/shiftaddaug/shiftaddaug/kernels/norm"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/pkg/hybrid"
	"github.com/shiftaddaug/shiftaddaug/pkg/models"
)

// Options configures Extract.
type Options struct {
	// Input is recorded in the file: the training resolution and normalisation (optional).
	Input Input
	// Ops are the operators the network was trained with (the ones passed in models.Pass.Ops). Their Shift
	// settings (weight bits, activation fraction bits) are recorded and used to quantise the Shift weights, and
	// their MFWeight remap (heterogeneous weight sharing), if any, is applied to the multiplication-free layers'
	// weights, exactly as the target pass does.
	Ops hybrid.Operators
	// Backend evaluates Ops.MFWeight; it is needed only when MFWeight is set.
	Backend backends.Backend
}

// ExportFromContext writes the target network of net, whose variables live in ctx (the context, at the scope,
// that was passed to net.Logits), to path: the default Shift settings (5-bit weights, 16.16 activations), no
// weight remap, the given training resolution (0: unknown) and no recorded normalisation. See Extract and
// Model.Save for more control.
func ExportFromContext(ctx *context.Context, net *models.Net, res int, path string) error {
	m, err := Extract(ctx, net, Options{Input: Input{Res: res}})
	if err != nil {
		return fmt.Errorf("exporting to %s: %w", path, err)
	}
	return m.Save(path)
}

// Extract reads the target network of net from ctx (the context, at the scope, that was passed to
// net.Logits): every layer's weights, biases, batch-norm γ, β and target running statistics, cut to the
// target's leading slice on every axis (the wide tensors of an augmented network included). Shift layers'
// weights become sign and exponent with kernels.ShiftQuantizeValue, the host twin of the graph quantiser the
// training-time Shift operator applies, so the exported weights are exactly the ones the target pass used.
func Extract(ctx *context.Context, net *models.Net, opts Options) (*Model, error) {
	if net == nil || net.Arch == nil {
		return nil, fmt.Errorf("no network")
	}
	a := net.Arch.Clone()
	if err := CheckArch(a); err != nil {
		return nil, fmt.Errorf("architecture of %s: %w", a.Name, err)
	}
	sh := ShiftFormat{WeightBits: opts.Ops.Shift.Bits, ActFracBits: opts.Ops.Shift.ActFracBits, ActQuant: !opts.Ops.Shift.NoActQuant}
	if sh.WeightBits <= 0 {
		sh.WeightBits = kernels.DefaultShiftBits
	}
	if sh.ActFracBits <= 0 {
		sh.ActFracBits = kernels.DefaultActFracBits
	}
	if sh.WeightBits > 8 {
		return nil, fmt.Errorf("shift weight bits %d: at most 8 can be exported", sh.WeightBits)
	}
	m := &Model{Arch: a, Method: MethodOf(a), Input: opts.Input, Shift: sh, BNEpsilon: norm.DefaultEpsilon}
	for _, s := range Specs(a) {
		l, err := extractLayer(ctx, s, opts, sh.WeightBits)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", s.Scope, err)
		}
		m.Layers = append(m.Layers, l)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return m, nil
}

// variable is one variable's value as float32 with its dimensions.
type variable struct {
	name string
	dims []int
	data []float32
}

func readVariable(ctx *context.Context, scope, name string) (variable, error) {
	c := InScope(ctx, scope)
	full := c.Scope() + "/" + name
	v := c.GetVariable(name)
	if v == nil {
		return variable{}, fmt.Errorf("variable %s not found (was the network built with this context and scope?)", full)
	}
	t, err := v.Value()
	if err != nil {
		return variable{}, fmt.Errorf("reading %s: %w", full, err)
	}
	out := variable{name: full, dims: t.Shape().Dimensions}
	switch t.DType() {
	case dtypes.Float32:
		out.data = tensors.MustCopyFlatData[float32](t)
	case dtypes.Float64:
		for _, x := range tensors.MustCopyFlatData[float64](t) {
			out.data = append(out.data, float32(x))
		}
	default:
		return variable{}, fmt.Errorf("variable %s has dtype %s, want a float", full, t.DType())
	}
	return out, nil
}

// InScope returns ctx moved into a layer scope as Specs names them ("blocks.3/expand": one ctx.In per
// "/"-separated part; empty parts are skipped).
func InScope(ctx *context.Context, scope string) *context.Context {
	for _, part := range strings.Split(scope, "/") {
		if part != "" {
			ctx = ctx.In(part)
		}
	}
	return ctx
}

// leading cuts the leading slice of shape target out of v (row-major). Axes listed in exact must match in
// size; the others may be wider.
func leading(v variable, target []int, exact ...int) ([]float32, error) {
	if len(v.dims) != len(target) {
		return nil, fmt.Errorf("variable %s has shape %v, want rank %d (target %v)", v.name, v.dims, len(target), target)
	}
	for i := range target {
		ex := false
		for _, e := range exact {
			ex = ex || e == i
		}
		if v.dims[i] < target[i] || ex && v.dims[i] != target[i] {
			return nil, fmt.Errorf("variable %s has shape %v, which does not contain the target %v", v.name, v.dims, target)
		}
	}
	out := make([]float32, 0, numel(target))
	var rec func(axis, off int)
	rec = func(axis, off int) {
		if axis == len(target)-1 {
			out = append(out, v.data[off:off+target[axis]]...)
			return
		}
		stride := numel(v.dims[axis+1:])
		for i := range target[axis] {
			rec(axis+1, off+i*stride)
		}
	}
	rec(0, 0)
	return out, nil
}

func extractLayer(ctx *context.Context, s LayerSpec, opts Options, bits int) (*Layer, error) {
	l := &Layer{LayerSpec: s}
	wv, err := readVariable(ctx, s.Scope, nameWeights)
	if err != nil {
		return nil, err
	}
	exact := []int{0, 1} // kernel axes
	if s.Kind == arch.KindLinear {
		exact = []int{1} // classes
	}
	w, err := leading(wv, s.WeightDims(), exact...)
	if err != nil {
		return nil, err
	}
	if s.Op != arch.Mult && (opts.Ops.MFWeight != nil || opts.Ops.MFWeightLayer != nil) {
		if w, err = remap(ctx, opts, s, w); err != nil {
			return nil, err
		}
	}
	if s.Op == arch.Shift {
		l.Sign, l.Exp = make([]int8, len(w)), make([]int8, len(w))
		for i, x := range w {
			sg, e := kernels.ShiftQuantizeValue(float64(x), bits)
			l.Sign[i], l.Exp[i] = int8(sg), int8(e)
		}
	} else {
		l.Weights = w
	}
	vec := func(name string) ([]float32, error) {
		v, err := readVariable(ctx, s.Scope, name)
		if err != nil {
			return nil, err
		}
		exact := []int{}
		if s.Kind == arch.KindLinear {
			exact = []int{0}
		}
		return leading(v, []int{s.Out}, exact...)
	}
	if s.Bias {
		if l.Bias, err = vec(nameBias); err != nil {
			return nil, err
		}
	}
	if s.BN {
		l.BN = &BatchNorm{}
		for _, n := range []string{nameGamma, nameBeta, nameMean, nameVar} {
			if *l.f32(n), err = vec(n); err != nil {
				return nil, err
			}
		}
	}
	return l, nil
}

// remap applies the heterogeneous-weight-sharing map the target pass applies to a multiplication-free layer's
// target weight slice. A per-layer map (MFWeightLayer) runs in inference mode on the layer's own variables.
func remap(ctx *context.Context, opts Options, s LayerSpec, w []float32) ([]float32, error) {
	if opts.Backend == nil {
		return nil, fmt.Errorf("Options.Ops.MFWeight is set: Options.Backend is needed to evaluate it")
	}
	var out []float32
	err := catch(func() error {
		wt := tensors.FromFlatDataAndDimensions(w, s.WeightDims()...)
		var t *tensors.Tensor
		var err error
		if f := opts.Ops.MFWeightLayer; f != nil {
			layerCtx := InScope(ctx.Checked(false), s.Scope)
			t, err = context.ExecOnce(opts.Backend, layerCtx, func(ctx *context.Context, w *graph.Node) *graph.Node {
				ctx.SetTraining(w.Graph(), false)
				return f(ctx, w, s.Op)
			}, wt)
		} else {
			t, err = graph.ExecOnce(opts.Backend, func(w *graph.Node) *graph.Node { return opts.Ops.MFWeight(w, s.Op) }, wt)
		}
		if err != nil {
			return err
		}
		if got := t.Shape().Dimensions; !dimsEqual(got, s.WeightDims()) || t.DType() != dtypes.Float32 {
			return fmt.Errorf("MFWeight returned %s, want float32 %v", t.Shape(), s.WeightDims())
		}
		out = tensors.MustCopyFlatData[float32](t)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("evaluating the weight remap: %w", err)
	}
	return out, nil
}

// catch turns a panic of graph building into an error.
func catch(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return f()
}
