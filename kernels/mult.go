package kernels

import (
	"github.com/gomlx/gomlx/backends"
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
	var xp *Node
	if directDepthwise(x.Graph()) {
		// The project's engine fuses a Pad's zero edges, the tap slices and their concatenation into one pass
		// over x (kernels/engine/gatherexec.go). Plain SimpleGo has no Pad.
		edge := backends.PadAxis{Start: p, End: p}
		xp = Pad(x, ScalarZero(x.Graph(), x.DType()), backends.PadAxis{}, edge, edge)
	} else {
		xp = padHW(x, p, p, p, p)
	}
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
	if k == 1 && s == 1 {
		return FastContract(x, Reshape(w, cin, cout))
	}
	patches := Im2Col(x, k, s)
	pd := patches.Shape().Dimensions
	m := pd[0] * pd[1] * pd[2]
	y := FastMatMul(Reshape(patches, m, k*k*cin), Reshape(w, k*k*cin, cout))
	return Reshape(y, pd[0], pd[1], pd[2], cout)
}

// Depthwise is the multiplicative depthwise k×k convolution of x [N, H, W, C] with
// w [k, k, C] or [k, k, 1, C], "same" padding, stride opts.Stride. On a DirectDepthwiser backend
// (the project's engine) the fast formulation is three ConvGeneral ops (depthwiseConv); elsewhere it
// sums k² strided slices of the padded input times the per-channel tap weights, with a
// hand-written gradient (dX: at stride 1 the tap gradients placed back, at stride ≥ 2 a
// phase-wise correlation of the padded adjoint with the flipped taps; dW: per-tap reductions).
func Depthwise(x, w *Node, opts ConvOpts) *Node {
	k, c := depthwiseWeightDims(x, w, "Depthwise")
	s := opts.stride()
	if opts.Plain {
		p := k / 2
		return Convolve(x, Reshape(w, k, k, 1, c)).StridePerAxis(s, s).
			PaddingPerDim([][2]int{{p, p}, {p, p}}).DilationPerAxis(1, 1).FeatureGroupCount(c).Done()
	}
	if directDepthwise(x.Graph()) {
		return depthwiseConv(x, w, k, c, s)
	}
	return depthwiseTaps(x, w, k, s,
		func(tap, wt *Node) *Node { return Mul(tap, wt) },
		depthwiseGrad{
			dx: func(v, _, wt *Node) *Node { return Mul(v, wt) },
			dw: func(v, tap, _ *Node) *Node { return Mul(v, tap) },
		})
}

// depthwiseGrad is the hand-written gradient of a depthwise tap function f(tap, w_t), both terms elementwise on
// [N, ·, ·, C] with w_t broadcast from [C]:
//   - dx(v, xin, w_t) = v·∂f/∂tap, where v is the adjoint of the output that read input value xin through tap t (xin is
//     nil unless needX: the Mult depthwise's term does not depend on it);
//   - dw(v, tap, w_t) = v·∂f/∂w_t, summed over the batch and the output positions.
type depthwiseGrad struct {
	dx    func(v, xin, wt *Node) *Node
	needX bool
	dw    func(v, tap, wt *Node) *Node
}

