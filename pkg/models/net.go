// Package models turns a pkg/arch description into a GoMLX network: the target pass (the multiplication-free
// network that is exported) and the augmented pass (the wide hybrid network of ShiftAddAug, Eq. 3 and 4), both over
// one set of wide weights.
package models

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/shiftaddaug/shiftaddaug/kernels"
	"github.com/shiftaddaug/shiftaddaug/kernels/norm"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/pkg/hybrid"
)

// Net is a model description with its augmentation setting: what both passes are built from.
type Net struct {
	Arch *arch.Model
	Aug  Aug
	// Seed makes weight initialisation deterministic (each variable draws from a stream keyed by seed and name).
	Seed uint64
	// AddInitStd, when positive, draws the weights of the adder layers that batch norm follows (stem, expand,
	// project and head convolutions under Add) from N(0, AddInitStd²) instead of kaiming-uniform: the adders'
	// (target) slice of each wide tensor; the augmented slices, which compute by multiplication, stay
	// kaiming-uniform. SE adders (no batch norm) keep kaiming-uniform. Zero: kaiming-uniform everywhere, as NetAug.
	// See pkg/train's AdderRecipe.
	AddInitStd float64
	dims       dims
	// stepScaled caches, per graph, the adder weights wrapped by adderWeight, so that both passes of a training
	// step share one wrapped node and its gradient is scaled once, summed over the passes.
	stepScaled map[stepScaledKey]*Node
	// targetWeights caches, per graph, the Shift layers' target-block weights (targetWeight), so that both passes
	// of a training step map and quantise them once.
	targetWeights map[stepScaledKey]*Node
}

type stepScaledKey struct {
	graph GraphId
	scope string
}

// New prepares a network for building. aug may be the zero value (no augmentation: wide == target).
func New(m *arch.Model, aug Aug, seed uint64) (*Net, error) {
	if err := aug.validate(); err != nil {
		return nil, err
	}
	return &Net{Arch: m, Aug: aug, Seed: seed, dims: computeDims(m, aug)}, nil
}

// MaskLen is the length of the mask vector the augmented pass takes.
func (n *Net) MaskLen() int { return n.dims.MaskLen }

// Augmented reports whether the network has channels beyond the target.
func (n *Net) Augmented() bool {
	return n.dims.MaskLen > n.targetMaskLen()
}

func (n *Net) targetMaskLen() int {
	t := n.dims.Stem.Target
	for _, b := range n.dims.Blocks {
		t += b.Out.Target + b.SE.Target
		if b.Mid != b.In {
			t += b.Mid.Target
		}
	}
	for _, h := range n.dims.Head {
		t += h.Target
	}
	return t + n.dims.segInner.Target
}

// Pass selects what Logits builds.
type Pass struct {
	// Augmented builds the wide hybrid network (Eq. 4) with channel masks; otherwise the target network alone.
	Augmented bool
	// Masks is the [MaskLen] float vector of active channels (from SampleMasks), required when Augmented.
	Masks *Node
	// Ops configures the operator kernels and the weight remap of the multiplication-free slices.
	Ops hybrid.Operators
	// BNScope names the batch-norm running statistics this pass updates ("" for the target's).
	BNScope string
	// DepthAugOut is how many of the model's depth-augmentation blocks (arch.Block.DepthAug, in execution order)
	// the target pass skips: they are phased out of the target during training (§3.4). The augmented pass runs
	// them all. Skipping one is exact: they are residual.
	DepthAugOut int
}

