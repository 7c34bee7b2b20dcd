// Package deploy runs an exported ShiftAddAug target network (pkg/models/export) in plain Go, the way a
// multiplication-free accelerator would: every Shift and Add convolution or linear layer runs on the integer
// reference kernels of kernels/intkernels, and only the per-channel glue between them is floating point.
//
// # Numerics
//
// Activations travel between layers as float32 NHWC tensors. The fixed-point conversion happens at the input of
// every multiplication-free layer and is undone at its output:
//
//   - Shift layer (conv, depthwise, 1×1 SE conv, classifier under "shift"): the input is converted to 16.16
//     int32 by floor and clamped to [−2^15, 2^15−1] — exactly DeepShift's activation quantiser, which the
//     training-time Shift operator applies too — then intkernels.Shift* computes the exact sum of
//     sign·(x << (E+exp)) terms with shifts and adds only, floored to 16 fraction bits. The only difference from
//     the float forward is that floor (< 2^-16) and the float forward's own float32 rounding.
//   - Add layer (AdderNet conv, 1×1 SE conv; depthwise and classifier stay Mult under "add"): input rounded to
//     16.16 (round to nearest: AdderNet trains on float inputs, so this is the deployment's own quantisation),
//     weights rounded to 16.16 at load; intkernels.Add* computes −Σ|x − w| with subtract, sign flip and add only,
//     exactly. Error against the float forward: at most (2^-17 + 2^-17)·taps per output.
//   - Mult layers (everything under "base"; depthwise convs and the classifier under "add"; they are
//     multiplicative by the paper's design, Table 3 counts them as Mult): float32 weights, float64 accumulation,
//     output rounded to float32.
//
// Between them, in float32: bias adds, batch norm in inference form y = (x − μ)·γ/√(σ² + ε) + β (the per-channel
// affine that remains in DeepShift and AdderNet deployments; computed with the same float32 operations, in the
// same order, as the GoMLX graph), the activations (ReLU, ReLU6, h-swish, h-sigmoid), squeeze-excitation scaling,
// residual adds and global average pooling (float64 sum). The network structure follows pkg/models exactly:
// stem, blocks (expand 1×1, depthwise k×k, SE, project 1×1, shortcut), head convs (those marked OnPooled after
// pooling), pooling, classifier.
package deploy

import (
	"fmt"
	"math"

	"github.com/shiftaddaug/shiftaddaug/kernels"
	"github.com/shiftaddaug/shiftaddaug/kernels/intkernels"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/pkg/models/export"
)

// Runner runs an exported model. It is safe for concurrent use: Logits keeps its state on the stack.
type Runner struct {
	m      *export.Model
	layers map[string]*layer
	ref    bool
}

// layer is a layer's parameters in the form its kernel consumes.
type layer struct {
	export.LayerSpec
	wf    []float32               // Mult; in a reference runner also Add (as stored) and Shift (sign·2^exp)
	sw    intkernels.ShiftWeights // Shift
	aw    []int32                 // Add, 16.16
	bias  []float32
	bn    bool
	scale []float32 // γ/√(σ²+ε), computed as the graph does
	mean  []float32
	beta  []float32
}

// New prepares a runner. It fails for settings the integer kernels cannot run: Shift activations in another
// format than 16.16 or not quantised, or exponents beyond intkernels.MaxShift.
func New(m *export.Model) (*Runner, error) {
	return newRunner(m, false)
}

// NewReference prepares a floating-point reference runner for the same model: Shift layers apply the model's
// activation quantiser (floor to ActFracBits fraction bits, ±2^15 clamp, unless trained without) to their float32
// inputs and multiply by the sign·2^exp weights; Add layers compute −Σ|x − w| on the float32 inputs and the
// stored float32 weights; all sums in float64. It computes what the GoMLX target forward computes, without its
// float32 rounding, so comparing it with New's integer runner isolates the fixed-point error of deployment,
// and comparing it with the GoMLX forward checks the export itself.
func NewReference(m *export.Model) (*Runner, error) {
	return newRunner(m, true)
}

