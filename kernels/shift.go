package kernels

import (
	"math"
	"math/big"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
)

// DefaultShiftBits is DeepShift-Q's "5-bit shift": 1 sign bit and a 4-bit exponent in [-15, 0].
const DefaultShiftBits = 5

// DefaultActFracBits is the number of fraction bits of Shift layers' fixed-point activations
// (DeepShift: 16 integer and 16 fraction bits, int32 on deployment).
const DefaultActFracBits = 16

// ShiftOpts configures the Shift (DeepShift-Q) operators. The zero value is the paper's
// setting: 5-bit weights, activations in 16.16 fixed point.
type ShiftOpts struct {
	// Bits of a weight (sign + exponent); exponents lie in [-(2^(Bits-1)-1), 0]. 0 means 5.
	// Values up to 7 are exact in float32 (2^-63 is still a normal number).
	Bits int
	// ActFracBits is the number of fraction bits of the activation quantiser; 0 means 16.
	ActFracBits int
	// NoActQuant disables activation quantisation (weights only), for ablations.
	NoActQuant bool
	// WeightsQuantized says the weights the operators get are ShiftWeight's output already (quantised, with its
	// straight-through gradient), so they are not quantised again: a layer's two passes share one quantisation.
	WeightsQuantized bool
}

func (o ShiftOpts) bits() int {
	if o.Bits <= 0 {
		return DefaultShiftBits
	}
	return o.Bits
}

func (o ShiftOpts) fracBits() int {
	if o.ActFracBits <= 0 {
		return DefaultActFracBits
	}
	return o.ActFracBits
}

// ShiftMinExponent returns the smallest exponent of a b-bit shift weight: -(2^(b-1)-1).
func ShiftMinExponent(bits int) int {
	if bits < 1 || bits > 8 {
		panicf("kernels: shift bits must be in [1, 8], got %d", bits)
	}
	return -(1<<(bits-1) - 1)
}

// sqrt2Up returns the smallest float64 and float32 values ≥ √2. Since √2 is irrational,
// "a ≥ sqrt2Up·2^p" is exactly "log2(a) > p + 0.5", the log-domain rounding threshold.
var sqrt2Up64, sqrt2Up32 = func() (float64, float32) {
	gt := func(v float64) bool { // v > √2 ⇔ v² > 2, computed exactly.
		b := new(big.Float).SetPrec(256).SetFloat64(v)
		return b.Mul(b, b).Cmp(big.NewFloat(2)) > 0
	}
	t64 := math.Sqrt2
	if !gt(t64) {
		t64 = math.Nextafter(t64, 2)
	}
	t32 := float32(math.Sqrt2)
	if !gt(float64(t32)) {
		t32 = math.Nextafter32(t32, 2)
	}
	return t64, t32
}()

// QuantizeShiftWeight maps w to sign(w)·2^round(log2|w|) with the exponent clamped to
// [ShiftMinExponent(bits), 0]; zero stays zero (DeepShift-Q's forward, no gradient).
//
// It uses no logarithm: the exponent is found by binary lifting over b-1 exact comparisons
// a ≥ 2^E·(√2/2) (multiplying by a power of two is exact), so the values at the rounding
// thresholds are exact and there is no log2(0) to produce NaN or infinite gradients.
// Rounding is in the log domain: the boundary between 2^p and 2^(p+1) is √2·2^p, not 1.5·2^p.
func QuantizeShiftWeight(w *Node, bits int) *Node {
	emin := ShiftMinExponent(bits)
	dtype := w.DType()
	if dtype != dtypes.Float64 && dtype != dtypes.Float32 {
		return ConvertDType(QuantizeShiftWeight(ConvertDType(w, dtypes.Float32), bits), dtype)
	}
	half := float64(sqrt2Up32) / 2
	if dtype == dtypes.Float64 {
		half = sqrt2Up64 / 2
	}
	g := w.Graph()
	a := Abs(w)
	mag := BroadcastToShape(Scalar(g, dtype, math.Ldexp(1, emin)), w.Shape())
	for step := (-emin + 1) / 2; step >= 1; step /= 2 {
		cand := MulScalar(mag, math.Ldexp(1, step))
		mag = Where(GreaterOrEqual(a, MulScalar(cand, half)), cand, mag)
	}
	return Mul(Sign(w), mag)
}

// ste returns a node with the value of q and the gradient of the identity with respect to
// x: StopGradient(q) + (x − StopGradient(x)). Unlike x + StopGradient(q − x), its value is
// exactly q in floating point.
func ste(x, q *Node) *Node {
	return Add(StopGradient(q), Sub(x, StopGradient(x)))
}

// ShiftWeight is the straight-through quantised weight: the value of QuantizeShiftWeight,
// the gradient of the identity (DeepShift-Q's STE, ∂w_q/∂w = 1).
func ShiftWeight(w *Node, bits int) *Node {
	return ste(w, QuantizeShiftWeight(w, bits))
}

// QuantizeActivation is DeepShift's activation rounding to fixed point with fracBits
// fraction bits and 16 integer bits: clamp(floor(x·2^f)/2^f, −2^15, 2^15−1) (floor, not
// round). No gradient; see ShiftActivation.
func QuantizeActivation(x *Node, fracBits int) *Node {
	scale := math.Ldexp(1, fracBits)
	q := DivScalar(Floor(MulScalar(x, scale)), scale)
	return ClipScalar(q, -(1 << 15), (1<<15)-1)
}