// Logits builds the network on images x [N, H, W, 3] (NHWC) and returns the class logits [N, classes].
// Training or inference follows ctx.IsTraining. Variables are created on first use and shared by both passes.
func (n *Net) Logits(ctx *context.Context, x *Node, p Pass) *Node {
	if n.Arch.Seg != nil {
		panic(fmt.Errorf("models: %s is a segmentation model: use SegLogits", n.Arch.Name))
	}
	ctx = ctx.Checked(false)
	b := &builder{net: n, ctx: ctx, pass: p, g: x.Graph()}
	m, d := n.Arch, n.dims
	h, in, inMask := b.backbone(x, nil)
	pooled := false
	for i, c := range m.Head {
		if c.OnPooled && !pooled {
			h = ReduceAndKeep(h, ReduceMean, 1, 2)
			pooled = true
		}
		h = b.conv(ctx.In(c.Name), h, c, in, inMask, d.Head[i], d.headMask[i])
		in, inMask = d.Head[i], d.headMask[i]
	}
	if !pooled {
		h = ReduceMean(h, 1, 2)
	} else {
		h = Reshape(h, h.Shape().Dimensions[0], h.Shape().Dimensions[3])
	}
	cctx := ctx.In(m.Classifier.Name)
	w := b.weight(cctx, "weights", []int{d.ClassIn.Wide, m.Classifier.Out}, initTruncNormal002)
	bias := b.weight(cctx, "bias", []int{m.Classifier.Out}, initZero)
	cops := p.Ops.AtLayer(cctx)
	mf := b.targetWeight(cctx, m.Classifier.Op, cops, func() *Node { return hybrid.LinearTarget(w, d.ClassIn.Target) })
	return hybrid.LinearShared(cops, m.Classifier.Op, h, w, mf, bias, d.ClassIn.Target, p.Augmented)
}

// backbone runs the stem and blocks on x and returns the last block's output with its channels and mask offset.
// When tap names a block, tap.out receives that block's output (the segmentation head's skip input).
func (b *builder) backbone(x *Node, tap *blockTap) (h *Node, out channels, outMask int) {
	if b.pass.Augmented && b.pass.Masks == nil {
		panic(fmt.Errorf("models: the augmented pass needs Pass.Masks"))
	}
	m, d := b.net.Arch, b.net.dims
	h = b.conv(b.ctx.In(m.Stem.Name), x, m.Stem, channels{3, 3}, -1, d.Stem, d.stemMask)
	out, outMask = d.Stem, d.stemMask
	da := 0
	for i, blk := range m.Blocks {
		if blk.DepthAug {
			da++
			if !b.pass.Augmented && da <= b.pass.DepthAugOut {
				continue
			}
		}
		h = b.block(b.ctx.In(blk.Name), h, blk, d.Blocks[i])
		out, outMask = d.Blocks[i].Out, d.Blocks[i].outMask
		if tap != nil && blk.Name == tap.name {
			tap.out, tap.ch, tap.mask = h, out, outMask
		}
	}
	return h, out, outMask
}

// blockTap asks backbone for one block's output.
type blockTap struct {
	name string
	out  *Node
	ch   channels
	mask int
}

type builder struct {
	net  *Net
	ctx  *context.Context
	pass Pass
	g    *Graph
}

// width is the channel count of a tensor in this pass.
func (b *builder) width(c channels) int {
	if b.pass.Augmented {
		return c.Wide
	}
	return c.Target
}

// mask zeroes the inactive channels of x in the augmented pass.
func (b *builder) mask(x *Node, c channels, offset int) *Node {
	m := b.maskVector(c, offset, x.DType())
	if m == nil {
		return x
	}
	return Mul(x, ExpandLeftToRank(m, x.Rank()))
}

// maskVector is the [c.Wide] 0/1 channel mask at offset in the augmented pass, nil when nothing is masked.
func (b *builder) maskVector(c channels, offset int, dtype dtypes.DType) *Node {
	if !b.pass.Augmented || c.Wide == c.Target {
		return nil
	}
	return ConvertDType(Slice(b.pass.Masks, AxisRange(offset, offset+c.Wide)), dtype)
}

// normActMask is mask(activation(batchNorm(x))). When the activation maps 0 to 0 the mask goes into the batch norm
// instead (norm's Mask: inactive channels come out as zero, their running statistics stay as they are), which the
// fused batch norm applies for free, rather than as a per-channel multiply over the activations and its gradient.
// The two differ only in the augmented pass's own running statistics (AugStats) of inactive channels, which
// nothing reads.
func (b *builder) normActMask(ctx *context.Context, x *Node, c channels, a arch.Act, offset int) *Node {
	if a == arch.ActHSigmoid { // hard sigmoid(0) = 1/2
		return b.mask(activation(b.batchNorm(ctx, x, c), a), c, offset)
	}
	m := b.maskVector(c, offset, x.DType())
	return activation(norm.BatchNorm(ctx, x).Channels(c.Wide).Stats(b.pass.BNScope).Mask(m).Done(), a)
}

