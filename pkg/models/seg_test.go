package models

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
)

func segModel(t *testing.T, name string, method arch.Method) *arch.Model {
	t.Helper()
	m, _ := arch.Get(name, 11)
	s, err := m.WithSegHead(11, 0)
	if err != nil {
		t.Fatal(err)
	}
	return s.WithMethod(method)
}

// TestSegLogits: the segmentation network gives [N, H, W, classes] logits at the input's resolution, its
// trainable parameters are pkg/arch's count (head included), and with every augmented channel masked off the
// wide hybrid pass computes the target's logits, for each operator: the augmented pass covers the head too.
func TestSegLogits(t *testing.T) {
	backend := engine.MustNew()
	x := tensors.FromFlatDataAndDimensions(randomImages(2*64*64*3, 5), 2, 64, 64, 3)
	for _, name := range []string{"mbv2-w0.35", "proxyless-w0.35"} {
		for _, method := range arch.Methods {
			m := segModel(t, name, method)
			net, err := New(m, DefaultAug(m), 3)
			if err != nil {
				t.Fatal(err)
			}
			min := tensors.FromFlatDataAndDimensions(net.SampleMasks(nil, SampleMin), net.MaskLen())
			wide := tensors.FromFlatDataAndDimensions(net.SampleMasks(rand.New(rand.NewPCG(1, 2)), SampleRandom), net.MaskLen())
			ctx := context.New()
			outs := context.MustExecOnceN(backend, ctx, func(ctx *context.Context, x, mk, mw *Node) []*Node {
				target := net.SegLogits(ctx, x, Pass{})
				aug := net.SegLogits(ctx, x, Pass{Augmented: true, Masks: mk, BNScope: AugStats})
				augW := net.SegLogits(ctx, x, Pass{Augmented: true, Masks: mw, BNScope: AugStats})
				return []*Node{target, ReduceAllMax(Abs(Sub(target, aug))), ReduceAllMax(Abs(target)), ReduceAllMax(Abs(Sub(target, augW)))}
			}, x, min, wide)
			if d := outs[0].Shape().Dimensions; d[0] != 2 || d[1] != 64 || d[2] != 64 || d[3] != 11 {
				t.Errorf("%s/%s: logits %v, want [2 64 64 11]", name, method, d)
			}
			diff, scale, wideDiff := outs[1].Value().(float32), outs[2].Value().(float32), outs[3].Value().(float32)
			if diff > 1e-4*max(1, scale) {
				t.Errorf("%s/%s: augmented pass at target masks differs from the target by %g (scale %g)", name, method, diff, scale)
			}
			if wideDiff <= 0.05*scale {
				t.Errorf("%s/%s: a wide augmented pass gives the target's logits (diff %g, scale %g): the augmented channels do nothing", name, method, wideDiff, scale)
			}
			if method == arch.MethodBase {
				c, _ := net.Arch.Count(64)
				netT, _ := New(m, Aug{}, 3)
				ctxT := context.New()
				context.MustExecOnce(backend, ctxT, func(ctx *context.Context, x *Node) *Node { return netT.SegLogits(ctx, x, Pass{}) }, x)
				if got := trainableParams(ctxT); got != c.Params {
					t.Errorf("%s: %d trainable parameters, arch counts %d", name, got, c.Params)
				}
			}
		}
	}
}

// TestUpsampleMatchesBilinear checks Upsample against a direct half-pixel bilinear interpolation.
func TestUpsampleMatchesBilinear(t *testing.T) {
	backend := engine.MustNew()
	const n, h, w, c, H, W = 2, 3, 4, 2, 12, 8
	src := randomImages(n*h*w*c, 3)
	out := MustExecOnce(backend, func(x *Node) *Node { return Upsample(x, H, W) }, tensors.FromFlatDataAndDimensions(src, n, h, w, c))
	got := tensors.MustCopyFlatData[float32](out)
	coord := func(i, in, out int) (int, int, float64) {
		s := max((float64(i)+0.5)*float64(in)/float64(out)-0.5, 0)
		i0 := int(math.Floor(s))
		return i0, min(i0+1, in-1), s - float64(i0)
	}
	for b := range n {
		for y := range H {
			y0, y1, ly := coord(y, h, H)
			for x := range W {
				x0, x1, lx := coord(x, w, W)
				for ch := range c {
					at := func(yy, xx int) float64 { return float64(src[((b*h+yy)*w+xx)*c+ch]) }
					want := (1-ly)*((1-lx)*at(y0, x0)+lx*at(y0, x1)) + ly*((1-lx)*at(y1, x0)+lx*at(y1, x1))
					if g := float64(got[((b*H+y)*W+x)*c+ch]); math.Abs(g-want) > 1e-5 {
						t.Fatalf("(%d,%d,%d,%d): %g, want %g", b, y, x, ch, g, want)
					}
				}
			}
		}
	}
}
