package kernels

import (
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
)

type convCase struct{ k, s, n, h, w, cin, cout int }

var convCases = []convCase{
	{3, 1, 2, 5, 7, 3, 4},
	{3, 2, 2, 5, 6, 2, 3},
	{3, 2, 1, 6, 7, 2, 2},
	{1, 1, 2, 4, 5, 3, 2},
	{1, 2, 1, 5, 5, 3, 2},
	{5, 2, 1, 7, 6, 2, 2},
	{5, 1, 1, 4, 3, 2, 3},
}

func TestMultConvGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range convCases {
		x := randArr(rng, -1, 1, c.n, c.h, c.w, c.cin)
		w := randArr(rng, -1, 1, c.k, c.k, c.cin, c.cout)
		op := func(x, w *Node) *Node { return Conv(x, w, ConvOpts{Stride: c.s}) }
		gradCheck(t, op, x, w, rng)
		ho, wo := outSize(c.h, c.k, c.s), outSize(c.w, c.k, c.s)
		if d := forwardDims(t, op, x, w); d[1] != ho || d[2] != wo || d[3] != c.cout {
			t.Errorf("%+v: output dims %v, want [_,%d,%d,%d]", c, d, ho, wo, c.cout)
		}
	}
}

func TestMultDepthwiseGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range convCases {
		x := randArr(rng, -1, 1, c.n, c.h, c.w, c.cin)
		w := randArr(rng, -1, 1, c.k, c.k, c.cin)
		gradCheck(t, func(x, w *Node) *Node { return Depthwise(x, w, ConvOpts{Stride: c.s}) }, x, w, rng)
	}
	// The [k,k,1,C] weight layout.
	x := randArr(rng, -1, 1, 2, 5, 5, 3)
	w := randArr(rng, -1, 1, 3, 3, 1, 3)
	gradCheck(t, func(x, w *Node) *Node { return Depthwise(x, w, ConvOpts{Stride: 2}) }, x, w, rng)
}

func TestMultLinearGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	gradCheck(t, func(x, w *Node) *Node { return Linear(x, w, ConvOpts{}) },
		randArr(rng, -1, 1, 3, 5), randArr(rng, -1, 1, 5, 4), rng)
	gradCheck(t, func(x, w *Node) *Node { return Linear(x, w, ConvOpts{}) },
		randArr(rng, -1, 1, 2, 3, 5), randArr(rng, -1, 1, 5, 2), rng)
}

// TestMultFastEqualsPlain checks that the fast formulation gives the plain GoMLX numbers.
// Forward is compared everywhere; gradients of the plain formulation are compared only
// where simplego can build them (its conv gradient needs Reverse/Pad, missing there).
func TestMultFastEqualsPlain(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, c := range convCases {
		x := randArr(rng, -1, 1, c.n, c.h, c.w, c.cin)
		w := randArr(rng, -1, 1, c.k, c.k, c.cin, c.cout)
		wd := randArr(rng, -1, 1, c.k, c.k, c.cin)
		for _, dw := range []bool{false, true} {
			wt := w
			op := func(plain bool) binOp {
				return func(x, w *Node) *Node { return Conv(x, w, ConvOpts{Stride: c.s, Plain: plain}) }
			}
			if dw {
				wt = wd
				op = func(plain bool) binOp {
					return func(x, w *Node) *Node { return Depthwise(x, w, ConvOpts{Stride: c.s, Plain: plain}) }
				}
			}
			fast, plain := forward(t, op(false), x, wt), forward(t, op(true), x, wt)
			if d := maxAbsDiff(fast, plain); d > 1e-12 {
				t.Errorf("%+v depthwise=%v: fast and plain differ by %g", c, dw, d)
			}
		}
	}
	x, w := randArr(rng, -1, 1, 3, 5), randArr(rng, -1, 1, 5, 4)
	r := randArr(rng, -1, 1, 3, 4)
	lin := func(plain bool) binOp {
		return func(x, w *Node) *Node { return Linear(x, w, ConvOpts{Plain: plain}) }
	}
	_, fx, fw := lossAndGrads(t, lin(false), x, w, r)
	_, px, pw := lossAndGrads(t, lin(true), x, w, r)
	if maxAbsDiff(fx, px) > 1e-12 || maxAbsDiff(fw, pw) > 1e-12 {
		t.Errorf("Linear: fast and plain gradients differ")
	}
}

// TestMultPlainGradientOnSimplego records whether simplego can differentiate the plain
// formulation; where it can, the gradients must equal the fast ones. On stock simplego
// (v0.26.0) the conv gradient needs Reverse, so only the forward pass is compared above.
func TestMultPlainGradientOnSimplego(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	x, w := randArr(rng, -1, 1, 1, 5, 6, 2), randArr(rng, -1, 1, 3, 3, 2, 3)
	r := randArr(rng, -1, 1, 1, 3, 3, 3)
	e, err := NewExec(testBackend(), func(in []*Node) []*Node {
		return Gradient(ReduceAllSum(Mul(Conv(in[0], in[1], ConvOpts{Stride: 2, Plain: true}), in[2])), in[0], in[1])
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	outs, err := e.Exec(x.tensor(), w.tensor(), r.tensor())
	if err != nil {
		t.Skipf("plain conv gradient does not run on simplego (expected): %v", err)
	}
	_, fx, fw := lossAndGrads(t, func(x, w *Node) *Node { return Conv(x, w, ConvOpts{Stride: 2}) }, x, w, r)
	if maxAbsDiff(fx, toF64(outs[0])) > 1e-12 || maxAbsDiff(fw, toF64(outs[1])) > 1e-12 {
		t.Errorf("plain and fast conv gradients differ")
	}
}
