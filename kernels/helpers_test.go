package kernels

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// testBackend is simplego, constructed directly so GOMLX_BACKEND cannot redirect the tests.
var testBackend = sync.OnceValue(func() backends.Backend {
	b, err := simplego.New("")
	if err != nil {
		panic(err)
	}
	return b
})

// arr is a host-side float64 tensor.
type arr struct {
	data []float64
	dims []int
}

func newArr(dims ...int) arr {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return arr{data: make([]float64, n), dims: dims}
}

// randArr fills with uniform values in [lo, hi).
func randArr(rng *rand.Rand, lo, hi float64, dims ...int) arr {
	a := newArr(dims...)
	for i := range a.data {
		a.data[i] = lo + (hi-lo)*rng.Float64()
	}
	return a
}

func (a arr) clone() arr {
	return arr{data: append([]float64(nil), a.data...), dims: a.dims}
}

func (a arr) tensor() *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(append([]float64(nil), a.data...), a.dims...)
}

func (a arr) tensor32() *tensors.Tensor {
	d := make([]float32, len(a.data))
	for i, v := range a.data {
		d[i] = float32(v)
	}
	return tensors.FromFlatDataAndDimensions(d, a.dims...)
}

// runGraph compiles fn on simplego and runs it on float64 inputs, returning flat float64
// outputs.
func runGraph(t testing.TB, fn func(in []*Node) []*Node, inputs ...arr) [][]float64 {
	t.Helper()
	e, err := NewExec(testBackend(), fn)
	if err != nil {
		t.Fatalf("NewExec: %+v", err)
	}
	defer e.Finalize()
	args := make([]any, len(inputs))
	for i, a := range inputs {
		args[i] = a.tensor()
	}
	outs, err := e.Exec(args...)
	if err != nil {
		t.Fatalf("Exec: %+v", err)
	}
	res := make([][]float64, len(outs))
	for i, o := range outs {
		res[i] = toF64(o)
	}
	return res
}

func toF64(o *tensors.Tensor) []float64 {
	var res []float64
	o.MustConstFlatData(func(flat any) {
		switch f := flat.(type) {
		case []float64:
			res = append([]float64(nil), f...)
		case []float32:
			res = make([]float64, len(f))
			for i, v := range f {
				res[i] = float64(v)
			}
		default:
			panic("unexpected dtype")
		}
	})
	return res
}

// binOp is an operator on an input and a weight.
type binOp func(x, w *Node) *Node

// lossAndGrads runs L = Σ op(x, w)·r and its gradients with respect to x and w.
func lossAndGrads(t testing.TB, op binOp, x, w, r arr) (loss float64, dx, dw []float64) {
	t.Helper()
	out := runGraph(t, func(in []*Node) []*Node {
		l := ReduceAllSum(Mul(op(in[0], in[1]), in[2]))
		g := Gradient(l, in[0], in[1])
		return []*Node{l, g[0], g[1]}
	}, x, w, r)
	return out[0][0], out[1], out[2]
}

// forward runs op(x, w).
func forward(t testing.TB, op binOp, x, w arr) []float64 {
	t.Helper()
	return runGraph(t, func(in []*Node) []*Node { return []*Node{op(in[0], in[1])} }, x, w)[0]
}

// gradCheck compares the analytic gradients of L = Σ op(x,w)·r with central finite
// differences in float64 on a sample of coordinates of x and w.
func gradCheck(t *testing.T, op binOp, x, w arr, rng *rand.Rand) {
	t.Helper()
	yShape := forwardDims(t, op, x, w)
	r := randArr(rng, -1, 1, yShape...)
	_, dx, dw := lossAndGrads(t, op, x, w, r)
	e, err := NewExec(testBackend(), func(in []*Node) *Node { return ReduceAllSum(Mul(op(in[0], in[1]), in[2])) })
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	lossAt := func(xa, wa arr) float64 {
		o, err := e.Exec(xa.tensor(), wa.tensor(), r.tensor())
		if err != nil {
			t.Fatal(err)
		}
		return toF64(o[0])[0]
	}
	const h = 1e-6
	check := func(name string, a arr, grad []float64, perturb func(arr) (arr, arr)) {
		idx := rng.Perm(len(a.data))
		if len(idx) > 10 {
			idx = idx[:10]
		}
		for _, i := range idx {
			ap, am := a.clone(), a.clone()
			ap.data[i] += h
			am.data[i] -= h
			xp, wp := perturb(ap)
			xm, wm := perturb(am)
			fd := (lossAt(xp, wp) - lossAt(xm, wm)) / (2 * h)
			if d := math.Abs(fd - grad[i]); d > 1e-6+1e-5*math.Abs(fd) {
				t.Errorf("%s[%d]: analytic %.10g, finite difference %.10g", name, i, grad[i], fd)
			}
		}
	}
	check("dx", x, dx, func(a arr) (arr, arr) { return a, w })
	check("dw", w, dw, func(a arr) (arr, arr) { return x, a })
}

func forwardDims(t testing.TB, op binOp, x, w arr) []int {
	var dims []int
	runGraph(t, func(in []*Node) []*Node {
		y := op(in[0], in[1])
		dims = y.Shape().Dimensions
		return []*Node{y}
	}, x, w)
	return dims
}

func maxAbsDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}
