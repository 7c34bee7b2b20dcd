package models

import (
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
)

func trainableParams(ctx *context.Context) int64 {
	var n int64
	for v := range ctx.IterVariables() {
		if v.Trainable {
			n += int64(v.Shape().Size())
		}
	}
	return n
}

// TestParamsEqualArch: the GoMLX model of every paper model has exactly pkg/arch's parameter count.
func TestParamsEqualArch(t *testing.T) {
	backend := engine.MustNew()
	for _, name := range arch.PaperModels {
		m, _ := arch.Get(name, 10)
		net, err := New(m.WithMethod(arch.MethodBase), Aug{}, 1)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.New()
		x := tensors.FromShape(shapesOf(2, 32, 32, 3))
		out := context.MustExecOnce(backend, ctx, func(ctx *context.Context, x *Node) *Node {
			return net.Logits(ctx, x, Pass{})
		}, x)
		if d := out.Shape().Dimensions; d[0] != 2 || d[1] != 10 {
			t.Errorf("%s: logits %v", name, d)
		}
		c, _ := m.Count(32)
		if got := trainableParams(ctx); got != c.Params {
			t.Errorf("%s: %d trainable parameters, arch counts %d", name, got, c.Params)
		}
	}
}

// TestAugmentedAtTargetMasksEqualsTarget is Eq. 4's semantics end to end: with every augmented channel masked
// off, the hybrid network computes exactly the target network (MF on target channels; Mult terms vanish), for
// every model and operator.
func TestAugmentedAtTargetMasksEqualsTarget(t *testing.T) {
	backend := engine.MustNew()
	rngData := tensors.FromFlatDataAndDimensions(randomImages(2*32*32*3, 7), 2, 32, 32, 3)
	for _, name := range arch.PaperModels {
		for _, method := range arch.Methods {
			m, _ := arch.Get(name, 10)
			net, err := New(m.WithMethod(method), DefaultAug(m), 3)
			if err != nil {
				t.Fatal(err)
			}
			if !net.Augmented() {
				t.Fatalf("%s: no augmented channels", name)
			}
			masks := tensors.FromFlatDataAndDimensions(net.SampleMasks(nil, SampleMin), net.MaskLen())
			ctx := context.New()
			outs := context.MustExecOnceN(backend, ctx, func(ctx *context.Context, x, mk *Node) []*Node {
				// Inference mode: both passes normalise with fresh running statistics (0, 1), so batch
				// statistics over the 1x1 maps at 32x32 cannot amplify the Mult path's summation-order rounding.
				target := net.Logits(ctx, x, Pass{})
				aug := net.Logits(ctx, x, Pass{Augmented: true, Masks: mk, BNScope: AugStats})
				return []*Node{target, aug, ReduceAllMax(Abs(Sub(target, aug))), ReduceAllMax(Abs(target))}
			}, rngData, masks)
			diff, scale := outs[2].Value().(float32), outs[3].Value().(float32)
			if diff > 1e-4*max(1, scale) {
				t.Errorf("%s/%s: augmented pass at target masks differs from the target by %g (scale %g)", name, method, diff, scale)
			}
		}
	}
}
