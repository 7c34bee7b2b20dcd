package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
)

// depthwiseCases add to convCases the shapes that exercise depthwiseDX's phases: strides 1-3, kernels 1-7,
// odd and even sizes, inputs smaller than the kernel, and a stride larger than the kernel (phases no tap reaches).
var depthwiseCases = []convCase{
	{3, 1, 2, 6, 5, 3, 0},
	{3, 2, 2, 7, 7, 3, 0},
	{3, 2, 1, 8, 6, 2, 0},
	{3, 3, 1, 7, 8, 2, 0},
	{5, 1, 1, 5, 6, 2, 0},
	{5, 2, 2, 9, 8, 2, 0},
	{7, 1, 1, 4, 5, 2, 0},
	{7, 2, 1, 9, 10, 2, 0},
	{3, 1, 1, 1, 2, 2, 0},
	{5, 2, 1, 2, 3, 2, 0},
	{1, 1, 2, 3, 4, 3, 0},
	{1, 2, 1, 5, 4, 2, 0},
	{1, 3, 1, 7, 5, 2, 0},
	{2, 2, 1, 6, 5, 2, 0},
}

// placedDepthwiseGrads is the gradient formulation depthwiseDX and depthwiseGradsStride1 replaced: each tap's
// gradient v·∂f/∂tap placed into a zero padded [N, H+2p, W+2p, C] copy, summed over the taps in row-major order, and
// cropped; dW [k·k, C] from per-tap reductions of dTapW(v, tap, w_t).
func placedDepthwiseGrads(x, w, v *Node, k, s int, dTap, dTapW func(v, tap, wt *Node) *Node) (dx, dw *Node) {
	dims := x.Shape().Dimensions
	h, wd, c := dims[1], dims[2], dims[3]
	p := k / 2
	ho, wo := outSize(h, k, s), outSize(wd, k, s)
	xp := padHW(x, p, p, p, p)
	w2 := Reshape(w, k*k, c)
	var dws []*Node
	for i := range k {
		for j := range k {
			wt := Reshape(Slice(w2, AxisElem(i*k+j)), 1, 1, 1, c)
			tap := tapSlice(xp, i, j, s, ho, wo)
			dws = append(dws, Reshape(ReduceSum(dTapW(v, tap, wt), 0, 1, 2), 1, c))
			placed := placeTap(dTap(v, tap, wt), i, j, s, h+2*p, wd+2*p)
			if dx == nil {
				dx = placed
			} else {
				dx = Add(dx, placed)
			}
		}
	}
	return cropHW(dx, p, p, h, wd), Concatenate(dws, 0)
}

// TestDepthwiseGradsEqualPlacement: the phase-wise correlation (stride ≥ 2) and the flattened placement (stride 1)
// give dX and dW the values of the tap-by-tap placement exactly (float32 and float64; an exact zero may differ in
// sign), for the Mult and the Add depthwise convs. The training trajectories of pkg/train (augadd amplifies rounding
// differences) depend on this.
func TestDepthwiseGradsEqualPlacement(t *testing.T) {
	rng := rand.New(rand.NewPCG(81, 82))
	type variant struct {
		name        string
		op          func(x, w *Node, s int) *Node
		dTap, dTapW func(v, tap, wt *Node) *Node
	}
	variants := []variant{
		{"mult", func(x, w *Node, s int) *Node { return Depthwise(x, w, ConvOpts{Stride: s}) },
			func(v, _, wt *Node) *Node { return Mul(v, wt) }, func(v, tap, _ *Node) *Node { return Mul(v, tap) }},
		{"add", func(x, w *Node, s int) *Node {
			return AddDepthwise(x, w, ConvOpts{Stride: s}, AddOpts{NoAdaptiveScale: true})
		}, func(v, tap, wt *Node) *Node { return Mul(v, ClipScalar(Sub(wt, tap), -1, 1)) },
			func(v, tap, wt *Node) *Node { return Mul(v, Sub(tap, wt)) }},
	}
	for _, c := range append(append([]convCase(nil), convCases...), depthwiseCases...) {
		x := randArr(rng, -2, 2, c.n, c.h, c.w, c.cin)
		w := randArr(rng, -2, 2, c.k, c.k, c.cin)
		v := randArr(rng, -1, 1, c.n, outSize(c.h, c.k, c.s), outSize(c.w, c.k, c.s), c.cin)
		for _, f32 := range []bool{false, true} {
			args := []*tensors.Tensor{x.tensor(), w.tensor(), v.tensor()}
			if f32 {
				args = []*tensors.Tensor{x.tensor32(), w.tensor32(), v.tensor32()}
			}
			for _, vr := range variants {
				e, err := NewExec(testBackend(), func(x, w, v *Node) []*Node {
					got := Gradient(ReduceAllSum(Mul(vr.op(x, w, c.s), v)), x, w)
					dx, dw := placedDepthwiseGrads(x, w, v, c.k, c.s, vr.dTap, vr.dTapW)
					return []*Node{got[0], got[1], dx, Reshape(dw, w.Shape().Dimensions...)}
				})
				if err != nil {
					t.Fatal(err)
				}
				out, err := e.Exec(args[0], args[1], args[2])
				if err != nil {
					t.Fatalf("%+v %s: %v", c, vr.name, err)
				}
				for g, name := range []string{"dX", "dW"} {
					got, want := toF64(out[g]), toF64(out[g+2])
					for i := range want {
						if got[i] != want[i] {
							t.Errorf("k%d s%d %dx%d %s float32=%v: %s[%d] = %.9g, placement gives %.9g",
								c.k, c.s, c.h, c.w, vr.name, f32, name, i, got[i], want[i])
							break
						}
					}
				}
				e.Finalize()
			}
		}
	}
}

