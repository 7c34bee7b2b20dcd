package kernels

import (
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
)

// The clipping activations (ReLU, ReLU6 and the hard sigmoid/swish built on it) with a hand-written gradient.
//
// GoMLX differentiates Max(x, c) and Min(x, c) through NonNegativeIndicator(x − c) = Sign(Sign(x − c) + 1): ReLU6 =
// Min(Max(x, 0), 6) costs Sub, Sign, Add, Sign, OneMinus and Mul per side, about 12 elementwise passes over the
// activation, and SimpleGo's Sign is a branch per element (Sign alone was 6-8% of a res-96 mbv2 training step). Here
// the same forward ops run, and the gradient is v·mask with mask ∈ {0, 1} computed once from x. The stock gradient
// is v·[x−lo ≥ 0]·[max(x,lo)−hi < 0] with factors 0 or 1, which is v·[lo ≤ x < hi] (x−lo ≥ 0 ⇔ x ≥ lo and, for
// x ≥ lo, max(x,lo) − hi < 0 ⇔ x < hi, since a float difference of two finite values is zero only when they are
// equal), so multiplying v by the mask gives the stock values bit for bit, signed zeros included.
//
// The mask is built from branch-free float ops only (Mul, Add, Min, Max, which SimpleGo runs as tight loops), not
// from comparisons: SimpleGo consumes a Bool tensor (Where, ConvertDType, LogicalAnd) with a branch per element,
// mispredicted half the time on activations, so GreaterOrEqual/LessThan/LogicalAnd/Where took 61 ms on
// [64,48,48,48] against 29 ms for the float mask (the stock gradient: 130 ms). For x ≥ 0 ⇔ 1 + x·S ≥ 1 and
// x < 0 ⇔ 1 + x·S ≤ 0, with S = 1/(smallest subnormal) (2^149 for float32, applied as two powers of two, which
// scale exactly): the step is clamp(1 + x·S, 0, 1), exact for every x including ±0, subnormals and ±Inf. Likewise
// x < 6 ⇔ (x − 6)·(−2^100) ≥ 1 and x ≥ 6 ⇔ it is ≤ 0 (for x ≠ 6, |x − 6| is at least one ulp of 6: 2^−21 in
// float32), so the ReLU6 mask is clamp(min(1 + x·S, (x − 6)·(−2^100)), 0, 1); clamp's max(·, 0) turns the −0 at
// x = 6 into +0, as in the stock indicator. Dtypes other than float32/float64 use the comparisons. A NaN input
// gives a NaN gradient.

// ReLU returns max(x, 0), with gradient v·[x ≥ 0] (GoMLX's convention at 0: Max passes the gradient to its first
// operand on ties).
func ReLU(x *Node) *Node {
	return clipVJP(x, func(t *Node) *Node { return MaxScalar(t, 0.0) },
		func(x *Node) *Node { return rangeMask(x, false) })
}

// ReLU6 returns min(max(x, 0), 6) (graph.ClipScalar(x, 0, 6)), with gradient v·[0 ≤ x < 6], GoMLX's convention at
// both ends.
func ReLU6(x *Node) *Node {
	return clipVJP(x, func(t *Node) *Node { return ClipScalar(t, 0, 6) },
		func(x *Node) *Node { return rangeMask(x, true) })
}

// HardSigmoid returns ReLU6(x + 3)/6, the formula and (through ReLU6) the gradient values of the stock one.
func HardSigmoid(x *Node) *Node {
	return DivScalar(ReLU6(AddScalar(x, 3)), 6)
}

// HardSwish returns x·ReLU6(x + 3)/6, the formula and (through ReLU6) the gradient values of the stock one.
func HardSwish(x *Node) *Node {
	return Mul(x, DivScalar(ReLU6(AddScalar(x, 3)), 6))
}

// clipVJP returns f(x) with gradient v·mask(x) (mask: 0/1 in x's dtype). A one-input custom VJP without
// CustomVJP's tie (an extra pass over the output): x goes through an identity whose gradient function returns
// v·mask(x), f runs on that identity, and the output goes through an identity that records v. graph.Gradient
// visits nodes in decreasing id order, so the output's identity (created last) records v before the input's asks
// for it. GoMLX still builds the stock gradient of f's ops, but nothing uses it (the input identity ignores its
// adjoint), and SimpleGo executes only the nodes an output needs.
func clipVJP(x *Node, f func(t *Node) *Node, mask func(x *Node) *Node) *Node {
	var adjoint *Node
	t := IdentityWithCustomGradient(x, func(_, _ *Node) *Node {
		if adjoint == nil {
			return nil
		}
		return Mul(adjoint, mask(x))
	})
	return IdentityWithCustomGradient(f(t), func(_, v *Node) *Node {
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

// rangeMask returns [0 ≤ x] (below6 false) or [0 ≤ x < 6] (below6 true) as 0/1 values of x's dtype (+0 for
// false), with branch-free float ops for float32 and float64 (see the top of this file), else compareMask. On a
// FusedActivationer it is compareMask, which that backend fuses with the product by the adjoint (the same values;
// a NaN x gives a zero gradient there instead of NaN).
func rangeMask(x *Node, below6 bool) *Node {
	if fusedActivations(x) {
		return compareMask(x, below6)
	}
	var s1, s2 float64 // s1·s2 = 1/(smallest positive subnormal)
	switch x.DType() {
	case dtypes.Float32:
		s1, s2 = 0x1p100, 0x1p49
	case dtypes.Float64:
		s1, s2 = 0x1p600, 0x1p474
	default:
		return compareMask(x, below6)
	}
	m := AddScalar(MulScalar(MulScalar(x, s1), s2), 1) // ≥ 1 for x ≥ 0, ≤ 0 for x < 0
	if below6 {
		m = Min(m, MulScalar(AddScalar(x, -6), -0x1p100)) // ≥ 1 for x < 6, ≤ 0 for x ≥ 6
	}
	return MinScalar(MaxScalar(m, 0.0), 1.0)
}

// compareMask is rangeMask from comparisons (the same values; twice the CPU time on SimpleGo).
func compareMask(x *Node, below6 bool) *Node {
	g, dt := x.Graph(), x.DType()
	in := GreaterOrEqual(x, Scalar(g, dt, 0.0))
	if below6 {
		in = LogicalAnd(in, LessThan(x, Scalar(g, dt, 6.0)))
	}
	return Where(in, ScalarOne(g, dt), ScalarZero(g, dt))
}