func newRunner(m *export.Model, ref bool) (*Runner, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	if ref {
		return newReference(m), nil
	}
	hasShift := false
	for _, l := range m.Layers {
		hasShift = hasShift || l.Op == arch.Shift
	}
	if hasShift {
		if !m.Shift.ActQuant || m.Shift.ActFracBits != intkernels.FracBits {
			return nil, fmt.Errorf("deploy: the model's Shift layers were trained with activations %s; the integer kernels run 16.16 fixed point",
				actDesc(m.Shift))
		}
		if kernels.ShiftMinExponent(m.Shift.WeightBits) < -intkernels.MaxShift {
			return nil, fmt.Errorf("deploy: %d-bit shift weights reach 2^%d; the integer kernels shift by at most %d",
				m.Shift.WeightBits, kernels.ShiftMinExponent(m.Shift.WeightBits), intkernels.MaxShift)
		}
	}
	r := &Runner{m: m, layers: map[string]*layer{}}
	for _, l := range m.Layers {
		d := newLayer(m, l)
		switch l.Op {
		case arch.Shift:
			d.sw = intkernels.ShiftWeights{Sign: l.Sign, Exp: l.Exp}
		case arch.Add:
			d.aw = make([]int32, len(l.Weights))
			for i, w := range l.Weights {
				d.aw[i] = intkernels.RoundFixed(float64(w))
			}
		default:
			d.wf = l.Weights
		}
		r.layers[l.Scope] = d
	}
	return r, nil
}

func newReference(m *export.Model) *Runner {
	r := &Runner{m: m, layers: map[string]*layer{}, ref: true}
	for _, l := range m.Layers {
		d := newLayer(m, l)
		d.wf = l.Weights
		if l.Op == arch.Shift {
			d.wf = make([]float32, len(l.Sign))
			for i, sg := range l.Sign {
				d.wf[i] = float32(math.Ldexp(float64(sg), int(l.Exp[i])))
			}
		}
		r.layers[l.Scope] = d
	}
	return r
}

// newLayer prepares a layer's bias and batch norm.
func newLayer(m *export.Model, l *export.Layer) *layer {
	d := &layer{LayerSpec: l.LayerSpec, bias: l.Bias}
	if bn := l.BN; bn != nil {
		eps := float32(m.BNEpsilon)
		d.bn, d.mean, d.beta = true, bn.Mean, bn.Beta
		d.scale = make([]float32, len(bn.Var))
		for i, v := range bn.Var {
			s := float32(math.Sqrt(float64(v + eps)))
			d.scale[i] = (1 / s) * bn.Gamma[i]
		}
	}
	return d
}

func actDesc(s export.ShiftFormat) string {
	if !s.ActQuant {
		return "unquantised"
	}
	return fmt.Sprintf("with %d fraction bits", s.ActFracBits)
}

// Model returns the model the runner runs.
func (r *Runner) Model() *export.Model { return r.m }

// Logits runs the network on n images of h×w pixels, NHWC float32 with 3 channels, prepared as in training
// (see export.Input.Normalize), and returns the logits [n, classes] row-major.
func (r *Runner) Logits(x []float32, n, h, w int) ([]float32, error) {
	if n < 1 || h < 1 || w < 1 || len(x) != n*h*w*3 {
		return nil, fmt.Errorf("deploy: %d values for %d images of %dx%d with 3 channels (want %d)", len(x), n, h, w, n*h*w*3)
	}
	a := r.m.Arch
	if a.Seg != nil {
		return nil, fmt.Errorf("deploy: %s is a segmentation model: use SegLogits", a.Name)
	}
	t := fmap{N: n, H: h, W: w, C: 3, D: x}
	t = r.conv(a.Stem.Name, t, a.Stem.Act)
	for _, b := range a.Blocks {
		t = r.block(b, t)
	}
	pooled := false
	for _, c := range a.Head {
		if c.OnPooled && !pooled {
			t = meanPool(t)
			pooled = true
		}
		t = r.conv(c.Name, t, c.Act)
	}
	if !pooled {
		t = meanPool(t)
	}
	cl := r.layers[a.Classifier.Name]
	y := r.apply(cl, t) // [N,1,1,classes]
	addBias(y, cl.bias)
	return y.D, nil
}

// Predict runs Logits and returns the logits with each image's predicted class (the first of equal maxima).
func (r *Runner) Predict(x []float32, n, h, w int) (logits []float32, classes []int, err error) {
	logits, err = r.Logits(x, n, h, w)
	if err != nil {
		return nil, nil, err
	}
	return logits, Argmax(logits, r.m.Arch.Classes), nil
}

// Argmax returns the index of the largest value of each row of a row-major [rows, classes] matrix (the first
// of equal maxima).
func Argmax(logits []float32, classes int) []int {
	out := make([]int, len(logits)/classes)
	for i := range out {
		row := logits[i*classes : (i+1)*classes]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		out[i] = best
	}
	return out
}

