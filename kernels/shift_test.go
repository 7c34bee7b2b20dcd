package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// quantize32 runs fn on float32 values and returns float32 results.
func quantize32(t *testing.T, fn func(*Node) *Node, vals []float32) []float32 {
	t.Helper()
	out, err := ExecOnce(testBackend(), fn, tensors.FromFlatDataAndDimensions(vals, len(vals)))
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](out)
}

func quantize64(t *testing.T, fn func(*Node) *Node, vals []float64) []float64 {
	t.Helper()
	out, err := ExecOnce(testBackend(), fn, tensors.FromFlatDataAndDimensions(vals, len(vals)))
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float64](out)
}

func TestQuantizeShiftWeightExact(t *testing.T) {
	type tc struct{ in, want float64 }
	var cases []tc
	// Powers of two in range map to themselves; both neighbours of each log-domain
	// threshold √2·2^p round to the right side (float32 neighbours of √2·2^p).
	for p := -15; p <= 0; p++ {
		cases = append(cases, tc{math.Ldexp(1, p), math.Ldexp(1, p)})
	}
	for p := -15; p < 0; p++ {
		thr := float32(math.Sqrt2 * math.Ldexp(1, p))
		lo, hi := thr, thr
		if float64(thr) > math.Sqrt2*math.Ldexp(1, p) {
			lo = math.Nextafter32(thr, 0)
		} else {
			hi = math.Nextafter32(thr, 2)
		}
		cases = append(cases, tc{float64(lo), math.Ldexp(1, p)}, tc{float64(hi), math.Ldexp(1, p+1)})
		// 1.5·2^p is above the log threshold: rounds up (linear rounding would be a tie).
		cases = append(cases, tc{1.5 * math.Ldexp(1, p), math.Ldexp(1, p+1)})
	}
	cases = append(cases,
		tc{0, 0}, tc{1.2, 1}, tc{1.5, 1}, tc{3, 1}, tc{1e9, 1}, // clamp at 2^0
		tc{math.Ldexp(1, -16), math.Ldexp(1, -15)}, tc{1e-9, math.Ldexp(1, -15)}, // clamp at 2^-15
		tc{math.Ldexp(0.7, -15), math.Ldexp(1, -15)},
		tc{float64(math.SmallestNonzeroFloat32), math.Ldexp(1, -15)},
	)
	in32, want32 := make([]float32, 0, 2*len(cases)), make([]float32, 0, 2*len(cases))
	for _, c := range cases { // and the negatives
		in32 = append(in32, float32(c.in), -float32(c.in))
		want32 = append(want32, float32(c.want), -float32(c.want))
	}
	got := quantize32(t, func(w *Node) *Node { return QuantizeShiftWeight(w, 5) }, in32)
	for i := range got {
		if got[i] != want32[i] {
			t.Errorf("float32 Q(%.9g) = %.9g, want %.9g", in32[i], got[i], want32[i])
		}
		s, e := ShiftQuantizeValue(float64(in32[i]), 5)
		if host := float64(s) * math.Ldexp(1, e); host != float64(want32[i]) {
			t.Errorf("ShiftQuantizeValue(%.9g) = %d·2^%d, want %.9g", in32[i], s, e, want32[i])
		}
	}
	// float64 thresholds: neighbours of √2·2^p in float64.
	var in64, want64 []float64
	for p := -15; p < 0; p++ {
		thr := math.Sqrt2 * math.Ldexp(1, p) // exact scaling of the float64 √2, which is > √2
		in64 = append(in64, math.Nextafter(thr, 0), thr)
		want64 = append(want64, math.Ldexp(1, p), math.Ldexp(1, p+1))
	}
	got64 := quantize64(t, func(w *Node) *Node { return QuantizeShiftWeight(w, 5) }, in64)
	for i := range got64 {
		if got64[i] != want64[i] {
			t.Errorf("float64 Q(%.17g) = %.17g, want %.17g", in64[i], got64[i], want64[i])
		}
	}
}