// maskWeight zeroes, in the augmented pass, the input rows (at inOff in the mask vector; -1: none) and output
// columns (at outOff) of inactive channels in a wide conv weight [k,k,In,Out], or the inactive channels of a
// depthwise weight [k,k,C] (in is ignored). Inactive channels are zero on the way in and masked on the way out
// anyway, so this changes no active value or gradient; but their convolutions now compute exact zeros (outputs,
// input gradients), which the engine's products, batch norms and depthwise kernels skip. NetAug computes only the
// active channels (it slices the weights); with static shapes this is how the engine gets there. Under AugMF the
// augmented channels are multiplication-free too, where a zero weight does not give a zero output (an adder's
// −|x−0|), so the weights are left as they are.
func (b *builder) maskWeight(w *Node, in channels, inOff int, out channels, outOff int) *Node {
	if !b.pass.Augmented || b.pass.Ops.AugMF || noWeightMask {
		return w
	}
	mo := b.maskVector(out, outOff, w.DType())
	if w.Rank() == 3 {
		if mo == nil {
			return w
		}
		return Mul(w, ExpandLeftToRank(mo, 3))
	}
	var mi *Node
	if inOff >= 0 {
		mi = b.maskVector(in, inOff, w.DType())
	}
	switch {
	case mi == nil && mo == nil:
		return w
	case mi == nil:
		return Mul(w, ExpandLeftToRank(mo, 4))
	case mo == nil:
		return Mul(w, Reshape(mi, 1, 1, in.Wide, 1))
	}
	return Mul(w, Mul(Reshape(mi, 1, 1, in.Wide, 1), Reshape(mo, 1, 1, 1, out.Wide)))
}

// noWeightMask switches maskWeight off, for the test that shows it changes nothing.
var noWeightMask bool

// noSharedTargetWeight switches targetWeight's sharing off, for the test that shows it changes nothing.
var noSharedTargetWeight bool

// conv is a standalone conv (stem, head): conv, batch norm, activation, mask. inMask is the offset of its input's
// mask (-1: the image).
func (b *builder) conv(ctx *context.Context, x *Node, c arch.Conv, in channels, inMask int, out channels, maskOff int) *Node {
	op := arch.EffectiveOp(c.Op, arch.KindConv)
	raw := b.weight(ctx, "weights", []int{c.K, c.K, in.Wide, out.Wide}, b.convInit(op, c.BN, in, out))
	w := b.maskWeight(raw, in, inMask, out, maskOff)
	y := b.hybridConv(ctx, op, x, w, raw, hybrid.Dims{In: in.Target, Out: out.Target}, c.Stride)
	if c.Bias {
		y = Add(y, ExpandLeftToRank(b.slice1(b.weight(ctx, "bias", []int{out.Wide}, initZero), out), y.Rank()))
	}
	if c.BN {
		return b.normActMask(ctx, y, out, c.Act, maskOff)
	}
	return b.mask(activation(y, c.Act), out, maskOff)
}

