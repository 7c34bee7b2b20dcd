package kernels

import (
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
)

// ConvOpts configures the convolution-like operators (Mult, Shift and Add). The zero value
// means stride 1 with the fast formulation.
type ConvOpts struct {
	// Stride of the convolution on both spatial axes; 0 means 1.
	Stride int
	// Plain selects GoMLX's own formulation (graph.Convolve / graph.Dot and their stock
	// gradients) instead of the fast one. Use it under XLA if it is faster there; on simplego
	// its gradients need Pad/Reverse (not available) and grouped convs are very slow. It
	// applies to Mult and Shift (Shift is Mult on quantised values); Add has only the fast
	// formulation and ignores it.
	Plain bool
}

func (o ConvOpts) stride() int {
	if o.Stride <= 0 {
		return 1
	}
	return o.Stride
}

// Im2Col returns the "same"-padded patches of x [N, H, W, C] for a k×k kernel with stride s,
// shaped [N, Ho, Wo, k·k·C] with the tap index (i, j) major and the channel minor, matching
// a weight [k, k, C, Cout] reshaped to [k·k·C, Cout]. Its gradient scatters the patch
// gradients back with zero-interleaving and Concatenate-padding (col2im), so it runs on
// simplego, whose Slice gradient would need the missing Pad.
func Im2Col(x *Node, k, s int) *Node {
	checkRank(x, 4, "Im2Col x")
	dims := x.Shape().Dimensions
	n, h, w, c := dims[0], dims[1], dims[2], dims[3]
	p := k / 2
	ho, wo := outSize(h, k, s), outSize(w, k, s)
	if k == 1 && s == 1 {
		return x
	}
	xp := padHW(x, p, p, p, p)
	hp, wp := h+2*p, w+2*p
	taps := make([]*Node, 0, k*k)
	for i := range k {
		for j := range k {
			taps = append(taps, tapSlice(xp, i, j, s, ho, wo))
		}
	}
	patches := taps[0]
	if len(taps) > 1 {
		patches = Concatenate(taps, 3)
	}
	return CustomVJP([]*Node{x}, patches, func(_ int, v *Node) *Node {
		var sum *Node
		t := 0
		for i := range k {
			for j := range k {
				gt := v
				if k > 1 {
					gt = Slice(v, AxisRange(), AxisRange(), AxisRange(), AxisRange(t*c, (t+1)*c))
				}
				placed := placeTap(gt, i, j, s, hp, wp)
				if sum == nil {
					sum = placed
				} else {
					sum = Add(sum, placed)
				}
				t++
			}
		}
		_ = n
		return cropHW(sum, p, p, h, w)
	})
}

// Conv is the multiplicative k×k convolution of x [N, H, W, Cin] with w [k, k, Cin, Cout],
// "same" padding k//2 and stride opts.Stride, giving [N, Ho, Wo, Cout]. The fast formulation
// is Im2Col followed by FastMatMul (a 1×1 stride-1 conv is a plain FastMatMul).
func Conv(x, w *Node, opts ConvOpts) *Node {
	k, cin, cout := convWeightDims(x, w, "Conv")
	s := opts.stride()
	if opts.Plain {
		p := k / 2
		return Convolve(x, w).StridePerAxis(s, s).PaddingPerDim([][2]int{{p, p}, {p, p}}).
			DilationPerAxis(1, 1).Done()
	}
	patches := Im2Col(x, k, s)
	pd := patches.Shape().Dimensions
	m := pd[0] * pd[1] * pd[2]
	y := FastMatMul(Reshape(patches, m, k*k*cin), Reshape(w, k*k*cin, cout))
	return Reshape(y, pd[0], pd[1], pd[2], cout)
}

// Depthwise is the multiplicative depthwise k×k convolution of x [N, H, W, C] with
// w [k, k, C] or [k, k, 1, C], "same" padding, stride opts.Stride. The fast formulation
// sums k² strided slices of the padded input times the per-channel tap weights, with a
// hand-written gradient (dX: the tap gradients placed back; dW: per-tap reductions).
func Depthwise(x, w *Node, opts ConvOpts) *Node {
	k, c := depthwiseWeightDims(x, w, "Depthwise")
	s := opts.stride()
	if opts.Plain {
		p := k / 2
		return Convolve(x, Reshape(w, k, k, 1, c)).StridePerAxis(s, s).
			PaddingPerDim([][2]int{{p, p}, {p, p}}).DilationPerAxis(1, 1).FeatureGroupCount(c).Done()
	}
	return depthwiseTaps(x, w, k, s,
		func(tap, wt *Node) *Node { return Mul(tap, wt) },
		func(v, tap, wt *Node) (dTap, dW *Node) { return Mul(v, wt), Mul(v, tap) })
}

