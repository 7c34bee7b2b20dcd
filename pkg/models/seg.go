package models

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// SegLogits builds a segmentation model (arch.Model.Seg, an LR-ASPP head) on images x [N, H, W, 3] and returns
// per-pixel class logits [N, H, W, classes] at the input's resolution. The head's convs are built like the
// stem and head convs, so they take the layer's operator, share the wide weights of both passes and, in the
// augmented pass, are widened and masked like the rest (the inner/gate width follows the width multipliers;
// the class convs' outputs, like a classifier's, are not widened).
func (n *Net) SegLogits(ctx *context.Context, x *Node, p Pass) *Node {
	s := n.Arch.Seg
	if s == nil {
		panic(fmt.Errorf("models: %s has no segmentation head: use Logits", n.Arch.Name))
	}
	ctx = ctx.Checked(false)
	b := &builder{net: n, ctx: ctx, pass: p, g: x.Graph()}
	tap := &blockTap{name: s.Skip}
	high, hc, hMask := b.backbone(x, tap)
	if tap.out == nil {
		panic(fmt.Errorf("models: skip block %s was not run", s.Skip))
	}
	d := n.dims
	classes := channels{n.Arch.Classes, n.Arch.Classes}
	a := b.conv(ctx.In(s.Inner.Name), high, s.Inner, hc, hMask, d.segInner, d.segMask)
	pooled := ReduceAndKeep(high, ReduceMean, 1, 2)
	gate := b.conv(ctx.In(s.Gate.Name), pooled, s.Gate, hc, hMask, d.segInner, d.segMask)
	a = Mul(a, gate)
	y := b.conv(ctx.In(s.Out.Name), a, s.Out, d.segInner, d.segMask, classes, -1)
	low := tap.out.Shape().Dimensions
	y = Upsample(y, low[1], low[2])
	y = Add(y, b.conv(ctx.In(s.SkipOut.Name), tap.out, s.SkipOut, tap.ch, tap.mask, classes, -1))
	in := x.Shape().Dimensions
	return Upsample(y, in[1], in[2])
}

// Upsample resizes x [N, h, w, C] to [N, H, W, C] bilinearly with half-pixel centres (PyTorch's
// interpolate(mode="bilinear", align_corners=False)), as two products with constant interpolation matrices
// (BilinearWeights), one per axis: cheaper than a gather, and differentiable with no custom gradient.
func Upsample(x *Node, H, W int) *Node {
	dims := x.Shape().Dimensions
	h, w := dims[1], dims[2]
	g := x.Graph()
	if h != H {
		a := ConvertDType(Const(g, tensors.FromFlatDataAndDimensions(BilinearWeights(H, h), H, h)), x.DType())
		x = TransposeAllDims(DotGeneral(a, []int{1}, nil, x, []int{1}, nil), 1, 0, 2, 3) // [N, H, w, C]
	}
	if w != W {
		a := ConvertDType(Const(g, tensors.FromFlatDataAndDimensions(BilinearWeights(W, w), W, w)), x.DType())
		x = TransposeAllDims(DotGeneral(a, []int{1}, nil, x, []int{2}, nil), 1, 2, 0, 3) // [N, H, W, C]
	}
	return x
}

// BilinearWeights is the [out, in] row-major matrix of 1-D linear interpolation from in samples to out with
// half-pixel centres: output i reads the source at (i+½)·in/out − ½, clamped to the first and last samples.
// Each row sums to 1. pkg/models/deploy uses the same weights.
func BilinearWeights(out, in int) []float32 {
	m := make([]float32, out*in)
	scale := float64(in) / float64(out)
	for i := range out {
		src := max((float64(i)+0.5)*scale-0.5, 0)
		i0 := min(int(math.Floor(src)), in-1)
		i1 := min(i0+1, in-1)
		l1 := src - float64(i0)
		m[i*in+i0] += float32(1 - l1)
		m[i*in+i1] += float32(l1)
	}
	return m
}
