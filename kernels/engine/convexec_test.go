package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/shiftaddaug/shiftaddaug/kernels"
)

// TestFastExecDepthwiseConv: the direct depthwise ConvGeneral (forward pass, and input gradient with input
// dilation) is bit-identical to SimpleGo's on random shapes, strides, paddings (asymmetric, zero, wider than the
// kernel) and dilations, with zeros of both signs, infinities and NaN in the input.
func TestFastExecDepthwiseConv(t *testing.T) {
	fast, stock := newFastEngine(t), newStockSimpleGo(t)
	rng := rand.New(rand.NewPCG(7, 9))
	for trial := range 24 {
		n, h, w, c := 1+rng.IntN(3), 1+rng.IntN(11), 1+rng.IntN(11), 1+rng.IntN(9)
		kh, kw := 1+rng.IntN(4), 1+rng.IntN(4)
		strides := []int{1 + rng.IntN(3), 1 + rng.IntN(3)}
		dil := []int{1 + rng.IntN(3), 1 + rng.IntN(3)}
		pads := [][2]int{{rng.IntN(kh + 1), rng.IntN(kh + 2)}, {rng.IntN(kw + 1), rng.IntN(kw + 2)}}
		if trial == 0 { // large enough to run in parallel
			n, h, w, c, kh, kw, strides, dil, pads = 4, 40, 40, 48, 3, 3, []int{1, 1}, []int{1, 1}, [][2]int{{1, 1}, {1, 1}}
		}
		if trial == 1 { // 32 channels at once, then 8, then a tail of 5
			n, h, w, c, kh, kw, strides, dil, pads = 2, 9, 7, 45, 5, 5, []int{2, 2}, []int{1, 1}, [][2]int{{2, 2}, {2, 2}}
		}
		if (h-1)*dil[0]+1+pads[0][0]+pads[0][1] < kh || (w-1)*dil[1]+1+pads[1][0]+pads[1][1] < kw {
			continue
		}
		x, k := randTensor(rng, []int{n, h, w, c}), randTensor(rng, []int{kh, kw, 1, c})
		specialValues(rng, x)
		f := func(xs []*Node) *Node {
			return ConvGeneral(xs[0], xs[1], nhwcAxes, strides, pads, dil, []int{1, 1}, c, 1) // nil kernel dilations crash SimpleGo
		}
		what := fmt.Sprintf("x [%d,%d,%d,%d] k %dx%d strides %v input dilations %v paddings %v", n, h, w, c, kh, kw,
			strides, dil, pads)
		before := fastExecRuns.Load()
		got := runOn(t, fast, f, x, k)
		if fastExecRuns.Load() == before {
			t.Fatalf("%s: the fast executor did not run", what)
		}
		bitIdentical(t, what, got, runOn(t, stock, f, x, k))
	}
}

// depthwiseFilterGradRef is the filter gradient in float64 loops: z[i,j,c] = Σ x[b, oh·sh+i−pt, ow·sw+j−pl, c]·v[b,oh,ow,c].
func depthwiseFilterGradRef(x, v []float32, n, h, w, c, ho, wo, kh, kw, sh, sw, pt, pl int) []float64 {
	z := make([]float64, kh*kw*c)
	for b := range n {
		for oh := range ho {
			for ow := range wo {
				for i := range kh {
					for j := range kw {
						ih, iw := oh*sh+i-pt, ow*sw+j-pl
						if ih < 0 || ih >= h || iw < 0 || iw >= w {
							continue
						}
						for ch := range c {
							z[(i*kw+j)*c+ch] += float64(x[((b*h+ih)*w+iw)*c+ch]) * float64(v[((b*ho+oh)*wo+ow)*c+ch])
						}
					}
				}
			}
		}
	}
	return z
}

