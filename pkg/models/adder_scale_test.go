package models

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/shiftaddaug/shiftaddaug/kernels"
	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/pkg/hybrid"
)

// TestAdderStepScale checks Operators.AdderStepScale on an augadd network: for every adder weight, the gradient of
// L = L(target) + α·L(augmented) must be the raw gradient (no adaptive scaling anywhere) outside the adder region,
// and inside it the raw gradient of both passes summed, rescaled to norm η·√k. Per-call scaling (each pass
// normalised on its own) must fail the same check, so the test tells the two apart.
func TestAdderStepScale(t *testing.T) {
	backend := engine.MustNew()
	m, net := augaddNet(t)
	const batch, res, alpha, eta = 4, 32, 0.5, 4.0
	x := tensors.FromFlatDataAndDimensions(randomImages(batch*res*res*3, 11), batch, res, res, 3)
	labels := make([]int32, batch)
	for i := range labels {
		labels[i] = int32(i % 10)
	}
	y := tensors.FromFlatDataAndDimensions(labels, batch)
	masks := tensors.FromFlatDataAndDimensions(net.SampleMasks(rand.New(rand.NewPCG(3, 4)), SampleRandom), net.MaskLen())
	ctx := context.New()
	gradsWith := func(ops hybrid.Operators) map[string][]float32 {
		ops.Add.Eta = eta
		lossOf := func(ctx *context.Context, x, y, mk *Node) *Node {
			ctx.SetTraining(x.Graph(), true)
			ce := func(p Pass) *Node {
				logits := net.Logits(ctx, x, p)
				return Neg(ReduceAllMean(ReduceSum(Mul(LogSoftmax(logits), OneHot(y, 10, logits.DType())), -1)))
			}
			return Add(ce(Pass{Ops: ops}), MulScalar(ce(Pass{Augmented: true, Masks: mk, Ops: ops, BNScope: AugStats}), alpha))
		}
		context.MustNewExec(backend, ctx, lossOf).MustExec(x, y, masks) // creates the variables
		var names []string
		for v := range ctx.IterVariables() {
			if v.Trainable {
				names = append(names, v.Scope()+"/"+v.Name())
			}
		}
		out := context.MustNewExec(backend, ctx, func(ctx *context.Context, x, y, mk *Node) []*Node {
			return ctx.BuildTrainableVariablesGradientsGraph(lossOf(ctx, x, y, mk))
		}).MustExec(x, y, masks)
		grads := map[string][]float32{}
		for i, n := range names {
			grads[n], _ = tensors.CopyFlatData[float32](out[i])
		}
		return grads
	}
	raw := gradsWith(hybrid.Operators{Add: kernels.AddOpts{NoAdaptiveScale: true}})
	step := gradsWith(hybrid.Operators{AdderStepScale: true})
	perCall := gradsWith(hybrid.Operators{})

	// The adder weights and their target regions, from the dims: stem, expand and project convolutions, head.
	type layer struct {
		name    string
		in, out channels
	}
	d := net.dims
	layers := []layer{{"/" + m.Stem.Name, channels{3, 3}, d.Stem}}
	for i, blk := range m.Blocks {
		if blk.Expand {
			layers = append(layers, layer{"/" + blk.Name + "/expand", d.Blocks[i].In, d.Blocks[i].Mid})
		}
		layers = append(layers, layer{"/" + blk.Name + "/project", d.Blocks[i].Mid, d.Blocks[i].Out})
	}
	// relErr is |got − want| / |want| over the region (inside) and outside it.
	relErr := func(got []float32, want []float32, in, out channels, k int) (inside, outside float64) {
		var rn, dIn, nIn, dOut, nOut float64
		isIn := func(i int) bool { return (i/out.Wide)%in.Wide < in.Target && i%out.Wide < out.Target }
		for i, v := range want {
			if isIn(i) {
				rn += float64(v) * float64(v)
			}
		}
		scale := eta * math.Sqrt(float64(k*k*in.Target*out.Target)) / math.Sqrt(rn)
		for i := range want {
			w := float64(want[i])
			if isIn(i) {
				w *= scale
				dIn, nIn = dIn+sq(float64(got[i])-w), nIn+w*w
			} else {
				dOut, nOut = dOut+sq(float64(got[i])-w), nOut+w*w
			}
		}
		return math.Sqrt(dIn / nIn), math.Sqrt(dOut / max(nOut, 1e-30))
	}
	worstPerCall := 0.0
	for _, l := range layers {
		name := l.name + "/weights"
		k := 1
		if l.name == "/"+m.Stem.Name {
			k = m.Stem.K
		}
		in, out := relErr(step[name], raw[name], l.in, l.out, k)
		if in > 1e-3 || out > 1e-3 {
			t.Errorf("%s: step-scaled gradient off the expected by %.2g inside the adder region, %.2g outside", name, in, out)
		}
		pc, _ := relErr(perCall[name], raw[name], l.in, l.out, k)
		worstPerCall = max(worstPerCall, pc)
	}
	if worstPerCall < 0.05 {
		t.Errorf("per-call scaling matches the step-scaled expectation too (worst relative error %.2g): the test cannot tell them apart", worstPerCall)
	}
	t.Logf("%d adder weights checked; per-call scaling is off the summed-and-scaled gradient by up to %.0f%%", len(layers), 100*worstPerCall)
}