// TestDepthwiseGradientsMoreShapes: finite differences (Mult) and the plain-Go AdderNet reference (Add) on the
// extra shapes.
func TestDepthwiseGradientsMoreShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(83, 84))
	for _, c := range depthwiseCases {
		x := randArr(rng, -1, 1, c.n, c.h, c.w, c.cin)
		w := randArr(rng, -1, 1, c.k, c.k, c.cin)
		gradCheck(t, func(x, w *Node) *Node { return Depthwise(x, w, ConvOpts{Stride: c.s}) }, x, w, rng)

		s := c.s
		ac := addCase{name: "depthwise", k: c.k, s: s, depthwise: true, x: randArr(rng, -2, 2, c.n, c.h, c.w, c.cin),
			w: randArr(rng, -2, 2, c.k, c.k, c.cin)}
		op := func(x, w *Node) *Node {
			return AddDepthwise(x, w, ConvOpts{Stride: s}, AddOpts{NoAdaptiveScale: true})
		}
		v := randArr(rng, -1, 1, forwardDims(t, op, ac.x, ac.w)...)
		_, wantDx, wantDw := ac.ref(&v, absPair)
		_, gotDx, gotDw := lossAndGrads(t, op, ac.x, ac.w, v)
		if d := maxAbsDiff(gotDx, wantDx.data); d > 1e-12 {
			t.Errorf("add k%d s%d %dx%d: dX differs from the reference by %g", c.k, c.s, c.h, c.w, d)
		}
		if d := maxAbsDiff(gotDw, wantDw.data); d > 1e-12 {
			t.Errorf("add k%d s%d %dx%d: dW differs from the reference by %g", c.k, c.s, c.h, c.w, d)
		}
	}
}

// TestDepthwiseGradientEqualsStockConv: on the project's engine (which adds the Pad and Reverse that GoMLX's conv
// gradient needs) the fast Depthwise's gradients equal those of graph.Convolve with FeatureGroupCount (Plain),
// up to summation order, for odd kernel sizes (graph.Convolve pads symmetrically).
func TestDepthwiseGradientEqualsStockConv(t *testing.T) {
	eng, err := engine.NewEngine("")
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Finalize()
	rng := rand.New(rand.NewPCG(85, 86))
	for _, c := range append(append([]convCase(nil), convCases...), depthwiseCases...) {
		if c.k%2 == 0 {
			continue
		}
		x := randArr(rng, -1, 1, c.n, c.h, c.w, c.cin)
		w := randArr(rng, -1, 1, c.k, c.k, c.cin)
		v := randArr(rng, -1, 1, c.n, outSize(c.h, c.k, c.s), outSize(c.w, c.k, c.s), c.cin)
		grads := func(plain bool) [][]float64 {
			e, err := NewExec(eng, func(x, w, v *Node) []*Node {
				y := Depthwise(x, w, ConvOpts{Stride: c.s, Plain: plain})
				return Gradient(ReduceAllSum(Mul(y, v)), x, w)
			})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Finalize()
			out, err := e.Exec(x.tensor(), w.tensor(), v.tensor())
			if err != nil {
				t.Fatalf("%+v plain=%v: %v", c, plain, err)
			}
			return [][]float64{toF64(out[0]), toF64(out[1])}
		}
		fast, plain := grads(false), grads(true)
		for i, name := range []string{"dX", "dW"} {
			if d := maxAbsDiff(fast[i], plain[i]); d > 1e-12 {
				t.Errorf("k%d s%d %dx%d: %s differs from graph.Convolve's by %g", c.k, c.s, c.h, c.w, name, d)
			}
		}
	}
}

// BenchmarkDepthwiseGrad: dX and dW of a 3×3 Mult depthwise conv on [64,48,48,48] float32 on the project's engine,
// strides 1 and 2, against the tap-by-tap placement (placedDepthwiseGrads, the formulation before the phase-wise
// correlation; at stride 1 both are the placement):
//
//	go test -run XXX -bench DepthwiseGrad ./kernels/
func BenchmarkDepthwiseGrad(b *testing.B) {
	eng, err := engine.NewEngine("")
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Finalize()
	for _, s := range []int{1, 2} {
		rng := rand.New(rand.NewPCG(87, 88))
		ho := outSize(48, 3, s)
		x := randArr(rng, -1, 1, 64, 48, 48, 48).tensor32()
		w := randArr(rng, -1, 1, 3, 3, 48).tensor32()
		v := randArr(rng, -1, 1, 64, ho, ho, 48).tensor32()
		for _, placed := range []bool{true, false} {
			name := fmt.Sprintf("stride%d/fast", s)
			if placed {
				name = fmt.Sprintf("stride%d/placement", s)
			}
			b.Run(name, func(b *testing.B) {
				e := MustNewExec(eng, func(x, w, v *Node) []*Node {
					y := Depthwise(x, w, ConvOpts{Stride: s})
					if placed { // the same forward, with the placement's gradient
						xs, ws := StopGradient(x), StopGradient(w)
						var dx, dw *Node
						y = CustomVJP([]*Node{x, w}, StopGradient(y), func(i int, v *Node) *Node {
							if dx == nil {
								dx, dw = placedDepthwiseGrads(xs, ws, v, 3, s,
									func(v, _, wt *Node) *Node { return Mul(v, wt) },
									func(v, tap, _ *Node) *Node { return Mul(v, tap) })
							}
							return []*Node{dx, Reshape(dw, 3, 3, 48)}[i]
						})
					}
					return Gradient(ReduceAllSum(Mul(y, v)), x, w)
				})
				defer e.Finalize()
				run := func() {
					for _, o := range e.MustExec(x, w, v) {
						o.FinalizeAll()
					}
				}
				run()
				b.ResetTimer()
				for range b.N {
					run()
				}
			})
		}
	}
}