func (b *builder) block(ctx *context.Context, x *Node, blk arch.Block, d blockDims) *Node {
	ops := b.pass.Ops
	h := x
	if blk.Expand {
		ectx := ctx.In("expand")
		raw := b.weight(ectx, "weights", []int{1, 1, d.In.Wide, d.Mid.Wide}, b.convInit(blk.Op, true, d.In, d.Mid))
		w := b.maskWeight(raw, d.In, d.inMask, d.Mid, d.midMask)
		h = b.hybridConv(ectx, blk.Op, h, w, raw, hybrid.Dims{In: d.In.Target, Out: d.Mid.Target}, 1)
		h = b.normActMask(ectx, h, d.Mid, blk.Act, d.midMask)
	}
	dctx := ctx.In("dw")
	raw := b.weight(dctx, "weights", []int{blk.K, blk.K, d.Mid.Wide}, initKaiming)
	w := b.maskWeight(raw, d.Mid, -1, d.Mid, d.midMask)
	dops := ops.AtLayer(dctx)
	mf := b.targetWeight(dctx, hybrid.DepthwiseOperator(blk.Op), dops, func() *Node { return hybrid.DepthwiseTarget(raw, d.Mid.Target) })
	h = hybrid.DepthwiseShared(dops, blk.Op, h, w, mf, d.Mid.Target, blk.Stride, b.pass.Augmented)
	h = b.normActMask(dctx, h, d.Mid, blk.Act, d.midMask)
	if blk.SE > 0 {
		h = b.squeezeExcite(ctx.In("se"), h, blk, d)
	}
	pctx := ctx.In("project")
	raw = b.weight(pctx, "weights", []int{1, 1, d.Mid.Wide, d.Out.Wide}, b.convInit(blk.Op, true, d.Mid, d.Out))
	w = b.maskWeight(raw, d.Mid, d.midMask, d.Out, d.outMask)
	h = b.hybridConv(pctx, blk.Op, h, w, raw, hybrid.Dims{In: d.Mid.Target, Out: d.Out.Target}, 1)
	h = b.normActMask(pctx, h, d.Out, arch.ActNone, d.outMask)
	if blk.Residual {
		h = Add(h, x)
	}
	return h
}

// hybridConv runs the layer's hybrid convolution (hybrid.Conv) on its wide weight w (raw: the same before the
// augmented pass's masks). With Ops.AdderStepScale, an adder's weight takes AdderNet's adaptive gradient scaling
// once, on the gradient summed over the step's passes (adderWeight), instead of once per call inside the kernel.
func (b *builder) hybridConv(ctx *context.Context, op arch.Op, x, w, raw *Node, d hybrid.Dims, stride int) *Node {
	ops := b.pass.Ops.AtLayer(ctx)
	if op == arch.Add && ops.AdderStepScale && !ops.Add.NoAdaptiveScale {
		w = b.adderWeight(ctx, w, d, ops)
		ops.Add.NoAdaptiveScale = true
	}
	mf := b.targetWeight(ctx, op, ops, func() *Node { return hybrid.ConvTarget(raw, d) })
	return hybrid.ConvShared(ops, op, x, w, mf, d, stride, b.pass.Augmented)
}

// targetWeight returns hybrid.TargetWeight of the layer's target block (block(), cut from the weight before any
// mask: the target channels are always active, so the masks leave that block alone), one node per graph and
// layer, so that a training step's target and augmented passes share it: the HWS map and the quantisation of a
// Shift layer's weights then run once a step, and their backward pass once, on the summed gradient, instead of
// once a pass (the map alone was about a tenth of an augshift step at res 32). Only Shift layers whose weight map
// needs no layer context of its own share it; nil otherwise, and hybrid maps the block in each pass.
func (b *builder) targetWeight(ctx *context.Context, op arch.Op, ops hybrid.Operators, block func() *Node) *Node {
	if op != arch.Shift || ops.MFWeightLayer != nil || noSharedTargetWeight {
		return nil
	}
	key := stepScaledKey{b.g.GraphId(), ctx.Scope()}
	if n, ok := b.net.targetWeights[key]; ok {
		return n
	}
	n := ops.TargetWeight(op, block())
	if b.net.targetWeights == nil {
		b.net.targetWeights = map[stepScaledKey]*Node{}
	}
	b.net.targetWeights[key] = n
	return n
}