// TestFastExecDepthwiseFilterGrad: the depthwise filter gradient (batch groups = channels) against float64 loops.
// (SimpleGo's own ConvGeneral gets this configuration wrong, so it is not the reference here.)
func TestFastExecDepthwiseFilterGrad(t *testing.T) {
	fast := newFastEngine(t)
	rng := rand.New(rand.NewPCG(7, 10))
	for trial := range 16 {
		n, h, w, c := 1+rng.IntN(3), 1+rng.IntN(11), 1+rng.IntN(11), 1+rng.IntN(9)
		kh, kw := 1+rng.IntN(4), 1+rng.IntN(4)
		sh, sw := 1+rng.IntN(3), 1+rng.IntN(3)
		if trial == 0 {
			n, h, w, c, kh, kw, sh, sw = 8, 32, 32, 48, 3, 3, 2, 2
		}
		pt, pl := kh/2, kw/2
		ho, wo := (h+2*pt-kh)/sh+1, (w+2*pl-kw)/sw+1
		if ho < 1 || wo < 1 {
			continue
		}
		pads := [][2]int{{pt, kh + (ho-1)*sh - h - pt}, {pl, kw + (wo-1)*sw - w - pl}}
		x, v := randTensor(rng, []int{n, h, w, c}), randTensor(rng, []int{n, ho, wo, c})
		f := func(xs []*Node) *Node {
			return ConvGeneral(xs[0], xs[1], filterGradAxes, []int{1, 1}, pads, nil, []int{sh, sw}, 1, c)
		}
		what := fmt.Sprintf("x [%d,%d,%d,%d] k %dx%d dilations %d,%d", n, h, w, c, kh, kw, sh, sw)
		before := fastExecRuns.Load()
		got := runOn(t, fast, f, x, v)
		if fastExecRuns.Load() == before {
			t.Fatalf("%s: the fast executor did not run", what)
		}
		want := depthwiseFilterGradRef(tensors.MustCopyFlatData[float32](x), tensors.MustCopyFlatData[float32](v),
			n, h, w, c, ho, wo, kh, kw, sh, sw, pt, pl)
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
		}
		for i := range want {
			if d := math.Abs(float64(got[i]) - want[i]); d > 1e-4*(1+math.Abs(want[i])) {
				t.Fatalf("%s: element %d = %v, float64 reference %v", what, i, got[i], want[i])
			}
		}
	}
}

// TestDirectDepthwiseMatchesTaps: kernels.Depthwise on the engine (three ConvGeneral ops) gives the forward pass
// and both gradients of the tap formulation it replaces (run on stock SimpleGo), up to float32 summation order.
func TestDirectDepthwiseMatchesTaps(t *testing.T) {
	fast, stock := newFastEngine(t), newStockSimpleGo(t)
	if _, ok := backends.Backend(stock).(kernels.DirectDepthwiser); ok {
		t.Fatal("stock SimpleGo claims direct depthwise convolutions")
	}
	if off, err := NewEngine(optNoFastExec); err != nil {
		t.Fatal(err)
	} else if off.DirectDepthwise() {
		t.Fatal("the engine without fast executors claims direct depthwise convolutions")
	} else {
		off.Finalize()
	}
	rng := rand.New(rand.NewPCG(7, 11))
	for _, tc := range []struct{ n, h, w, c, k, s int }{
		{2, 9, 9, 8, 3, 1}, {2, 9, 9, 8, 3, 2}, {3, 10, 7, 5, 5, 2}, {1, 6, 6, 4, 2, 1}, {2, 8, 8, 3, 7, 1},
		{16, 24, 24, 48, 3, 2}, {1, 1, 1, 8, 3, 1},
	} {
		ho, wo := (tc.h+2*(tc.k/2)-tc.k)/tc.s+1, (tc.w+2*(tc.k/2)-tc.k)/tc.s+1
		x, w := randTensor(rng, []int{tc.n, tc.h, tc.w, tc.c}), randTensor(rng, []int{tc.k, tc.k, tc.c})
		v := randTensor(rng, []int{tc.n, ho, wo, tc.c})
		for out, name := range []string{"y", "dX", "dW"} {
			f := func(xs []*Node) *Node {
				y := kernels.Depthwise(xs[0], xs[1], kernels.ConvOpts{Stride: tc.s})
				if out == 0 {
					return y
				}
				return Gradient(ReduceAllSum(Mul(y, xs[2])), xs[0], xs[1])[out-1]
			}
			what := fmt.Sprintf("%+v %s", tc, name)
			before := fastExecRuns.Load()
			got := runOn(t, fast, f, x, w, v)
			if fastExecRuns.Load() == before {
				t.Fatalf("%s: the fast executor did not run", what)
			}
			want := runOn(t, stock, f, x, w, v)
			scale := 0.0
			for _, x := range want {
				scale = max(scale, math.Abs(float64(x)))
			}
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*(1+scale) {
					t.Fatalf("%s: element %d = %v, taps on stock SimpleGo %v", what, i, got[i], want[i])
				}
			}
		}
	}
}

