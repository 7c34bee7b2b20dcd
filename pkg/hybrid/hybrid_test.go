package hybrid

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
)

func randTensor(seed uint64, scale float64, dims ...int) *tensors.Tensor {
	r := rand.New(rand.NewPCG(seed, 9))
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64() * scale
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

func maxAbsDiff(a, b []float64) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

// TestConvEq4: the target outputs of the augmented pass are MF(X_t; W_tt) + Mult(X_a; W_at) and the augmented
// outputs Mult(X; W_·a); with the augmented input channels zero, the target outputs equal the pure MF layer.
func TestConvEq4(t *testing.T) {
	backend := engine.MustNew()
	const n, in, inW, out, outW = 2, 3, 5, 4, 6
	for _, op := range []arch.Op{arch.Shift, arch.Add} {
		x := randTensor(1, 1, n, 6, 6, inW)
		w := randTensor(2, 0.3, 3, 3, inW, outW)
		outs := MustExecOnceN(backend, func(x, w *Node) []*Node {
			o := Operators{ExactAugShift: true}
			y := Conv(o, op, x, w, Dims{In: in, Out: out}, 2, true)
			xt := Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(0, in))
			xa := Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(in, inW))
			wtt := Slice(w, AxisRange(), AxisRange(), AxisRange(0, in), AxisRange(0, out))
			wat := Slice(w, AxisRange(), AxisRange(), AxisRange(in, inW), AxisRange(0, out))
			wa := Slice(w, AxisRange(), AxisRange(), AxisRange(), AxisRange(out, outW))
			wantT := Add(o.ConvOp(op, xt, wtt, 2), o.ConvOp(arch.Mult, xa, wat, 2))
			wantA := o.ConvOp(arch.Mult, x, wa, 2)
			// Zero augmented inputs: the target outputs are the MF layer alone, as the target pass computes.
			x0 := Concatenate([]*Node{xt, ZerosLike(xa)}, 3)
			y0 := Slice(Conv(o, op, x0, w, Dims{In: in, Out: out}, 2, true), AxisRange(), AxisRange(), AxisRange(), AxisRange(0, out))
			target := Conv(o, op, xt, w, Dims{In: in, Out: out}, 2, false)
			return []*Node{y, Concatenate([]*Node{wantT, wantA}, 3), y0, target}
		}, x, w)
		got, want := tensors.MustCopyFlatData[float64](outs[0]), tensors.MustCopyFlatData[float64](outs[1])
		if d := maxAbsDiff(got, want); d > 1e-9 {
			t.Errorf("%v: augmented conv differs from Eq. 4 by %g", op, d)
		}
		y0, target := tensors.MustCopyFlatData[float64](outs[2]), tensors.MustCopyFlatData[float64](outs[3])
		if d := maxAbsDiff(y0, target); d > 1e-9 {
			t.Errorf("%v: with zero augmented inputs the hybrid conv differs from the MF target by %g", op, d)
		}
	}
}

// TestDepthwiseAndLinearEq4: DWConv splits channels (MF below n, Mult above); FC sums MF(X_t) and Mult(X_a).
func TestDepthwiseAndLinearEq4(t *testing.T) {
	backend := engine.MustNew()
	x := randTensor(3, 1, 2, 5, 5, 6)
	w := randTensor(4, 0.3, 3, 3, 6)
	xf := randTensor(5, 1, 2, 6)
	wf := randTensor(6, 0.3, 6, 4)
	outs := MustExecOnceN(backend, func(x, w, xf, wf *Node) []*Node {
		o := Operators{ExactAugShift: true}
		y := Depthwise(o, arch.Shift, x, w, 4, 1, true)
		want := Concatenate([]*Node{
			o.DepthwiseOp(arch.Shift, Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(0, 4)), Slice(w, AxisRange(), AxisRange(), AxisRange(0, 4)), 1),
			o.DepthwiseOp(arch.Mult, Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(4, 6)), Slice(w, AxisRange(), AxisRange(), AxisRange(4, 6)), 1),
		}, 3)
		yf := Linear(o, arch.Add, xf, wf, nil, 4, true)
		wantF := Add(o.LinearOp(arch.Add, Slice(xf, AxisRange(), AxisRange(0, 4)), Slice(wf, AxisRange(0, 4))),
			o.LinearOp(arch.Mult, Slice(xf, AxisRange(), AxisRange(4, 6)), Slice(wf, AxisRange(4, 6))))
		return []*Node{y, want, yf, wantF}
	}, x, w, xf, wf)
	for i := 0; i < 4; i += 2 {
		got, want := tensors.MustCopyFlatData[float64](outs[i]), tensors.MustCopyFlatData[float64](outs[i+1])
		if d := maxAbsDiff(got, want); d > 1e-9 {
			t.Errorf("output %d differs from Eq. 4 by %g", i/2, d)
		}
	}
}