// adderWeight wraps an adder layer's wide weight [k,k,InWide,OutWide] in an identity whose gradient g has its
// adder region (the target slice [·,·,0:In,0:Out], the whole tensor when the augmented channels are adders too)
// rescaled to g·η·√k/‖g‖₂ over that region, k its size, as kernels.AdaptiveGradScale does; the multiplicative
// region's gradient is left as it is. One wrapped node per graph and variable, so the target and augmented passes
// share it: AdderNet's per-layer scaling applies to the layer's whole step, α-weighted augmented gradient included,
// rather than giving each pass a full-size step of its own.
func (b *builder) adderWeight(ctx *context.Context, w *Node, d hybrid.Dims, ops hybrid.Operators) *Node {
	key := stepScaledKey{b.g.GraphId(), ctx.Scope()}
	if n, ok := b.net.stepScaled[key]; ok {
		return n
	}
	dims := w.Shape().Dimensions
	in, out := d.In, d.Out
	if ops.AugMF {
		in, out = dims[2], dims[3]
	}
	region := make([]float32, numel(dims))
	for i := range region {
		if ci, co := (i/dims[3])%dims[2], i%dims[3]; ci < in && co < out {
			region[i] = 1
		}
	}
	mask := ConvertDType(Const(b.g, tensors.FromFlatDataAndDimensions(region, dims...)), w.DType())
	eta, k := ops.Add.EtaOrDefault(), float64(dims[0]*dims[1]*in*out)
	wrapped := IdentityWithCustomGradient(w, func(_, g *Node) *Node {
		gr := Mul(g, mask)
		norm := MaxScalar(Sqrt(ReduceAllSum(Mul(gr, gr))), 1e-12)
		scale := MulScalar(Inverse(norm), eta*math.Sqrt(k))
		// g outside the region, scale·g inside it.
		return Add(g, Mul(gr, AddScalar(scale, -1)))
	})
	if b.net.stepScaled == nil {
		b.net.stepScaled = map[stepScaledKey]*Node{}
	}
	b.net.stepScaled[key] = wrapped
	return wrapped
}

// squeezeExcite is MobileNetV3's SE: pool, reduce 1x1 (bias) + ReLU, expand 1x1 (bias) + hard sigmoid, scale.
// Its 1x1 convs run on the pooled [N,1,1,C] map as hybrid convolutions, so they follow the block's operator.
func (b *builder) squeezeExcite(ctx *context.Context, x *Node, blk arch.Block, d blockDims) *Node {
	s := ReduceAndKeep(x, ReduceMean, 1, 2)
	rctx, ectx := ctx.In("reduce"), ctx.In("expand")
	wrRaw := b.weight(rctx, "weights", []int{1, 1, d.Mid.Wide, d.SE.Wide}, initKaiming)
	wr := b.maskWeight(wrRaw, d.Mid, d.midMask, d.SE, d.seMask)
	s = b.hybridConv(rctx, blk.Op, s, wr, wrRaw, hybrid.Dims{In: d.Mid.Target, Out: d.SE.Target}, 1)
	s = Add(s, ExpandLeftToRank(b.slice1(b.weight(rctx, "bias", []int{d.SE.Wide}, initZero), d.SE), 4))
	s = b.mask(activation(s, arch.ActReLU), d.SE, d.seMask)
	weRaw := b.weight(ectx, "weights", []int{1, 1, d.SE.Wide, d.Mid.Wide}, initKaiming)
	we := b.maskWeight(weRaw, d.SE, d.seMask, d.Mid, d.midMask)
	s = b.hybridConv(ectx, blk.Op, s, we, weRaw, hybrid.Dims{In: d.SE.Target, Out: d.Mid.Target}, 1)
	s = Add(s, ExpandLeftToRank(b.slice1(b.weight(ectx, "bias", []int{d.Mid.Wide}, initZero), d.Mid), 4))
	return Mul(x, activation(s, arch.ActHSigmoid))
}

// slice1 cuts a wide per-channel vector to this pass's width.
func (b *builder) slice1(v *Node, c channels) *Node {
	if w := b.width(c); w != c.Wide {
		return Slice(v, AxisRange(0, w))
	}
	return v
}

// batchNorm normalises x's channels with the layer's wide γ, β (sliced to this pass) and the pass's running
// statistics.
func (b *builder) batchNorm(ctx *context.Context, x *Node, c channels) *Node {
	return batchNorm(ctx, x, c, b.pass)
}