// depthwiseTaps builds y = Σ_taps f(tap_t(x), w_t) for a per-channel tap function f and
// its hand-written gradient df(v, tap, w_t) = (v·∂f/∂tap, v·∂f/∂w_t), both elementwise on
// [N, Ho, Wo, C] (w_t broadcast from [C]). Used by the Mult, Shift and Add depthwise convs.
func depthwiseTaps(x, w *Node, k, s int, f func(tap, wt *Node) *Node,
	df func(v, tap, wt *Node) (dTap, dW *Node)) *Node {
	dims := x.Shape().Dimensions
	n, h, wd, c := dims[0], dims[1], dims[2], dims[3]
	p := k / 2
	ho, wo := outSize(h, k, s), outSize(wd, k, s)
	hp, wp := h+2*p, wd+2*p
	xs, ws := StopGradient(x), StopGradient(w)
	w2 := Reshape(ws, k*k, c)
	xp := padHW(xs, p, p, p, p)
	tapW := func(t int) *Node { return Reshape(Slice(w2, AxisElem(t)), 1, 1, 1, c) }
	var y *Node
	t := 0
	for i := range k {
		for j := range k {
			yt := f(tapSlice(xp, i, j, s, ho, wo), tapW(t))
			if y == nil {
				y = yt
			} else {
				y = Add(y, yt)
			}
			t++
		}
	}
	_ = n
	// Both gradients need the same per-tap products; build them once per Gradient call.
	var cachedV, dx, dw *Node
	build := func(v *Node) {
		if cachedV == v {
			return
		}
		cachedV = v
		dx, dw = nil, nil
		dws := make([]*Node, 0, k*k)
		t := 0
		for i := range k {
			for j := range k {
				dTap, dW := df(v, tapSlice(xp, i, j, s, ho, wo), tapW(t))
				placed := placeTap(dTap, i, j, s, hp, wp)
				if dx == nil {
					dx = placed
				} else {
					dx = Add(dx, placed)
				}
				dws = append(dws, Reshape(ReduceSum(dW, 0, 1, 2), 1, c))
				t++
			}
		}
		dx = cropHW(dx, p, p, h, wd)
		dw = Reshape(Concatenate(dws, 0), w.Shape().Dimensions...)
	}
	return CustomVJP([]*Node{x, w}, y, func(i int, v *Node) *Node {
		build(v)
		if i == 0 {
			return dx
		}
		return dw
	})
}

// Linear is the multiplicative fully connected layer: x [..., Cin] · w [Cin, Cout].
func Linear(x, w *Node, opts ConvOpts) *Node {
	cin, cout := linearWeightDims(x, w, "Linear")
	if opts.Plain {
		return DotGeneral(x, []int{x.Rank() - 1}, nil, w, []int{0}, nil)
	}
	lead := x.Shape().Dimensions[:x.Rank()-1]
	m := x.Shape().Size() / cin
	y := FastMatMul(Reshape(x, m, cin), w)
	return Reshape(y, append(append([]int(nil), lead...), cout)...)
}

func checkRank(x *Node, rank int, what string) {
	if x.Rank() != rank {
		panicf("kernels: %s must have rank %d, got shape %s", what, rank, x.Shape())
	}
}

// convWeightDims validates x [N,H,W,Cin] against w [k,k,Cin,Cout] and returns k, Cin, Cout.
func convWeightDims(x, w *Node, op string) (k, cin, cout int) {
	checkRank(x, 4, op+" x")
	checkRank(w, 4, op+" w")
	wd := w.Shape().Dimensions
	if wd[0] != wd[1] || wd[2] != x.Shape().Dimensions[3] {
		panicf("kernels.%s: want w [k,k,Cin,Cout] with Cin=%d, got %s", op, x.Shape().Dimensions[3], w.Shape())
	}
	return wd[0], wd[2], wd[3]
}

// depthwiseWeightDims validates x [N,H,W,C] against w [k,k,C] or [k,k,1,C].
func depthwiseWeightDims(x, w *Node, op string) (k, c int) {
	checkRank(x, 4, op+" x")
	wd := w.Shape().Dimensions
	c = x.Shape().Dimensions[3]
	ok := (len(wd) == 3 && wd[2] == c) || (len(wd) == 4 && wd[2] == 1 && wd[3] == c)
	if !ok || wd[0] != wd[1] {
		panicf("kernels.%s: want w [k,k,%d] or [k,k,1,%d], got %s", op, c, c, w.Shape())
	}
	return wd[0], c
}

// linearWeightDims validates x [..., Cin] against w [Cin, Cout].
func linearWeightDims(x, w *Node, op string) (cin, cout int) {
	checkRank(w, 2, op+" w")
	wd := w.Shape().Dimensions
	if x.Rank() < 1 || x.Shape().Dimensions[x.Rank()-1] != wd[0] {
		panicf("kernels.%s: want x [..., %d] for w %s, got %s", op, wd[0], w.Shape(), x.Shape())
	}
	return wd[0], wd[1]
}