// TestHWSNumerics: the remap is finite in value and gradient for extreme and degenerate weights, monotone, and
// turns Gaussian weights into Laplace-like ones (excess kurtosis ≈ 3) with the same mean and variance.
func TestHWSNumerics(t *testing.T) {
	backend := engine.MustNew()
	r := DefaultRemap()
	cases := map[string]*tensors.Tensor{
		"extreme":  tensors.FromFlatDataAndDimensions([]float32{1e30, -1e30, 0, 1e-30, 3, -7, 1e6, -1e6}, 8),
		"constant": tensors.FromFlatDataAndDimensions([]float32{0.5, 0.5, 0.5, 0.5}, 4),
		"zeros":    tensors.FromFlatDataAndDimensions([]float32{0, 0, 0, 0}, 4),
	}
	for name, w := range cases {
		outs := MustExecOnceN(backend, func(w *Node) []*Node {
			y := r.Apply(w)
			return []*Node{y, Gradient(ReduceAllSum(Square(y)), w)[0]}
		}, w)
		for i, o := range outs {
			for _, v := range tensors.MustCopyFlatData[float32](o) {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Errorf("%s: %s has %v", name, []string{"value", "gradient"}[i], v)
				}
			}
		}
	}
	g := randTensor(7, 0.1, 20000)
	out := MustExecOnce(backend, func(w *Node) *Node { return r.Apply(w) }, g)
	in, y := tensors.MustCopyFlatData[float64](g), tensors.MustCopyFlatData[float64](out)
	mIn, sIn := meanStd(in)
	m, s := meanStd(y)
	var k float64
	for _, v := range y {
		k += math.Pow((v-m)/s, 4)
	}
	k = k/float64(len(y)) - 3
	if math.Abs(m-mIn) > 0.01*sIn || math.Abs(s/sIn-1) > 0.05 || k < 2 || k > 4.5 {
		t.Errorf("remapped: mean %g (was %g), std %g (was %g), excess kurtosis %g (Laplace: 3)", m, mIn, s, sIn, k)
	}
	for i := range in {
		for j := i + 1; j < i+50 && j < len(in); j++ {
			if (in[i] < in[j]) != (y[i] <= y[j]) && in[i] != in[j] {
				t.Fatalf("not monotone: %g→%g, %g→%g", in[i], y[i], in[j], y[j])
			}
		}
	}
	if got, want := r.RemapValue(in[0], mIn, sIn), y[0]; math.Abs(got-want) > 1e-3*sIn {
		t.Errorf("RemapValue(%g) = %g, graph remap %g", in[0], got, want)
	}
}

// TestHWSGradientFiniteDifference: Apply's written-out gradient is the derivative of the map with the tensor's
// mean and standard deviation held constant, element by element, against central differences of RemapValue
// (float64): inside the clip, beyond it (zero) and with a frozen FC. float32 gives the same gradient to rounding.
func TestHWSGradientFiniteDifference(t *testing.T) {
	backend := engine.MustNew()
	for _, r := range []Remap{DefaultRemap(), {Mode: ShareHWS, A: 2, C: 0.01, LaplaceScaleFactor: 1.5, ZClip: 3}} {
		wt := randTensor(11, 0.1, 3000)
		w := tensors.MustCopyFlatData[float64](wt)
		w[0], w[1], w[2] = 2.5, -3, 0 // the first two far beyond either clip (σ ≈ 0.1)
		wt = tensors.FromFlatDataAndDimensions(w, len(w))
		c := tensors.MustCopyFlatData[float64](randTensor(12, 1, len(w)))
		outs := MustExecOnceN(backend, func(w, c *Node) []*Node {
			return []*Node{Gradient(ReduceAllSum(Mul(r.Apply(w), c)), w)[0]}
		}, wt, tensors.FromFlatDataAndDimensions(c, len(c)))
		got := tensors.MustCopyFlatData[float64](outs[0])
		a := r.A
		x := make([]float64, len(w))
		for i, v := range w {
			x[i] = a*v + r.C
		}
		mu, sd := meanStd(x)
		sd = math.Sqrt(sd*sd + 1e-12)
		zclip := r.ZClip
		if zclip == 0 {
			zclip = 5
		}
		var clipped, inside int
		for i, v := range w {
			z := (x[i] - mu) / sd
			if math.Abs(math.Abs(z)-zclip) < 1e-3 {
				continue // a central difference across the clip's kink
			}
			h := 1e-6 * sd
			want := c[i] * (r.RemapValue(v+h, mu, sd) - r.RemapValue(v-h, mu, sd)) / (2 * h)
			if math.Abs(z) > zclip {
				clipped++
				if got[i] != 0 {
					t.Errorf("%+v: w=%g beyond the clip (z=%.2f): gradient %g, want 0", r, v, z, got[i])
				}
				continue
			}
			inside++
			if math.Abs(got[i]-want) > 1e-5*math.Max(1, math.Abs(want)) {
				t.Fatalf("%+v: w=%g (z=%.3f): gradient %.9g, central difference %.9g", r, v, z, got[i], want)
			}
		}
		if inside < 2900 || clipped < 2 {
			t.Errorf("%+v: %d elements inside the clip, %d beyond it: the test does not cover both", r, inside, clipped)
		}
		// float32: the same gradient to float32 rounding.
		w32 := make([]float32, len(w))
		c32 := make([]float32, len(c))
		for i := range w {
			w32[i], c32[i] = float32(w[i]), float32(c[i])
		}
		g32 := tensors.MustCopyFlatData[float32](MustExecOnce(backend, func(w, c *Node) *Node {
			return Gradient(ReduceAllSum(Mul(r.Apply(w), c)), w)[0]
		}, tensors.FromFlatDataAndDimensions(w32, len(w32)), tensors.FromFlatDataAndDimensions(c32, len(c32))))
		for i := range got {
			if math.Abs(float64(g32[i])-got[i]) > 1e-3*math.Max(1, math.Abs(got[i])) {
				t.Fatalf("%+v: float32 gradient %g at w=%g, float64 %g", r, g32[i], w[i], got[i])
			}
		}
	}
}