// activation applies a; the clipping ones are kernels' (GoMLX's ops and gradient values, the gradient mask
// computed once instead of through Max/Min's Sign-based indicators).
func activation(x *Node, a arch.Act) *Node {
	switch a {
	case arch.ActReLU:
		return kernels.ReLU(x)
	case arch.ActReLU6:
		return kernels.ReLU6(x)
	case arch.ActHSwish:
		return kernels.HardSwish(x)
	case arch.ActHSigmoid:
		return kernels.HardSigmoid(x)
	}
	return x
}

// initFn fills a new variable of the given dimensions from a seeded stream.
type initFn func(rng *rand.Rand, dims []int) []float32

// weight returns the named variable of ctx, creating it with init on first use.
func (b *builder) weight(ctx *context.Context, name string, dims []int, init initFn) *Node {
	g := b.g
	if v := ctx.InspectVariableInScope(name); v != nil {
		if fmt.Sprint(v.Shape().Dimensions) != fmt.Sprint(dims) {
			panic(fmt.Errorf("models: variable %s/%s has shape %v, want %v", ctx.Scope(), name, v.Shape().Dimensions, dims))
		}
		return v.ValueGraph(g)
	}
	h := fnv.New64a()
	h.Write([]byte(ctx.Scope() + "/" + name))
	rng := rand.New(rand.NewPCG(b.net.Seed, h.Sum64()))
	t := tensors.FromFlatDataAndDimensions(init(rng, dims), dims...)
	return ctx.VariableWithValue(name, t).ValueGraph(g)
}

func numel(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// initKaiming is PyTorch's default conv init, kaiming_uniform(a=√5), which NetAug uses: U(±1/√fan_in), fan_in =
// k·k·Cin (k·k for depthwise, whose weight is [k,k,C]).
func initKaiming(rng *rand.Rand, dims []int) []float32 {
	fanIn := dims[0] * dims[1]
	if len(dims) == 4 {
		fanIn *= dims[2]
	}
	bound := 1 / math.Sqrt(float64(fanIn))
	v := make([]float32, numel(dims))
	for i := range v {
		v[i] = float32((2*rng.Float64() - 1) * bound)
	}
	return v
}

// convInit is the initialiser of a dense convolution's weights [k,k,in.Wide,out.Wide]: for an adder that batch norm
// follows, when AddInitStd is set, N(0, AddInitStd²) on the adder's slice (the target's [·,·,0:in.Target,
// 0:out.Target]) and kaiming-uniform on the rest, which the augmented pass computes with by multiplication;
// kaiming-uniform otherwise.
func (b *builder) convInit(op arch.Op, bn bool, in, out channels) initFn {
	if op != arch.Add || !bn || b.net.AddInitStd <= 0 {
		return initKaiming
	}
	std := b.net.AddInitStd
	return func(rng *rand.Rand, dims []int) []float32 {
		bound := 1 / math.Sqrt(float64(dims[0]*dims[1]*dims[2])) // initKaiming's
		v := make([]float32, numel(dims))
		for i := range v {
			if ci, co := (i/dims[3])%dims[2], i%dims[3]; ci < in.Target && co < out.Target {
				v[i] = float32(std * rng.NormFloat64())
			} else {
				v[i] = float32((2*rng.Float64() - 1) * bound)
			}
		}
		return v
	}
}

// initNormal draws from N(0, std²) (AdderNet initialises its adders with std 1).
func initNormal(std float64) initFn {
	return func(rng *rand.Rand, dims []int) []float32 {
		v := make([]float32, numel(dims))
		for i := range v {
			v[i] = float32(std * rng.NormFloat64())
		}
		return v
	}
}

// initTruncNormal002 is NetAug's classifier init: a normal with std 0.02 truncated at ±2 std.
func initTruncNormal002(rng *rand.Rand, dims []int) []float32 {
	v := make([]float32, numel(dims))
	for i := range v {
		z := rng.NormFloat64()
		for math.Abs(z) > 2 {
			z = rng.NormFloat64()
		}
		v[i] = float32(0.02 * z)
	}
	return v
}

func initZero(_ *rand.Rand, dims []int) []float32 { return make([]float32, numel(dims)) }

func initOne(_ *rand.Rand, dims []int) []float32 {
	v := make([]float32, numel(dims))
	for i := range v {
		v[i] = 1
	}
	return v
}
