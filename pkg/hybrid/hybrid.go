// Package hybrid implements the hybrid computing layers of ShiftAddAug (Eq. 4).
//
// Each layer keeps one wide weight. The target network is its leading slice: [0, n) input and output channels. In
// the target pass only that slice runs, through the multiplication-free operator (Shift or Add), which is exactly
// what is exported. In the augmented pass the wide layer runs:
//
//	Conv:   Y_t = MF(X_t; W_tt) + Mult(X_a; W_at)      (target outputs)
//	        Y_a = Mult(X; W_·a)                         (augmented outputs)
//	DWConv: channel c < n through MF, the rest through Mult
//	FC:     Y = MF(X_t; W_t) + Mult(X_a; W_a) + b       (the bias belongs to the MF part)
//
// so the multiplicative channels help train the multiplication-free ones through the shared weights, and never
// enter the target. With Op == Mult (NetAug, the multiplicative baseline) both parts are one ordinary convolution.
package hybrid

import (
	"fmt"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/shiftaddaug/shiftaddaug/kernels"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
)

// Operators configures the operator kernels.
type Operators struct {
	Conv  kernels.ConvOpts
	Shift kernels.ShiftOpts
	Add   kernels.AddOpts
	// MFWeight, if set, maps the shared (Gaussian-like) weight slice to the weights the multiplication-free operator
	// uses: heterogeneous weight sharing (Eq. 5) or one of its ablations. Nil uses the shared weights as they are.
	MFWeight func(w *Node, op arch.Op) *Node
	// MFWeightLayer, if set, is a weight map that needs the layer's context: for maps with variables of their own
	// per layer or loss terms (ShiftAddNAS's piecewise kernel and KL penalty). AtLayer turns it into MFWeight.
	MFWeightLayer func(ctx *context.Context, w *Node, op arch.Op) *Node
	// AugMF makes the augmented channels use the multiplication-free operator too, instead of Mult: NetAug-style
	// augmentation with one operator (Table 7's "aug with shift"), the ablation hybrid computing is compared with.
	AugMF bool
	// AdderStepScale moves AdderNet's adaptive gradient scaling of an adder's weight from each operator call to the
	// layer's shared weight (pkg/models), where it acts once on the gradient summed over a step's passes. With one
	// pass per step (add) the two are the same; in augadd the per-call scaling (the default) gives the augmented
	// pass a full-size step of its own on the target's adder weights, whatever its weight α. (Per call trained
	// augadd better in the screens of issue 13, so it stays the default.)
	AdderStepScale bool
	// ExactAugShift computes the augmented pass of Shift layers as Eq. 4 is written: the target block as a Shift
	// operator of its own (its input channels rounded to fixed point), the augmented parts multiplied, the
	// outputs concatenated. Without it (the default, see fusedShift) the pass is one multiplication whose target
	// block of the weight is quantised, which differs only by the activation rounding (below 2^-FracBits).
	ExactAugShift bool
}

// minFusedFracBits is the least activation precision at which fusedShift leaves the rounding out: its effect
// on any input is then below 2^-12 of an activation's unit, far below a gradient step's.
const minFusedFracBits = 12

// fusedShift reports whether the augmented pass of a layer with operator op runs as one multiplication by a
// weight whose target block is shift-quantised (and HWS-mapped), instead of Eq. 4's three operators and a
// concatenation. A DeepShift-Q shift conv is a multiplication of quantised weights by activations rounded to
// 2^-FracBits; the fused pass keeps the weights' quantisation exactly and leaves out only that rounding of the
// target's input channels, and it saves the slices and concatenation of the activations (a fifth of the
// augmented step) and two of three GEMMs. The target pass, the network that is exported, always quantises both.
func (o Operators) fusedShift(op arch.Op) bool {
	return op == arch.Shift && !o.AugMF && !o.ExactAugShift &&
		(o.Shift.NoActQuant || o.Shift.FracBits() >= minFusedFracBits)
}

