package kernels

import (
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
)

// The clipping activations (ReLU, ReLU6 and the hard sigmoid/swish built on it) with a hand-written gradient.
//
// GoMLX differentiates Max(x, c) and Min(x, c) through NonNegativeIndicator(x − c) = Sign(Sign(x − c) + 1): ReLU6 =
// Min(Max(x, 0), 6) costs Sub, Sign, Add, Sign, OneMinus and Mul per side, about 12 elementwise passes over the
// activation, and SimpleGo's Sign is a branch per element (Sign alone was 6-8% of a res-96 mbv2 training step). Here
// the same forward ops run, and the gradient is v·mask with mask ∈ {0, 1} computed once.
//
// The mask is computed from the activation's output y, not its input x: [0 < x < 6] = [0 < y < 6] for y =
// min(max(x, 0), 6). The input (a batch norm's output) is then needed by nothing after the forward pass and is freed
// at once, while y is kept anyway for the next layer's weight gradient: a third less activation memory in an
// inverted residual block (peak memory 2.15 → 1.69 GB for mbv2-w0.35's 3x twin at res 96, batch 64), and fewer
// bytes to stream. The convention at x = 0 is PyTorch's hardtanh/relu backward (gradient 0 there, as NetAug's
// ReLU6(inplace=True) computes from its output), not GoMLX's stock Max, which passes the gradient on ties; the two
// differ only where x is exactly ±0. With y ≥ 0 the stock gradient of Min(Max(0, x), 6) (zero as Max's first
// operand) is this one bit for bit, signed zeros included (TestActivationsEqualStock).
//
// The mask is built from branch-free float ops only (Mul, Min, Max, which SimpleGo runs as tight loops), not
// from comparisons: SimpleGo consumes a Bool tensor (Where, ConvertDType, LogicalAnd) with a branch per element,
// mispredicted half the time on activations. For y ≥ 0, y > 0 ⇔ y·S ≥ 1 with S = 1/(smallest subnormal) (2^149
// for float32, applied as two powers of two, which scale exactly), and y·S = 0 at ±0: the step is min(y·S, 1),
// exact for every y ≥ 0 including subnormals and +Inf. Likewise y < 6 ⇔ (y − 6)·(−2^100) ≥ 1 and y ≥ 6 ⇔ it is
// ≤ 0 (for y ≠ 6, |y − 6| is at least one ulp of 6: 2^−21 in float32), so the ReLU6 mask is
// max(min(y·S, (y − 6)·(−2^100), 1), 0); the max turns the −0 at y = 6 into +0. Dtypes other than
// float32/float64 use the comparisons. A NaN input gives a NaN gradient.

// ReLU returns max(x, 0), with gradient v·[x > 0].
func ReLU(x *Node) *Node {
	return clipVJP(x, func(t *Node) *Node { return MaxScalar(t, 0.0) },
		func(y *Node) *Node { return rangeMask(y, false) })
}

// ReLU6 returns min(max(x, 0), 6) (graph.ClipScalar(x, 0, 6)), with gradient v·[0 < x < 6].
func ReLU6(x *Node) *Node {
	return clipVJP(x, func(t *Node) *Node { return ClipScalar(t, 0, 6) },
		func(y *Node) *Node { return rangeMask(y, true) })
}

// HardSigmoid returns ReLU6(x + 3)/6, the formula of the stock one, with ReLU6's gradient convention.
func HardSigmoid(x *Node) *Node {
	return DivScalar(ReLU6(AddScalar(x, 3)), 6)
}

// HardSwish returns x·ReLU6(x + 3)/6, the formula of the stock one, with ReLU6's gradient convention.
func HardSwish(x *Node) *Node {
	return Mul(x, DivScalar(ReLU6(AddScalar(x, 3)), 6))
}

// clipVJP returns y = f(x) with gradient v·mask(y) (mask: 0/1 in x's dtype, from the output). A one-input custom
// VJP without CustomVJP's tie (an extra pass over the output): x goes through an identity whose gradient function
// returns v·mask(y), f runs on that identity, and y goes through an identity that records v. graph.Gradient
// visits nodes in decreasing id order, so the output's identity (created last) records v before the input's asks
// for it. GoMLX still builds the stock gradient of f's ops, but nothing uses it (the input identity ignores its
// adjoint), and SimpleGo executes only the nodes an output needs.
func clipVJP(x *Node, f func(t *Node) *Node, mask func(y *Node) *Node) *Node {
	var adjoint, y *Node
	t := IdentityWithCustomGradient(x, func(_, _ *Node) *Node {
		if adjoint == nil {
			return nil
		}
		return Mul(adjoint, mask(y))
	})
	y = f(t)
	return IdentityWithCustomGradient(y, func(_, v *Node) *Node {
		adjoint = v
		return v
	})
}

// FusedActivationer is implemented by backends that run the comparison form of the gradient mask,
// Mul(v, Where(lo ≤ x < hi, 1, 0)), as one fused pass (and ClipScalar as one): the project's engine
// (kernels/engine) with its fast executors on.
type FusedActivationer interface {
	FusedActivations() bool
}

func fusedActivations(x *Node) bool {
	f, ok := x.Graph().Backend().(FusedActivationer)
	return ok && f.FusedActivations() && x.DType() == dtypes.Float32
}

// rangeMask returns [y > 0] (below6 false) or [0 < y < 6] (below6 true) for a clipped output y ≥ 0, as 0/1
// values of y's dtype (+0 for false), with branch-free float ops for float32 and float64 (see the top of this
// file), else compareMask. On a FusedActivationer it is compareMask, which that backend fuses with the product by
// the adjoint (the same values; a NaN gives a zero gradient there instead of NaN).
func rangeMask(y *Node, below6 bool) *Node {
	if fusedActivations(y) {
		return compareMask(y, below6)
	}
	var s1, s2 float64 // s1·s2 = 1/(smallest positive subnormal)
	switch y.DType() {
	case dtypes.Float32:
		s1, s2 = 0x1p100, 0x1p49
	case dtypes.Float64:
		s1, s2 = 0x1p600, 0x1p474
	default:
		return compareMask(y, below6)
	}
	m := MulScalar(MulScalar(y, s1), s2) // ≥ 1 for y > 0, ±0 for y = ±0
	if below6 {
		m = Min(m, MulScalar(AddScalar(y, -6), -0x1p100)) // ≥ 1 for y < 6, ≤ 0 for y ≥ 6
	}
	return MaxScalar(MinScalar(m, 1.0), 0.0)
}

// compareMask is rangeMask from comparisons (the same values; twice the CPU time on SimpleGo). y > 0 is written
// y ≥ the smallest positive subnormal of y's dtype, the form the engine fuses (lo ≤ y < hi).
func compareMask(y *Node, below6 bool) *Node {
	g, dt := y.Graph(), y.DType()
	var in *Node
	switch dt {
	case dtypes.Float32:
		in = GreaterOrEqual(y, Scalar(g, dt, math.SmallestNonzeroFloat32))
	case dtypes.Float64:
		in = GreaterOrEqual(y, Scalar(g, dt, math.SmallestNonzeroFloat64))
	default:
		in = GreaterThan(y, ScalarZero(g, dt))
	}
	if below6 {
		in = LogicalAnd(in, LessThan(y, Scalar(g, dt, 6.0)))
	}
	return Where(in, ScalarOne(g, dt), ScalarZero(g, dt))
}