// depthwiseTaps builds y = Σ_taps f(tap_t(x), w_t) for a per-channel tap function f with the
// gradient grad, both elementwise on [N, Ho, Wo, C] (w_t broadcast from [C]). Used by the Mult,
// Shift and Add depthwise convs.
func depthwiseTaps(x, w *Node, k, s int, f func(tap, wt *Node) *Node, grad depthwiseGrad) *Node {
	dims := x.Shape().Dimensions
	h, wd, c := dims[1], dims[2], dims[3]
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
	// Both gradients are built once per Gradient call (they share the tap windows of xp).
	var cachedV, dx, dw *Node
	build := func(v *Node) {
		if cachedV == v {
			return
		}
		cachedV = v
		dx = nil
		dws := make([]*Node, 0, k*k)
		t := 0
		for i := range k {
			for j := range k {
				tap, wt := tapSlice(xp, i, j, s, ho, wo), tapW(t)
				dws = append(dws, Reshape(ReduceSum(grad.dw(v, tap, wt), 0, 1, 2), 1, c))
				if s == 1 {
					// Stride 1: each tap's term placed into a zero-padded copy (see depthwiseDX for why).
					placed := placeTap(grad.dx(v, tap, wt), i, j, 1, hp, wp)
					if dx == nil {
						dx = placed
					} else {
						dx = Add(dx, placed)
					}
				}
				t++
			}
		}
		if s == 1 {
			dx = cropHW(dx, p, p, h, wd)
		} else {
			dx = depthwiseDX(v, xs, tapW, k, s, h, wd, grad)
		}
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

// depthwiseDX is the input gradient of a depthwise tap sum with stride s ≥ 2 and adjoint v [N, Ho, Wo, C]:
// input position r (per spatial axis) was read by tap i at output o with s·o + i − p = r, so
// dX[r] = Σ_i grad.dx(v[(r+p−i)/s], x[r], w_i) over the taps with (r+p−i) divisible by s: a correlation of the
// zero-padded adjoint with the flipped taps. The input splits into s×s phases (r ≡ φ mod s), each one correlation
// over the taps of its phase on an [N, ⌈H/s⌉, ⌈W/s⌉, C] grid; the phases are then interleaved (two Concatenates and
// a Reshape) and cropped to [N, H, W, C]. Cost: one pad of v, and k² Slices, terms and Adds at 1/s² of the input's
// size, instead of a zero-interleaved, padded [N, H+2p, W+2p, C] copy (4 Concatenates) and an Add per tap: dX alone
// of a 3×3 depthwise on [64,48,48,48] takes 51 ms instead of 124 ms.
//
// At stride 1 the same correlation (one phase, k² Slices of the full size) is slower than the placement it would
// replace (205 ms against 117 ms on that shape): SimpleGo's Slice copies element by element, its Concatenate with
// memmove. A one-Concatenate placement on a flattened grid (the term padded to the padded row width, placed at
// offset i·wp + j) took 107 ms, a gain lost in the noise of dX + dW (~430 ms, mostly the per-tap Slice and
// ReduceSum of dW), so stride 1 keeps the placement.
//
// Each input position sums its terms in the taps' row-major order, as the placement did (which added zeros for the
// taps that do not reach a position: x + 0 = x), so dX has its values, up to the sign of an exact zero.
func depthwiseDX(v, xs *Node, tapW func(t int) *Node, k, s, h, wd int, grad depthwiseGrad) *Node {
	vd := v.Shape().Dimensions
	n, ho, wo, c := vd[0], vd[1], vd[2], vd[3]
	p := k / 2
	qh, qw := (h+s-1)/s, (wd+s-1)/s
	rowTaps, top, bottom := phaseTaps(k, s, p, qh, ho)
	colTaps, left, right := phaseTaps(k, s, p, qw, wo)
	vp := padHW(v, top, bottom, left, right)
	vpd := vp.Shape().Dimensions
	var xq *Node // x zero-padded at the end to whole phases
	if grad.needX {
		xq = padHW(xs, 0, qh*s-h, 0, qw*s-wd)
	}
	phases := make([]*Node, 0, s*s) // row phase major
	for pr := range s {
		for pc := range s {
			var xin *Node
			if grad.needX {
				xin = xq
				if s > 1 {
					xin = Slice(xq, AxisRange(), AxisRange(pr, pr+s*(qh-1)+1).Stride(s),
						AxisRange(pc, pc+s*(qw-1)+1).Stride(s), AxisRange())
				}
			}
			var sum *Node
			for _, rt := range rowTaps[pr] { // taps in row-major order: rows ascending, then columns ascending
				for _, ct := range colTaps[pc] {
					r0, c0 := top+rt.off, left+ct.off
					vt := vp
					if r0 != 0 || c0 != 0 || qh != vpd[1] || qw != vpd[2] {
						vt = Slice(vp, AxisRange(), AxisRange(r0, r0+qh), AxisRange(c0, c0+qw), AxisRange())
					}
					term := grad.dx(vt, xin, tapW(rt.tap*k+ct.tap))
					if sum == nil {
						sum = term
					} else {
						sum = Add(sum, term)
					}
				}
			}
			if sum == nil { // no tap reaches this phase (k < s)
				sum = zerosDims(v, n, qh, qw, c)
			}
			phases = append(phases, sum)
		}
	}
	if s == 1 {
		return phases[0] // qh, qw == h, w
	}
	// Interleave: dX[s·q + pr, s·q' + pc] = phase(pr, pc)[q, q'].
	rows := make([]*Node, s)
	for pr := range s {
		cols := make([]*Node, s)
		for pc := range s {
			cols[pc] = Reshape(phases[pr*s+pc], n, qh, 1, qw, 1, c)
		}
		rows[pr] = Concatenate(cols, 4)
	}
	dx := Reshape(Concatenate(rows, 2), n, qh*s, qw*s, c)
	if qh*s != h || qw*s != wd {
		dx = cropHW(dx, 0, 0, h, wd)
	}
	return dx
}

// phaseTap is a kernel tap reaching an input phase: phase row q reads the adjoint at output row q + off.
type phaseTap struct{ tap, off int }

// phaseTaps lists, for each input phase φ ∈ [0, s) along one spatial axis (inputs r = s·q + φ, q ∈ [0, nq)), the
// taps i with (φ + p − i) divisible by s, in increasing i, with off = (φ + p − i)/s; and the zero padding of the
// adjoint (o outputs) that keeps every read q + off, q ∈ [0, nq), inside it.
func phaseTaps(k, s, p, nq, o int) (taps [][]phaseTap, before, after int) {
	taps = make([][]phaseTap, s)
	for phi := range s {
		for i := range k {
			d := phi + p - i
			if ((d%s)+s)%s != 0 {
				continue
			}
			off := d / s // exact
			taps[phi] = append(taps[phi], phaseTap{i, off})
			before = max(before, -off)
			after = max(after, nq-1+off-(o-1))
		}
	}
	return taps, before, after
}

// Linear is the multiplicative fully connected layer: x [..., Cin] · w [Cin, Cout].
func Linear(x, w *Node, opts ConvOpts) *Node {
	linearWeightDims(x, w, "Linear")
	if opts.Plain {
		return DotGeneral(x, []int{x.Rank() - 1}, nil, w, []int{0}, nil)
	}
	return FastContract(x, w)
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