// shiftBlock returns the shift-quantised (and MFWeight-mapped) target block of a wide weight w, with the
// straight-through gradient of kernels.ShiftWeight.
func (o Operators) shiftBlock(w *Node) *Node {
	return kernels.ShiftWeight(o.mfWeight(w, arch.Shift), o.Shift.WeightBits())
}

// TargetWeight is the weight the multiplication-free operator op computes with from wt, a layer's target block of
// its shared weight (ConvTarget, DepthwiseTarget, LinearTarget): the weight map (HWS) and, for Shift, the
// quantisation with its straight-through gradient. For Mult it is wt. The augmented pass uses the same block for
// the target's outputs (Eq. 4), so one node can serve both passes of a step (ConvShared): the map and the
// quantisation then run once a step, and their backward pass once, on the summed gradient.
func (o Operators) TargetWeight(op arch.Op, wt *Node) *Node {
	if op == arch.Shift {
		return o.shiftBlock(wt)
	}
	return o.mfWeight(wt, op)
}

// mf returns the target block's multiplication-free weight: the one given, else TargetWeight of block().
func (o Operators) mf(op arch.Op, given *Node, block func() *Node) *Node {
	if given != nil {
		return given
	}
	return o.TargetWeight(op, block())
}

// withTargetWeight returns the operators for running op on a TargetWeight: Shift does not quantise it again.
func (o Operators) withTargetWeight(op arch.Op) Operators {
	if op == arch.Shift {
		o.Shift.WeightsQuantized = true
	}
	return o
}

// ConvTarget is the target block [·,·,0:In,0:Out] of a wide conv weight.
func ConvTarget(w *Node, d Dims) *Node {
	return Slice(w, AxisRange(), AxisRange(), AxisRange(0, d.In), AxisRange(0, d.Out))
}

// DepthwiseTarget is the target block [·,·,0:c] of a wide depthwise weight.
func DepthwiseTarget(w *Node, c int) *Node {
	return Slice(w, AxisRange(), AxisRange(), AxisRange(0, c))
}

// LinearTarget is the target block [0:in] of a wide FC weight.
func LinearTarget(w *Node, in int) *Node { return Slice(w, AxisRange(0, in)) }

// AtLayer returns the operators for the layer whose variables live in ctx: MFWeightLayer, if set, bound to ctx
// as MFWeight.
func (o Operators) AtLayer(ctx *context.Context) Operators {
	if o.MFWeightLayer == nil {
		return o
	}
	f := o.MFWeightLayer
	o.MFWeight = func(w *Node, op arch.Op) *Node { return f(ctx, w, op) }
	return o
}

func (o Operators) mfWeight(w *Node, op arch.Op) *Node {
	if o.MFWeight == nil || op == arch.Mult {
		return w
	}
	return o.MFWeight(w, op)
}

func (o Operators) convOpts(stride int) kernels.ConvOpts {
	c := o.Conv
	c.Stride = stride
	return c
}

// ConvOp runs one k×k convolution (x NHWC, w [k,k,Cin,Cout]) with the given operator.
func (o Operators) ConvOp(op arch.Op, x, w *Node, stride int) *Node {
	co := o.convOpts(stride)
	switch op {
	case arch.Shift:
		return kernels.ShiftConv(x, w, co, o.Shift)
	case arch.Add:
		return kernels.AddConv(x, w, co, o.Add)
	}
	return kernels.Conv(x, w, co)
}

// DepthwiseOp runs one depthwise convolution (w [k,k,C]) with the given operator.
func (o Operators) DepthwiseOp(op arch.Op, x, w *Node, stride int) *Node {
	co := o.convOpts(stride)
	switch op {
	case arch.Shift:
		return kernels.ShiftDepthwise(x, w, co, o.Shift)
	case arch.Add:
		return kernels.AddDepthwise(x, w, co, o.Add)
	}
	return kernels.Depthwise(x, w, co)
}