// conv is a standalone conv layer (stem, head): operator, bias, batch norm, activation.
func (r *Runner) conv(scope string, x fmap, act arch.Act) fmap {
	l := r.layers[scope]
	y := r.apply(l, x)
	addBias(y, l.bias)
	l.batchNorm(y)
	activate(y, act)
	return y
}

func (r *Runner) block(b arch.Block, x fmap) fmap {
	h := x
	if b.Expand {
		l := r.layers[b.Name+"/expand"]
		h = r.apply(l, h)
		l.batchNorm(h)
		activate(h, b.Act)
	}
	l := r.layers[b.Name+"/dw"]
	h = r.apply(l, h)
	l.batchNorm(h)
	activate(h, b.Act)
	if b.SE > 0 {
		h = r.squeezeExcite(b.Name, h)
	}
	l = r.layers[b.Name+"/project"]
	h = r.apply(l, h)
	l.batchNorm(h)
	if b.Residual {
		for i, v := range x.D {
			h.D[i] += v
		}
	}
	return h
}

// squeezeExcite: pool, reduce 1×1 + bias + ReLU, expand 1×1 + bias + h-sigmoid, scale the channels.
func (r *Runner) squeezeExcite(block string, x fmap) fmap {
	s := meanPool(x)
	rl, el := r.layers[block+"/se/reduce"], r.layers[block+"/se/expand"]
	s = r.apply(rl, s)
	addBias(s, rl.bias)
	activate(s, arch.ActReLU)
	s = r.apply(el, s)
	addBias(s, el.bias)
	activate(s, arch.ActHSigmoid)
	y := fmap{N: x.N, H: x.H, W: x.W, C: x.C, D: make([]float32, len(x.D))}
	hw := x.H * x.W
	for n := range x.N {
		gate := s.D[n*x.C : (n+1)*x.C]
		for p := range hw {
			off := (n*hw + p) * x.C
			for c := range x.C {
				y.D[off+c] = x.D[off+c] * gate[c]
			}
		}
	}
	return y
}

// apply runs a layer's operator (no bias, no norm) on x, through the integer kernels for Shift and Add.
func (r *Runner) apply(l *layer, x fmap) fmap {
	if x.C != l.In {
		panic(fmt.Sprintf("deploy: layer %s gets %d channels, want %d", l.Scope, x.C, l.In))
	}
	if r.ref {
		return r.applyReference(l, x)
	}
	switch l.Op {
	case arch.Shift:
		a := toFixed(x, true)
		switch l.Kind {
		case arch.KindDWConv:
			return fromFixed(intkernels.ShiftDepthwise(a, l.sw, l.K, l.Stride))
		case arch.KindLinear:
			return fromFixed(intkernels.ShiftLinear(a, l.sw, l.Out))
		}
		return fromFixed(intkernels.ShiftConv(a, l.sw, l.K, l.Out, l.Stride))
	case arch.Add:
		a := toFixed(x, false)
		switch l.Kind {
		case arch.KindDWConv:
			return fromFixed(intkernels.AddDepthwise(a, l.aw, l.K, l.Stride))
		case arch.KindLinear:
			return fromFixed(intkernels.AddLinear(a, l.aw, l.Out))
		}
		return fromFixed(intkernels.AddConv(a, l.aw, l.K, l.Out, l.Stride))
	}
	return multLayer(l, x)
}

func multLayer(l *layer, x fmap) fmap {
	if l.Kind == arch.KindDWConv {
		return multDepthwise(x, l.wf, l.K, l.Stride)
	}
	return multConv(x, l.wf, l.K, l.Out, l.Stride)
}

// applyReference is apply in floating point (NewReference).
func (r *Runner) applyReference(l *layer, x fmap) fmap {
	switch l.Op {
	case arch.Shift:
		if r.m.Shift.ActQuant {
			x = quantizeAct(x, r.m.Shift.ActFracBits)
		}
		return multLayer(l, x)
	case arch.Add:
		return addFloat(x, l.wf, l.K, l.Out, l.Stride, l.Kind == arch.KindDWConv)
	}
	return multLayer(l, x)
}

// batchNorm applies the layer's inference batch norm in place, if it has one, with the graph's float32
// operations: (x − μ)·scale + β.
func (l *layer) batchNorm(x fmap) {
	if !l.bn {
		return
	}
	for i := range x.D {
		c := i % x.C
		// The conversion rounds the product, so it cannot be fused into a multiply-add (Go spec).
		x.D[i] = float32((x.D[i]-l.mean[c])*l.scale[c]) + l.beta[c]
	}
}