func sq(v float64) float64 { return v * v }

// TestAdderInitSplit: with AddInitStd, an augadd layer's adder slice (the target's) is drawn from N(0, std²) and
// the rest of the wide tensor, which the augmented pass multiplies with, from kaiming-uniform; a plain add network
// (no augmented channels) is all N(0, std²).
func TestAdderInitSplit(t *testing.T) {
	backend := engine.MustNew()
	m, net := augaddNet(t)
	ctx := context.New()
	x := tensors.FromFlatDataAndDimensions(randomImages(2*32*32*3, 1), 2, 32, 32, 3)
	context.MustExecOnce(backend, ctx, func(ctx *context.Context, x *Node) *Node { return net.Logits(ctx, x, Pass{}) }, x)
	i := 3 // an inverted block with an expand conv
	blk, d := m.Blocks[i], net.dims.Blocks[i]
	w := tensors.MustCopyFlatData[float32](ctx.InspectVariable("/"+blk.Name+"/expand", "weights").MustValue())
	var sIn, nIn, maxOut float64
	for j, v := range w {
		if ci, co := (j/d.Mid.Wide)%d.In.Wide, j%d.Mid.Wide; ci < d.In.Target && co < d.Mid.Target {
			sIn, nIn = sIn+float64(v)*float64(v), nIn+1
		} else {
			maxOut = math.Max(maxOut, math.Abs(float64(v)))
		}
	}
	std, bound := math.Sqrt(sIn/nIn), 1/math.Sqrt(float64(d.In.Wide))
	if math.Abs(std-4) > 0.4 {
		t.Errorf("adder slice std %.2f, want 4", std)
	}
	if maxOut > bound || maxOut < bound/2 {
		t.Errorf("augmented slice max |w| %.3g, want kaiming-uniform within ±%.3g", maxOut, bound)
	}
	t.Logf("%s/expand: adder slice std %.2f (%d weights), augmented slice max |w| %.3g (bound %.3g)", blk.Name, std, int(nIn), maxOut, bound)
}

// augaddNet is mbv2-w0.35 under Add with NetAug's augmentation and the adder recipe's std-4 adder weights.
func augaddNet(t *testing.T) (*arch.Model, *Net) {
	t.Helper()
	m, _ := arch.Get("mbv2-w0.35", 10)
	net, err := New(m.WithMethod(arch.MethodAdd), DefaultAug(m), 5)
	if err != nil {
		t.Fatal(err)
	}
	net.AddInitStd = 4
	return m, net
}