// LinearOp runs one fully connected layer (x [N,Cin], w [Cin,Cout]) with the given operator.
func (o Operators) LinearOp(op arch.Op, x, w *Node) *Node {
	co := o.convOpts(1)
	switch op {
	case arch.Shift:
		return kernels.ShiftLinear(x, w, co, o.Shift)
	case arch.Add:
		return kernels.AddLinear(x, w, co, o.Add)
	}
	return kernels.Linear(x, w, co)
}

// Dims are a layer's target channel counts; the wide counts come from the weight's shape.
type Dims struct {
	In, Out int
}

// Conv is a hybrid k×k convolution. w is the wide weight [k,k,InWide,OutWide]. In the target pass x has In
// channels and only the MF slice runs; in the augmented pass x has InWide channels (Eq. 4). The output has Out or
// OutWide channels.
func Conv(o Operators, op arch.Op, x, w *Node, d Dims, stride int, augmented bool) *Node {
	return ConvShared(o, op, x, w, nil, d, stride, augmented)
}

// ConvShared is Conv with the target block's multiplication-free weight mf given (TargetWeight of ConvTarget(w,
// d), which the augmented pass's masks leave alone), so that a step's passes share it; nil computes it here.
func ConvShared(o Operators, op arch.Op, x, w, mf *Node, d Dims, stride int, augmented bool) *Node {
	wd := w.Shape().Dimensions
	inWide, outWide := wd[2], wd[3]
	xin := x.Shape().Dimensions[3]
	target := func() *Node { return ConvTarget(w, d) }
	if !augmented {
		if xin != d.In {
			panic(fmt.Errorf("hybrid.Conv: target input has %d channels, want %d", xin, d.In))
		}
		return o.withTargetWeight(op).ConvOp(op, x, o.mf(op, mf, target), stride)
	}
	if xin != inWide {
		panic(fmt.Errorf("hybrid.Conv: input has %d channels, want target %d or wide %d", xin, d.In, inWide))
	}
	if op == arch.Mult {
		return o.ConvOp(arch.Mult, x, w, stride)
	}
	if o.AugMF {
		return o.ConvOp(op, x, o.mfWeight(w, op), stride)
	}
	if o.fusedShift(op) {
		wide := o.mf(op, mf, target)
		if outWide > d.Out {
			wide = Concatenate([]*Node{wide, Slice(w, AxisRange(), AxisRange(), AxisRange(0, d.In), AxisRange(d.Out, outWide))}, 3)
		}
		if inWide > d.In {
			wide = Concatenate([]*Node{wide, Slice(w, AxisRange(), AxisRange(), AxisRange(d.In, inWide), AxisRange())}, 2)
		}
		return o.ConvOp(arch.Mult, x, wide, stride)
	}
	xt := Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(0, d.In))
	yt := o.withTargetWeight(op).ConvOp(op, xt, o.mf(op, mf, target), stride)
	if inWide > d.In {
		xa := Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(d.In, inWide))
		wat := Slice(w, AxisRange(), AxisRange(), AxisRange(d.In, inWide), AxisRange(0, d.Out))
		yt = Add(yt, o.ConvOp(arch.Mult, xa, wat, stride))
	}
	if outWide == d.Out {
		return yt
	}
	ya := o.ConvOp(arch.Mult, x, Slice(w, AxisRange(), AxisRange(), AxisRange(), AxisRange(d.Out, outWide)), stride)
	return Concatenate([]*Node{yt, ya}, 3)
}

// Depthwise is a hybrid depthwise convolution over the wide weight [k,k,CWide]: the first c channels (the target)
// through the MF operator, the rest through Mult. x has c channels (target pass) or CWide (augmented pass).
func Depthwise(o Operators, op arch.Op, x, w *Node, c, stride int, augmented bool) *Node {
	return DepthwiseShared(o, op, x, w, nil, c, stride, augmented)
}

