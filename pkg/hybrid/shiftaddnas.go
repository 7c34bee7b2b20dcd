package hybrid

import (
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	gomlxtrain "github.com/gomlx/gomlx/pkg/ml/train"

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
)

// ShiftAddNAS is the heterogeneous weight sharing of ShiftAddNAS, the baseline of Table 8, as its code does it
// (method.md §4, hytra_ops_ws_dist.py):
//
//   - the piecewise "affine" kernel: the range [min W, max W] of the shared weights is cut into Bins equal bins,
//     each with a learnable scalar (initialised from N(0, 1)); the multiplication-free weight is W·a[bin(W)],
//     the bin assignment held constant in the gradient. As in the original, the maximum weight falls in no bin
//     and becomes 0.
//   - the KL penalty, KLWeight·Σ over layers of KL(softmax(s_N) ‖ softmax(W)) + KL(softmax(s_L) ‖ softmax(W_mf)),
//     with fresh samples s_N from N(0, 1) and s_L from Laplace(0, 2) every step, each KL the mean of the
//     elementwise terms (PyTorch's kl_div(reduction="none").mean()). ShiftAddNAS penalises its conv weights
//     towards N(0, 1) and its add weights towards Laplace(0, 2); here the shared tensor plays the conv's part and
//     the multiplication-free weights the add's.
//
// Kernel off with KLWeight on is Table 8's "KL-loss only".
type ShiftAddNAS struct {
	Kernel   bool
	Bins     int     // 0 means 30 (ShiftAddNAS v1; v2/v3 use 100)
	KLWeight float64 // ShiftAddNAS: 10
}

// PiecewiseScaleName is the per-layer variable of the piecewise kernel's bin scalars.
const PiecewiseScaleName = "piecewise_scale"

// Layer is the per-layer weight map for Operators.MFWeightLayer: it creates the layer's bin scalars in ctx and,
// when ctx is training, adds the KL penalty to the loss terms (read them with Penalty).
func (s ShiftAddNAS) Layer(ctx *context.Context, w *Node, _ arch.Op) *Node {
	g := w.Graph()
	out := w
	if s.Kernel {
		bins := s.Bins
		if bins <= 0 {
			bins = 30
		}
		a := ctx.Checked(false).WithInitializer(initializers.RandomNormalFn(ctx, 1)).
			VariableWithShape(PiecewiseScaleName, shapes.Make(w.DType(), bins)).ValueGraph(g)
		lo, hi := StopGradient(ReduceAllMin(w)), StopGradient(ReduceAllMax(w))
		width := MaxScalar(Sub(hi, lo), 1e-12)
		pos := Floor(MulScalar(Div(Sub(StopGradient(w), lo), width), float64(bins)))
		inBin := ConvertDType(LessThan(pos, Scalar(g, w.DType(), bins)), w.DType())
		idx := ConvertDType(ClipScalar(pos, 0, float64(bins-1)), dtypes.Int32)
		// Gathered on the flattened tensor: GoMLX's Gather wants [n, 1] indices into a rank-1 table.
		scale := Reshape(Gather(a, Reshape(idx, -1, 1)), w.Shape().Dimensions...)
		out = Mul(Mul(w, scale), inBin)
	}
	if s.KLWeight > 0 && ctx.IsTraining(g) {
		kl := Add(klFromSamples(w, ctx.RandomNormal(g, shapes.Make(w.DType(), w.Shape().Size()))),
			klFromSamples(out, laplaceSamples(ctx, g, w.DType(), w.Shape().Size(), 0, 2)))
		gomlxtrain.AddLoss(ctx, MulScalar(kl, s.KLWeight))
	}
	return out
}

// Penalty returns the sum of the loss terms added to g so far (the KL penalties), or nil if there are none.
func Penalty(ctx *context.Context, g *Graph) *Node {
	v, found := ctx.InAbsPath(gomlxtrain.TrainerAbsoluteScope).GetGraphParam(g, gomlxtrain.TrainerLossGraphParamKey)
	if !found || v == nil {
		return nil
	}
	n, _ := v.(*Node)
	return n
}

// klFromSamples is KL(softmax(samples) ‖ softmax(w)) over the flattened tensor, averaged over its elements.
func klFromSamples(w, samples *Node) *Node {
	logQ := LogSoftmax(Reshape(w, -1))
	logP := LogSoftmax(samples)
	return ReduceAllMean(Mul(Exp(logP), Sub(logP, logQ)))
}

// laplaceSamples draws n samples of Laplace(mu, b) by inverting its CDF.
func laplaceSamples(ctx *context.Context, g *Graph, dt dtypes.DType, n int, mu, b float64) *Node {
	u := AddScalar(ctx.RandomUniform(g, shapes.Make(dt, n)), -0.5) // [-0.5, 0.5)
	tail := MaxScalar(OneMinus(MulScalar(Abs(u), 2)), 1e-12)
	return AddScalar(Mul(Neg(Sign(u)), MulScalar(Log(tail), b)), mu)
}

// laplaceStd is the standard deviation of Laplace(·, b), for tests.
func laplaceStd(b float64) float64 { return b * math.Sqrt2 }