// TestDepthwiseKernelsMatchGo: the AVX depthwise paths (taps summed in registers forward, vecMulAdd per position
// and tap for the filter gradient) give the bits of the Go loops, on strides, dilations, paddings (wider than the kernel too),
// channel counts around the 64-, 32-, 16- and 8-channel blocks, and zero channel tails (cu < c); the forward with the
// AVX-512 kernel too where the CPU has it.
func TestDepthwiseKernelsMatchGo(t *testing.T) {
	if !hasVec {
		t.Skip("no AVX2 on this CPU")
	}
	defer func() { noVec, noVec512 = false, false }()
	rng := rand.New(rand.NewPCG(21, 22))
	for trial := range 60 {
		p := convPlan{n: 1 + rng.IntN(3), h: 1 + rng.IntN(12), w: 1 + rng.IntN(12), c: 1 + rng.IntN(150),
			kh: 1 + rng.IntN(5), kw: 1 + rng.IntN(5), sh: 1 + rng.IntN(3), sw: 1 + rng.IntN(3), dh: 1, dw: 1,
			padTop: rng.IntN(4), padLft: rng.IntN(4)}
		if trial%2 == 0 {
			p.dh, p.dw = 1+rng.IntN(2), 1+rng.IntN(2) // input dilation (the forward's input gradient)
		}
		if trial%4 == 1 { // rows of three taps (vecTapRowGrad3), with columns inside and outside the input
			p.kw, p.w, p.dh, p.dw = 3, 4+rng.IntN(14), 1, 1
		}
		p.cu = p.c
		if trial%3 == 0 {
			p.cu = min(p.c, (rng.IntN(p.c)+8)&^7)
		}
		p.ho = ((p.h-1)*p.dh+1+2*p.padTop-p.kh)/p.sh + 1
		p.wo = ((p.w-1)*p.dw+1+2*p.padLft-p.kw)/p.sw + 1
		if p.ho < 1 || p.wo < 1 {
			continue
		}
		x := maskedTail(rng, p.n*p.h*p.w, p.c, p.cu)
		k := maskedTail(rng, p.kh*p.kw, p.c, p.cu)
		v := maskedTail(rng, p.n*p.ho*p.wo, p.c, p.cu)
		var z, fg [3][]float32
		for i, off := range [][2]bool{{false, false}, {true, true}, {false, true}} { // noVec, noVec512
			noVec, noVec512 = off[0], off[1]
			z[i] = make([]float32, p.n*p.ho*p.wo*p.c)
			depthwiseForward(p, x, k, z[i])
			if p.dh == 1 && p.dw == 1 { // the filter gradient has no input dilation
				fg[i] = make([]float32, p.kh*p.kw*p.c)
				depthwiseFilterGrad(p, x, v, fg[i])
			}
		}
		what := fmt.Sprintf("%+v", p)
		bitIdentical(t, what+" forward", z[0], z[1])
		bitIdentical(t, what+" forward (AVX2 alone)", z[2], z[1])
		bitIdentical(t, what+" filter gradient", fg[0], fg[1])
		if fg[0] != nil { // the float64 instantiation takes the Go loops
			fg64 := make([]float64, len(fg[0]))
			depthwiseFilterGrad(p, toF64(x), toF64(v), fg64)
			for i, want := range fg64 {
				if d := math.Abs(float64(fg[0][i]) - want); d > 1e-4*(1+math.Abs(want)) {
					t.Fatalf("%s: float64 filter gradient[%d] = %g, float32 %g", what, i, want, fg[0][i])
				}
			}
		}
	}
}

// BenchmarkDepthwiseForward times the direct depthwise forward on two 3x3 layers of the res-96 step (batch 64), with
// the AVX-512 kernel and with AVX2 alone.
func BenchmarkDepthwiseForward(b *testing.B) {
	rng := rand.New(rand.NewPCG(23, 24))
	defer func() { noVec512 = false }()
	for _, d := range [][3]int{{48, 48, 48}, {24, 24, 144}} { // h = w, c
		p := convPlan{n: 64, h: d[0], w: d[1], c: d[2], cu: d[2], kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1,
			padTop: 1, padLft: 1, ho: d[0], wo: d[1]}
		x, k := maskedTail(rng, p.n*p.h*p.w, p.c, p.c), maskedTail(rng, 9, p.c, p.c)
		z := make([]float32, p.n*p.ho*p.wo*p.c)
		for _, avx2 := range []bool{false, true} {
			name := fmt.Sprintf("%dx%dx%d/avx512", p.h, p.w, p.c)
			if avx2 {
				name = fmt.Sprintf("%dx%dx%d/avx2", p.h, p.w, p.c)
			}
			b.Run(name, func(b *testing.B) {
				noVec512 = avx2
				for range b.N {
					depthwiseForward(p, x, k, z)
				}
			})
		}
	}
}