// TestQuantizeShiftWeightMatchesFormula compares with sign(w)·2^clamp(round(log2|w|)) on
// random log-uniform values for several bit widths, and with the host quantiser.
func TestQuantizeShiftWeightMatchesFormula(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	vals := make([]float64, 2000)
	for i := range vals {
		vals[i] = math.Exp2(-22+24*rng.Float64()) * float64(1-2*rng.IntN(2))
	}
	for _, bits := range []int{2, 3, 4, 5, 6} {
		got := quantize64(t, func(w *Node) *Node { return QuantizeShiftWeight(w, bits) }, vals)
		emin := float64(ShiftMinExponent(bits))
		for i, v := range vals {
			e := math.Max(emin, math.Min(0, math.Round(math.Log2(math.Abs(v)))))
			want := math.Copysign(math.Exp2(e), v)
			if got[i] != want {
				t.Fatalf("bits=%d Q(%g) = %g, want %g", bits, v, got[i], want)
			}
			s, ex := ShiftQuantizeValue(v, bits)
			if float64(s)*math.Ldexp(1, ex) != want {
				t.Fatalf("bits=%d host Q(%g) = %d·2^%d, want %g", bits, v, s, ex, want)
			}
		}
	}
}

func TestShiftNoNaNAtZero(t *testing.T) {
	vals := []float32{0, -0, 1e-30, -1e-30, 0.3, 0}
	gw := quantize32(t, func(w *Node) *Node {
		return Gradient(ReduceAllSum(Mul(ShiftWeight(w, 5), w)), w)[0]
	}, vals)
	q := quantize32(t, func(w *Node) *Node { return ShiftWeight(w, 5) }, vals)
	for i := range vals {
		if math.IsNaN(float64(gw[i])) || math.IsInf(float64(gw[i]), 0) || math.IsNaN(float64(q[i])) {
			t.Errorf("w=%g: value %g gradient %g", vals[i], q[i], gw[i])
		}
	}
	if q[0] != 0 || q[5] != 0 {
		t.Errorf("zero must stay zero, got %v", q)
	}
	// d/dw Σ q(w)·w = q(w) + w (STE): at w=0 it is 0.
	if gw[0] != 0 {
		t.Errorf("gradient at 0 = %g, want 0", gw[0])
	}
	// The whole ShiftConv gradient with zero weights and zero inputs is finite.
	out := runGraph(t, func(in []*Node) []*Node {
		y := ShiftConv(in[0], in[1], ConvOpts{Stride: 2}, ShiftOpts{})
		l := ReduceAllSum(Mul(y, y))
		return append([]*Node{l}, Gradient(l, in[0], in[1])...)
	}, newArr(1, 5, 5, 2), newArr(3, 3, 2, 2))
	for _, o := range out {
		for _, v := range o {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("non-finite value in ShiftConv at zero: %v", out)
			}
		}
	}
}

func TestQuantizeActivation(t *testing.T) {
	u := math.Ldexp(1, -16)
	in := []float64{0, 1.5 + u/2, -u / 2, 3 * u, -3*u - u/4, 40000, -40000, 32767.5, -32768.25, 1e-30, -1e-30}
	want := []float64{0, 1.5, -u, 3 * u, -4 * u, 32767, -32768, 32767, -32768, 0, -u}
	got := quantize64(t, func(x *Node) *Node { return ShiftActivation(x, 16) }, in)
	for i := range in {
		if got[i] != want[i] {
			t.Errorf("Qa(%.17g) = %.17g, want %.17g", in[i], got[i], want[i])
		}
	}
	// STE: gradient 1 everywhere, even in the clamped range.
	g := quantize64(t, func(x *Node) *Node { return Gradient(ReduceAllSum(ShiftActivation(x, 16)), x)[0] }, in)
	for i := range g {
		if g[i] != 1 {
			t.Errorf("dQa/dx at %g = %g, want 1", in[i], g[i])
		}
	}
	// float32 values are exact too.
	g32 := quantize32(t, func(x *Node) *Node { return ShiftActivation(x, 16) }, []float32{1.5 + float32(u)/2, -40000})
	if g32[0] != 1.5 || g32[1] != -32768 {
		t.Errorf("float32 activation quantiser: %v", g32)
	}
}