// DepthwiseShared is Depthwise with the target block's multiplication-free weight mf given (TargetWeight, for the
// depthwise's DepthwiseOperator, of DepthwiseTarget(w, c)); nil computes it here.
func DepthwiseShared(o Operators, op arch.Op, x, w, mf *Node, c, stride int, augmented bool) *Node {
	op = DepthwiseOperator(op)
	wide := w.Shape().Dimensions[2]
	xin := x.Shape().Dimensions[3]
	target := func() *Node { return DepthwiseTarget(w, c) }
	if !augmented {
		if xin != c {
			panic(fmt.Errorf("hybrid.Depthwise: target input has %d channels, want %d", xin, c))
		}
		return o.withTargetWeight(op).DepthwiseOp(op, x, o.mf(op, mf, target), stride)
	}
	if xin != wide {
		panic(fmt.Errorf("hybrid.Depthwise: input has %d channels, want target %d or wide %d", xin, c, wide))
	}
	if op == arch.Mult {
		return o.DepthwiseOp(arch.Mult, x, w, stride)
	}
	if wide == c || o.AugMF {
		return o.DepthwiseOp(op, x, o.mfWeight(w, op), stride)
	}
	if o.fusedShift(op) {
		wq := Concatenate([]*Node{o.mf(op, mf, target), Slice(w, AxisRange(), AxisRange(), AxisRange(c, wide))}, 2)
		return o.DepthwiseOp(arch.Mult, x, wq, stride)
	}
	yt := o.withTargetWeight(op).DepthwiseOp(op, Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(0, c)),
		o.mf(op, mf, target), stride)
	ya := o.DepthwiseOp(arch.Mult, Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(c, wide)),
		Slice(w, AxisRange(), AxisRange(), AxisRange(c, wide)), stride)
	return Concatenate([]*Node{yt, ya}, 3)
}

// DepthwiseOperator is the operator a depthwise layer of a block with operator op runs (arch.EffectiveOp).
func DepthwiseOperator(op arch.Op) arch.Op { return arch.EffectiveOp(op, arch.KindDWConv) }

// Linear is a hybrid fully connected layer over the wide weight [InWide, Out] with bias [Out] (nil for none): the
// target input features through the MF operator, the augmented ones through Mult, summed. x has In (target pass)
// or InWide (augmented pass) features.
func Linear(o Operators, op arch.Op, x, w, bias *Node, in int, augmented bool) *Node {
	return LinearShared(o, op, x, w, nil, bias, in, augmented)
}

// LinearShared is Linear with the target block's multiplication-free weight mf given (TargetWeight of
// LinearTarget(w, in)); nil computes it here.
func LinearShared(o Operators, op arch.Op, x, w, mf, bias *Node, in int, augmented bool) *Node {
	inWide := w.Shape().Dimensions[0]
	xin := x.Shape().Dimensions[1]
	target := func() *Node { return LinearTarget(w, in) }
	var y *Node
	switch {
	case !augmented:
		if xin != in {
			panic(fmt.Errorf("hybrid.Linear: target input has %d features, want %d", xin, in))
		}
		y = o.withTargetWeight(op).LinearOp(op, x, o.mf(op, mf, target))
	case xin != inWide:
		panic(fmt.Errorf("hybrid.Linear: input has %d features, want target %d or wide %d", xin, in, inWide))
	case op == arch.Mult:
		y = o.LinearOp(arch.Mult, x, w)
	case o.AugMF:
		y = o.LinearOp(op, x, o.mfWeight(w, op))
	case o.fusedShift(op) && inWide > in:
		y = o.LinearOp(arch.Mult, x, Concatenate([]*Node{o.mf(op, mf, target), Slice(w, AxisRange(in, inWide))}, 0))
	default:
		y = o.withTargetWeight(op).LinearOp(op, Slice(x, AxisRange(), AxisRange(0, in)), o.mf(op, mf, target))
		if inWide > in {
			y = Add(y, o.LinearOp(arch.Mult, Slice(x, AxisRange(), AxisRange(in, inWide)), Slice(w, AxisRange(in, inWide))))
		}
	}
	if bias != nil {
		y = Add(y, ExpandLeftToRank(bias, y.Rank()))
	}
	return y
}
