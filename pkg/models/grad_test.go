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

// TestAugmentedGradientFiniteDifference checks the whole wide network's gradient, masks, slices, batch norm in
// training mode and every kernel's custom gradient included, against central differences of the loss: for
// every convolution and classifier weight and bias, the derivative along a random direction must equal <∇, u>. Both passes of a
// multiplication-only (netaug) network are checked, since a wrong gradient in the augmented pass would quietly
// corrupt the target it shares weights with.
func TestAugmentedGradientFiniteDifference(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	backend := engine.MustNew()
	m, _ := arch.Get("mbv2-w0.35", 10)
	net, err := New(m.WithMethod(arch.MethodBase), DefaultAug(m), 5)
	if err != nil {
		t.Fatal(err)
	}
	const batch, res = 8, 32
	x := tensors.FromFlatDataAndDimensions(randomImages(batch*res*res*3, 11), batch, res, res, 3)
	labels := make([]int32, batch)
	for i := range labels {
		labels[i] = int32(i % 10)
	}
	y := tensors.FromFlatDataAndDimensions(labels, batch)
	masks := tensors.FromFlatDataAndDimensions(net.SampleMasks(rand.New(rand.NewPCG(3, 4)), SampleRandom), net.MaskLen())
	for _, augmented := range []bool{false, true} {
		ctx := context.New()
		lossOf := func(ctx *context.Context, x, y, mk *Node) *Node {
			ctx.SetTraining(x.Graph(), true)
			p := Pass{}
			if augmented {
				p = Pass{Augmented: true, Masks: mk, BNScope: AugStats}
			}
			logits := net.Logits(ctx, x, p)
			logp := LogSoftmax(logits)
			onehot := OneHot(y, 10, logits.DType())
			return Neg(ReduceAllMean(ReduceSum(Mul(logp, onehot), -1)))
		}
		// First run creates the variables; the gradient executable lists them in context order.
		lossExec := context.MustNewExec(backend, ctx, lossOf)
		lossExec.MustExec(x, y, masks)
		var vars []*context.Variable
		for v := range ctx.IterVariables() {
			if v.Trainable {
				vars = append(vars, v)
			}
		}
		gradExec := context.MustNewExec(backend, ctx, func(ctx *context.Context, x, y, mk *Node) []*Node {
			return ctx.BuildTrainableVariablesGradientsGraph(lossOf(ctx, x, y, mk))
		})
		grads := gradExec.MustExec(x, y, masks)
		if len(grads) != len(vars) {
			t.Fatalf("%d gradients for %d variables", len(grads), len(vars))
		}
		rng := rand.New(rand.NewPCG(9, uint64(len(vars))))
		loss := func() float64 { return float64(lossExec.MustExec(x, y, masks)[0].Value().(float32)) }
		bad := 0
		for i, v := range vars {
			if v.Name() != "weights" && v.Name() != "bias" {
				// Batch-norm γ and β: their own finite-difference test is in kernels/norm, in float64. Here, at
				// batch 8 with 1x1 maps in the last stages, the loss is so sharp in them (|∇γ| ≈ 20-30, as in
				// torchvision's MobileNetV2 on the same input) that float32 central differences do not converge.
				continue
			}
			w0, _ := tensors.CopyFlatData[float32](v.MustValue())
			g, _ := tensors.CopyFlatData[float32](grads[i])
			u := make([]float32, len(w0))
			var gnorm, dot, unorm float64
			for j := range u {
				u[j] = float32(rng.NormFloat64())
				unorm += float64(u[j]) * float64(u[j])
			}
			unorm = math.Sqrt(unorm)
			for j := range u {
				u[j] /= float32(unorm)
				gnorm += float64(g[j]) * float64(g[j])
				dot += float64(g[j]) * float64(u[j])
			}
			gnorm = math.Sqrt(gnorm)
			eps := 1e-3 * max(rms(w0), 1e-2) * math.Sqrt(float64(len(w0)))
			set := func(s float64) {
				w := make([]float32, len(w0))
				for j := range w {
					w[j] = w0[j] + float32(s)*u[j]
				}
				v.MustSetValue(tensors.FromFlatDataAndDimensions(w, v.Shape().Dimensions...))
			}
			set(eps)
			lp := loss()
			set(-eps)
			lm := loss()
			set(0)
			fd := (lp - lm) / (2 * eps)
			// The tolerance: 5% of |∇| plus the loss's float32 rounding (tens of ulps of a loss near 2.3) over 2ε.
			if math.Abs(fd-dot) > 0.05*gnorm+1e-5/(2*eps) {
				bad++
				t.Errorf("augmented=%v %s/%s: directional derivative %.5g by finite differences, %.5g from the gradient (|∇| %.3g)",
					augmented, v.Scope(), v.Name(), fd, dot, gnorm)
			}
		}
		t.Logf("augmented=%v: %d variables checked, %d wrong", augmented, len(vars), bad)
	}
}

func rms(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s / float64(len(v)))
}