func TestProjectShiftWeight(t *testing.T) {
	e := math.Ldexp(1, -15)
	in := []float64{0, 2, -3, 0.5, -0.25, 1e-9, -1e-9, e, 1}
	want := []float64{0, 1, -1, 0.5, -0.25, e, -e, e, 1}
	got := quantize64(t, func(w *Node) *Node { return ProjectShiftWeight(w, 5) }, in)
	host := append([]float64(nil), in...)
	ProjectShiftWeightValues(host, 5)
	for i := range in {
		if got[i] != want[i] || host[i] != want[i] {
			t.Errorf("project(%g) = %g (graph), %g (host), want %g", in[i], got[i], host[i], want[i])
		}
	}
}

// TestShiftSTEEqualsMultAtQuantised: the gradient of each Shift operator equals the Mult
// gradient evaluated at the quantised weights and activations (straight-through). The
// Mult gradients themselves are checked against finite differences in mult_test.go; the
// Shift forward is piecewise constant, so a finite difference of it would be meaningless.
func TestShiftSTEEqualsMultAtQuantised(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	type opPair struct {
		name        string
		shift, mult binOp
		x, w        arr
	}
	var pairs []opPair
	for _, s := range []int{1, 2} {
		co := ConvOpts{Stride: s}
		pairs = append(pairs,
			opPair{"conv", func(x, w *Node) *Node { return ShiftConv(x, w, co, ShiftOpts{}) },
				func(x, w *Node) *Node { return Conv(x, w, co) },
				randArr(rng, -2, 2, 2, 5, 6, 3), randArr(rng, -1.2, 1.2, 3, 3, 3, 4)},
			opPair{"depthwise", func(x, w *Node) *Node { return ShiftDepthwise(x, w, co, ShiftOpts{Bits: 4}) },
				func(x, w *Node) *Node { return Depthwise(x, w, co) },
				randArr(rng, -2, 2, 2, 7, 5, 3), randArr(rng, -1.2, 1.2, 3, 3, 3)},
		)
	}
	pairs = append(pairs, opPair{"linear", func(x, w *Node) *Node { return ShiftLinear(x, w, ConvOpts{}, ShiftOpts{}) },
		func(x, w *Node) *Node { return Linear(x, w, ConvOpts{}) },
		randArr(rng, -2, 2, 3, 5), randArr(rng, -1.2, 1.2, 5, 4)})
	for _, p := range pairs {
		bits := 5
		if p.name == "depthwise" {
			bits = 4
		}
		xq := arr{data: quantize64(t, func(x *Node) *Node { return QuantizeActivation(x, 16) }, p.x.data), dims: p.x.dims}
		wq := arr{data: quantize64(t, func(w *Node) *Node { return QuantizeShiftWeight(w, bits) }, p.w.data), dims: p.w.dims}
		r := randArr(rng, -1, 1, forwardDims(t, p.mult, p.x, p.w)...)
		ls, sx, sw := lossAndGrads(t, p.shift, p.x, p.w, r)
		lm, mx, mw := lossAndGrads(t, p.mult, xq, wq, r)
		if math.Abs(ls-lm) > 1e-12 || maxAbsDiff(sx, mx) > 1e-12 || maxAbsDiff(sw, mw) > 1e-12 {
			t.Errorf("%s: Shift loss/grads differ from Mult at quantised values: %g %g %g",
				p.name, ls-lm, maxAbsDiff(sx, mx), maxAbsDiff(sw, mw))
		}
	}
}

func TestSqrt2Thresholds(t *testing.T) {
	if !(float64(sqrt2Up32) > math.Sqrt2 && float64(math.Nextafter32(sqrt2Up32, 0)) < math.Sqrt2) {
		t.Errorf("float32 threshold %v is not the smallest float32 above √2", sqrt2Up32)
	}
	if sqrt2Up64 != math.Sqrt2 { // the nearest float64 to √2 lies above it
		t.Errorf("float64 threshold %v", sqrt2Up64)
	}
}