func TestFitFCRecoversAffine(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	g := make([]float64, 5000)
	for i := range g {
		g[i] = rng.NormFloat64() * 0.05
	}
	// An MF model whose weights are exactly r(2·w + 0.01): FitFC must find a ≈ 2, c ≈ 0.01.
	r := Remap{Mode: ShareHWS, A: 2, C: 0.01}
	var xs []float64
	for _, v := range g {
		xs = append(xs, 2*v+0.01)
	}
	mu, sd := meanStd(xs)
	l := make([]float64, len(g))
	for i, v := range g {
		l[i] = r.RemapValue(v, mu, sd)
	}
	a, c, err := FitFC(g, l)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(a-2) > 0.1 || math.Abs(c-0.01) > 0.005 {
		t.Errorf("FitFC = %g·w + %g, want 2·w + 0.01", a, c)
	}
}

// TestFusedShiftMatchesEq4: the fused augmented pass of Shift layers (one multiplication by a weight whose
// target block is shift-quantised and HWS-mapped) equals Eq. 4's three operators, values and gradients, to
// rounding when activations are not quantised, and within the activation rounding (2^-16 of an activation's
// unit, times the weights it meets) when they are. The fused pass is the default; ExactAugShift is Eq. 4 as
// written.
func TestFusedShiftMatchesEq4(t *testing.T) {
	backend := engine.MustNew()
	hws := DefaultRemap().Func()
	type layer struct {
		name    string
		x, w, r *tensors.Tensor
		run     func(o Operators, x, w *Node) *Node
	}
	layers := []layer{
		{"conv", randTensor(11, 1, 2, 6, 6, 5), randTensor(12, 0.3, 3, 3, 5, 6), randTensor(13, 1, 2, 3, 3, 6),
			func(o Operators, x, w *Node) *Node { return Conv(o, arch.Shift, x, w, Dims{In: 3, Out: 4}, 2, true) }},
		{"conv, wide output only", randTensor(14, 1, 2, 5, 5, 3), randTensor(15, 0.3, 1, 1, 3, 6), randTensor(16, 1, 2, 5, 5, 6),
			func(o Operators, x, w *Node) *Node { return Conv(o, arch.Shift, x, w, Dims{In: 3, Out: 4}, 1, true) }},
		{"depthwise", randTensor(17, 1, 2, 5, 5, 6), randTensor(18, 0.3, 3, 3, 6), randTensor(19, 1, 2, 5, 5, 6),
			func(o Operators, x, w *Node) *Node { return Depthwise(o, arch.Shift, x, w, 4, 1, true) }},
		{"linear", randTensor(20, 1, 3, 6), randTensor(21, 0.3, 6, 4), randTensor(22, 1, 3, 4),
			func(o Operators, x, w *Node) *Node { return Linear(o, arch.Shift, x, w, nil, 4, true) }},
	}
	for _, l := range layers {
		for _, noActQuant := range []bool{true, false} {
			outs := MustExecOnceN(backend, func(x, w, r *Node) []*Node {
				var res []*Node
				for _, exact := range []bool{true, false} {
					o := Operators{MFWeight: hws, ExactAugShift: exact}
					o.Shift.NoActQuant = noActQuant
					y := l.run(o, x, w)
					g := Gradient(ReduceAllSum(Mul(y, r)), x, w)
					res = append(res, y, g[0], g[1])
				}
				return res
			}, l.x, l.w, l.r)
			tol := 1e-9
			if !noActQuant {
				// The rounding moves each target input by under 2^-16; an output sums it over a receptive field's
				// weights (27 here, |w_q| ≤ 1), a weight gradient over the batch's positions (up to 50, |r| ≲ 3).
				tol = 64 * math.Ldexp(1, -16)
			}
			for i, what := range []string{"output", "input gradient", "weight gradient"} {
				exact, fused := tensors.MustCopyFlatData[float64](outs[i]), tensors.MustCopyFlatData[float64](outs[3+i])
				if d := maxAbsDiff(exact, fused); d > tol {
					t.Errorf("%s, activations quantised %v: fused %s differs from Eq. 4 by %g (tolerance %g)", l.name, !noActQuant, what, d, tol)
				}
				if maxAbsDiff(exact, make([]float64, len(exact))) == 0 {
					t.Errorf("%s: %s is all zero", l.name, what)
				}
			}
		}
	}
}
