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
	"github.com/shiftaddaug/shiftaddaug/pkg/hybrid"
)

// TestMaskedWeightsChangeNothing: zeroing the inactive channels' weights in the augmented pass (maskWeight, which
// lets the engine skip those channels) leaves the loss and every trainable variable's gradient as they are, to
// the bit: for Mult (netaug) and hybrid Shift layers, on MobileNetV2 and on MobileNetV3 (SE, hard swish).
func TestMaskedWeightsChangeNothing(t *testing.T) {
	backend := engine.MustNew()
	for _, tc := range []struct {
		model  string
		method arch.Method
	}{{"mbv2-w0.35", arch.MethodBase}, {"mbv2-w0.35", arch.MethodShift}, {"mbv3-w0.35", arch.MethodShift}} {
		m, _ := arch.Get(tc.model, 10)
		net, err := New(m.WithMethod(tc.method), DefaultAug(m), 5)
		if err != nil {
			t.Fatal(err)
		}
		const batch, res = 4, 32
		x := tensors.FromFlatDataAndDimensions(randomImages(batch*res*res*3, 11), batch, res, res, 3)
		y := tensors.FromFlatDataAndDimensions([]int32{1, 3, 5, 7}, batch)
		masks := tensors.FromFlatDataAndDimensions(net.SampleMasks(rand.New(rand.NewPCG(3, 4)), SampleRandom), net.MaskLen())
		var results [2][]*tensors.Tensor
		for v, off := range []bool{false, true} {
			noWeightMask = off
			ctx := context.New()
			ctx.SetParam("seed", 1)
			exec := context.MustNewExec(backend, ctx, func(ctx *context.Context, x, y, mk *Node) []*Node {
				ctx.SetTraining(x.Graph(), true)
				logits := net.Logits(ctx, x, Pass{Augmented: true, Masks: mk, BNScope: AugStats})
				loss := Neg(ReduceAllMean(ReduceSum(Mul(LogSoftmax(logits), OneHot(y, 10, logits.DType())), -1)))
				return append([]*Node{loss}, ctx.BuildTrainableVariablesGradientsGraph(loss)...)
			})
			results[v] = exec.MustExec(x, y, masks)
			noWeightMask = false
		}
		for i := range results[0] {
			a, _ := tensors.CopyFlatData[float32](results[0][i])
			b, _ := tensors.CopyFlatData[float32](results[1][i])
			for j := range a {
				if math.Float32bits(a[j]) != math.Float32bits(b[j]) && !(a[j] == 0 && b[j] == 0) {
					t.Fatalf("%s %v: output %d [%d] = %v with masked weights, %v without", tc.model, tc.method, i, j, a[j], b[j])
				}
			}
		}
	}
}

// TestSharedTargetWeightChangesNothing: one HWS-mapped, quantised target block per Shift layer for both passes of
// a training step (targetWeight) gives the loss of mapping it in each pass to the bit, and the same gradient of
// every trainable variable to float rounding (the map's backward pass now runs once, on the summed gradient): on
// MobileNetV2 and MobileNetV3 (SE), the fused and the exact (Eq. 4 as written) augmented Shift pass.
func TestSharedTargetWeightChangesNothing(t *testing.T) {
	backend := engine.MustNew()
	hws := hybrid.DefaultRemap().Func()
	for _, tc := range []struct {
		model string
		exact bool
	}{{"mbv2-w0.35", false}, {"mbv3-w0.35", false}, {"mbv2-w0.35", true}} {
		m, _ := arch.Get(tc.model, 10)
		net, err := New(m.WithMethod(arch.MethodShift), DefaultAug(m), 5)
		if err != nil {
			t.Fatal(err)
		}
		ops := hybrid.Operators{MFWeight: hws, ExactAugShift: tc.exact}
		const batch, res = 4, 32
		x := tensors.FromFlatDataAndDimensions(randomImages(batch*res*res*3, 12), batch, res, res, 3)
		y := tensors.FromFlatDataAndDimensions([]int32{2, 4, 6, 8}, batch)
		masks := tensors.FromFlatDataAndDimensions(net.SampleMasks(rand.New(rand.NewPCG(5, 6)), SampleRandom), net.MaskLen())
		var results [2][]*tensors.Tensor
		for v, off := range []bool{false, true} {
			noSharedTargetWeight = off
			net.targetWeights = nil
			ctx := context.New()
			exec := context.MustNewExec(backend, ctx, func(ctx *context.Context, x, y, mk *Node) []*Node {
				ctx.SetTraining(x.Graph(), true)
				xent := func(logits *Node) *Node {
					return Neg(ReduceAllMean(ReduceSum(Mul(LogSoftmax(logits), OneHot(y, 10, logits.DType())), -1)))
				}
				lossT := xent(net.Logits(ctx, x, Pass{Ops: ops}))
				lossA := xent(net.Logits(ctx, x, Pass{Augmented: true, Masks: mk, Ops: ops, BNScope: AugStats}))
				return append([]*Node{lossT, lossA}, ctx.BuildTrainableVariablesGradientsGraph(Add(lossT, lossA))...)
			})
			results[v] = exec.MustExec(x, y, masks)
			if shared := len(net.targetWeights); shared == 0 != off {
				t.Fatalf("%s exact=%v: %d shared target weights with sharing off=%v", tc.model, tc.exact, shared, off)
			}
			noSharedTargetWeight = false
		}
		for i := range results[0] {
			a, _ := tensors.CopyFlatData[float32](results[0][i])
			b, _ := tensors.CopyFlatData[float32](results[1][i])
			scale := 0.0
			for _, v := range b {
				scale = math.Max(scale, math.Abs(float64(v)))
			}
			for j := range a {
				d := math.Abs(float64(a[j]) - float64(b[j]))
				if i < 2 && d != 0 || d > 1e-4*scale {
					t.Fatalf("%s exact=%v: output %d [%d] = %v shared, %v per pass (scale %g)", tc.model, tc.exact, i, j, a[j], b[j], scale)
				}
			}
		}
	}
}