// ShiftActivation is QuantizeActivation with a straight-through gradient, in the passes of QuantizeActivation
// alone (ste's form costs two more over the activation, a tenth of a Shift network's step). x goes through an
// identity whose gradient function returns the adjoint of the result, which the result's identity records
// (graph.Gradient visits the result's first: see CustomVJP); the rounding sits behind a StopGradient, and the
// identity lies on the loss's path through the divisor 2^f + 0·x[0], a scalar, so no gradient of Floor (which
// GoMLX lacks) is ever built. The value is QuantizeActivation's bit for bit (a NaN x[0] makes it NaN, as in
// CustomVJP).
func ShiftActivation(x *Node, fracBits int) *Node {
	var adjoint *Node
	t := IdentityWithCustomGradient(x, func(_, _ *Node) *Node { return adjoint })
	scale := math.Ldexp(1, fracBits)
	tie := firstElement(t)
	divisor := Add(Scalar(x.Graph(), x.DType(), scale), MulScalar(tie, 0))
	q := ClipScalar(Div(StopGradient(Floor(MulScalar(t, scale))), divisor), -(1 << 15), (1<<15)-1)
	return IdentityWithCustomGradient(q, func(_, v *Node) *Node {
		adjoint = v
		return v
	})
}

// ProjectShiftWeight is DeepShift-Q's magnitude clamp as a graph function: |w| > 1 → ±1,
// 0 < |w| < 2^emin → ±2^emin, zero and everything else unchanged. DeepShift applies it to
// the parameter in place before each forward; here it is a projection to apply to the
// variable after each optimizer update (e.g. in the train step's update graph:
// v.SetValueGraph(ProjectShiftWeight(v.ValueGraph(g), bits))), or use
// ProjectShiftWeightValues on the host. It does not change the quantised value (the
// quantiser clamps the exponent already); it keeps the latent weights in range so that
// they do not drift where the straight-through gradient no longer moves the output.
func ProjectShiftWeight(w *Node, bits int) *Node {
	emin := math.Ldexp(1, ShiftMinExponent(bits))
	a := Abs(w)
	s := Sign(w)
	over := GreaterThan(a, ScalarOne(w.Graph(), w.DType()))
	small := LogicalAnd(GreaterThan(a, ScalarZero(w.Graph(), w.DType())),
		LessThan(a, Scalar(w.Graph(), w.DType(), emin)))
	return Where(over, s, Where(small, MulScalar(s, emin), w))
}

// ProjectShiftWeightValues applies ProjectShiftWeight's clamp in place to host values (for
// example the flat data of a variable's tensor, via tensors.MustMutableFlatData).
func ProjectShiftWeightValues[T float32 | float64](w []T, bits int) {
	emin := T(math.Ldexp(1, ShiftMinExponent(bits)))
	for i, v := range w {
		switch {
		case v > 1:
			w[i] = 1
		case v < -1:
			w[i] = -1
		case v > 0 && v < emin:
			w[i] = emin
		case v < 0 && v > -emin:
			w[i] = -emin
		}
	}
}

// ShiftQuantizeValue is QuantizeShiftWeight on the host, for export: the weight v is
// represented as sign·2^exp, sign ∈ {−1, 0, +1} and exp ∈ [ShiftMinExponent(bits), 0]
// (exp is 0 when sign is 0). It agrees exactly with the graph quantiser for float32 and
// float64 weights.
func ShiftQuantizeValue(v float64, bits int) (sign, exp int) {
	emin := ShiftMinExponent(bits)
	switch {
	case v > 0:
		sign = 1
	case v < 0:
		sign = -1
	default:
		return 0, 0
	}
	frac, e := math.Frexp(math.Abs(v)) // |v| = frac·2^e, frac ∈ [0.5, 1)
	// log2|v| ∈ [e−1, e); it rounds up to e iff frac ≥ (√2/2 rounded up).
	exp = e - 1
	if frac >= sqrt2Up64/2 {
		exp = e
	}
	return sign, max(emin, min(0, exp))
}

// ShiftConv is the DeepShift-Q k×k convolution: Conv on ShiftActivation(x) and
// ShiftWeight(w), so its gradient is the Mult gradient evaluated at the quantised values
// (straight-through). Weights [k, k, Cin, Cout].
func ShiftConv(x, w *Node, opts ConvOpts, sopts ShiftOpts) *Node {
	xq, wq := shiftInputs(x, w, sopts)
	return Conv(xq, wq, opts)
}

// ShiftDepthwise is the DeepShift-Q depthwise convolution (weights [k,k,C] or [k,k,1,C]).
func ShiftDepthwise(x, w *Node, opts ConvOpts, sopts ShiftOpts) *Node {
	xq, wq := shiftInputs(x, w, sopts)
	return Depthwise(xq, wq, opts)
}

// ShiftLinear is the DeepShift-Q fully connected layer (weights [Cin, Cout]).
func ShiftLinear(x, w *Node, opts ConvOpts, sopts ShiftOpts) *Node {
	xq, wq := shiftInputs(x, w, sopts)
	return Linear(xq, wq, opts)
}

// WeightBits is the number of bits of a shift weight (Bits, or DefaultShiftBits when unset).
func (o ShiftOpts) WeightBits() int { return o.bits() }

// FracBits is the number of fraction bits of the activation quantiser (ActFracBits, or DefaultActFracBits).
func (o ShiftOpts) FracBits() int { return o.fracBits() }

func shiftInputs(x, w *Node, o ShiftOpts) (xq, wq *Node) {
	xq = x
	if !o.NoActQuant {
		xq = ShiftActivation(x, o.fracBits())
	}
	if o.WeightsQuantized {
		return xq, w
	}
	return xq, ShiftWeight(w, o.bits())
}
