package intkernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends/simplego"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/shiftaddaug/shiftaddaug/kernels"
)

// floatForward runs a kernels operator in float64 on simplego.
func floatForward(t *testing.T, op func(x, w *Node) *Node, x []float64, xDims []int, w []float64, wDims []int) []float64 {
	t.Helper()
	b, err := simplego.New("")
	if err != nil {
		t.Fatal(err)
	}
	out, err := ExecOnce(b, op, tensors.FromFlatDataAndDimensions(x, xDims...), tensors.FromFlatDataAndDimensions(w, wDims...))
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float64](out)
}

func uniform(rng *rand.Rand, n int, lo, hi float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = lo + (hi-lo)*rng.Float64()
	}
	return v
}

type layerCase struct {
	kind       string // conv, depthwise, linear
	k, s       int
	n, h, w, c int
	cout       int
}

var layerCases = []layerCase{
	{"conv", 3, 1, 2, 5, 6, 3, 4}, {"conv", 3, 2, 1, 7, 5, 2, 3}, {"conv", 1, 1, 2, 4, 3, 5, 2},
	{"conv", 5, 2, 1, 6, 6, 2, 2}, {"depthwise", 3, 1, 2, 5, 5, 4, 4}, {"depthwise", 3, 2, 1, 6, 7, 3, 3},
	{"depthwise", 5, 1, 1, 5, 4, 2, 2}, {"linear", 1, 1, 3, 1, 1, 6, 4},
}

func (c layerCase) wDims() []int {
	switch c.kind {
	case "depthwise":
		return []int{c.k, c.k, c.c}
	case "linear":
		return []int{c.c, c.cout}
	}
	return []int{c.k, c.k, c.c, c.cout}
}

func (c layerCase) xDims() []int {
	if c.kind == "linear" {
		return []int{c.n, c.c}
	}
	return []int{c.n, c.h, c.w, c.c}
}

func size(d []int) int {
	n := 1
	for _, v := range d {
		n *= v
	}
	return n
}

// TestShiftKernelsMatchFloat: integer Shift layers equal the float GoMLX Shift forward
// (float64, 5-bit weights, 16.16 activations) up to the final floor to 16 fraction bits:
// |int − float| < 2^-16.
func TestShiftKernelsMatchFloat(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for _, c := range layerCases {
		x := uniform(rng, size(c.xDims()), -3, 3)
		w := uniform(rng, size(c.wDims()), -1.3, 1.3)
		w[0] = 0
		var op func(x, w *Node) *Node
		co := kernels.ConvOpts{Stride: c.s}
		switch c.kind {
		case "conv":
			op = func(x, w *Node) *Node { return kernels.ShiftConv(x, w, co, kernels.ShiftOpts{}) }
		case "depthwise":
			op = func(x, w *Node) *Node { return kernels.ShiftDepthwise(x, w, co, kernels.ShiftOpts{}) }
		default:
			op = func(x, w *Node) *Node { return kernels.ShiftLinear(x, w, co, kernels.ShiftOpts{}) }
		}
		want := floatForward(t, op, x, c.xDims(), w, c.wDims())

		xa := ActFromFloats(x, c.n, c.h, c.w, c.c)
		ClampAct(xa)
		sw := ShiftWeights{Sign: make([]int8, len(w)), Exp: make([]int8, len(w))}
		for i, v := range w {
			s, e := kernels.ShiftQuantizeValue(v, kernels.DefaultShiftBits)
			sw.Sign[i], sw.Exp[i] = int8(s), int8(e)
		}
		var y Act
		switch c.kind {
		case "conv":
			y = ShiftConv(xa, sw, c.k, c.cout, c.s)
		case "depthwise":
			y = ShiftDepthwise(xa, sw, c.k, c.s)
		default:
			y = ShiftLinear(xa, sw, c.cout)
		}
		got := y.Floats()
		if len(got) != len(want) {
			t.Fatalf("%+v: %d outputs, want %d", c, len(got), len(want))
		}
		for i := range got {
			if d := want[i] - got[i]; d < 0 || d >= math.Ldexp(1, -FracBits) {
				t.Fatalf("%+v: output %d = %.10g, float %.10g (diff %g, want [0, 2^-16))", c, i, got[i], want[i], d)
			}
		}
	}
}

// TestAddKernelsMatchFloat: integer Add layers equal the float GoMLX Add forward on the
// fixed-point inputs and weights exactly, and the float forward on the original values
// within the fixed-point error Σ_taps (2^-16 + 2^-17).
func TestAddKernelsMatchFloat(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	for _, c := range layerCases {
		x := uniform(rng, size(c.xDims()), -2, 2)
		w := uniform(rng, size(c.wDims()), -1, 1)
		co := kernels.ConvOpts{Stride: c.s}
		var op func(x, w *Node) *Node
		taps := c.k * c.k * c.c
		switch c.kind {
		case "conv":
			op = func(x, w *Node) *Node { return kernels.AddConv(x, w, co, kernels.AddOpts{}) }
		case "depthwise":
			op = func(x, w *Node) *Node { return kernels.AddDepthwise(x, w, co, kernels.AddOpts{}) }
			taps = c.k * c.k
		default:
			op = func(x, w *Node) *Node { return kernels.AddLinear(x, w, co, kernels.AddOpts{}) }
		}
		xa := ActFromFloats(x, c.n, c.h, c.w, c.c)
		wi := make([]int32, len(w))
		xq, wq := xa.Floats(), make([]float64, len(w))
		for i, v := range w {
			wi[i] = RoundFixed(v)
			wq[i] = FromFixed(wi[i])
		}
		var y Act
		switch c.kind {
		case "conv":
			y = AddConv(xa, wi, c.k, c.cout, c.s)
		case "depthwise":
			y = AddDepthwise(xa, wi, c.k, c.s)
		default:
			y = AddLinear(xa, wi, c.cout)
		}
		got := y.Floats()
		exact := floatForward(t, op, xq, c.xDims(), wq, c.wDims())
		approx := floatForward(t, op, x, c.xDims(), w, c.wDims())
		bound := float64(taps) * (math.Ldexp(1, -16) + math.Ldexp(1, -17))
		for i := range got {
			if got[i] != exact[i] {
				t.Fatalf("%+v: output %d = %.12g, float on fixed-point values %.12g", c, i, got[i], exact[i])
			}
			if math.Abs(got[i]-approx[i]) > bound {
				t.Fatalf("%+v: output %d = %.10g, float %.10g, beyond %g", c, i, got[i], approx[i], bound)
			}
		}
	}
}
