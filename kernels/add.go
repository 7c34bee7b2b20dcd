package kernels

import (
	"math"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
)

// DefaultAddEta is AdderNet's adaptive learning-rate factor η.
const DefaultAddEta = 0.2

// DefaultAddChunkElems bounds the size of the [rows, outChannels, K] difference tensors that
// the adder matmul materialises at a time (elements, 4M ≈ 16 MB in float32).
const DefaultAddChunkElems = 1 << 22

// AddOpts configures the Add (AdderNet) operators. The zero value is AdderNet's setting:
// η = 0.2 adaptive gradient scaling on the weight, applied per call.
type AddOpts struct {
	// Eta is η of the adaptive gradient scaling; 0 means 0.2.
	Eta float64
	// NoAdaptiveScale disables the adaptive gradient scaling (raw dW = Σ v·(X − W)).
	NoAdaptiveScale bool
	// ChunkElems bounds the elements of one chunk of the adder matmul; 0 means
	// DefaultAddChunkElems. Smaller chunks use less memory and more graph nodes.
	ChunkElems int
}

func (o AddOpts) eta() float64 {
	if o.Eta == 0 {
		return DefaultAddEta
	}
	return o.Eta
}

func (o AddOpts) chunk() int {
	if o.ChunkElems <= 0 {
		return DefaultAddChunkElems
	}
	return o.ChunkElems
}

// AdaptiveGradScale is the identity on w whose gradient g is rescaled to
// g·η·√k / max(‖g‖₂, 1e-12), k = numel(w) (AdderNet's adaptive learning rate). Put it on the
// weight node right before it enters an adder: it then acts on the gradient of that one call
// (pass) only, so with a target and an augmented pass each pass's gradient is normalised
// before they are summed into the shared parameter.
func AdaptiveGradScale(w *Node, eta float64) *Node {
	k := float64(w.Shape().Size())
	return IdentityWithCustomGradient(w, func(_, g *Node) *Node {
		norm := MaxScalar(Sqrt(ReduceAllSum(Mul(g, g))), 1e-12)
		return Mul(g, MulScalar(Inverse(norm), eta*math.Sqrt(k)))
	})
}

// AddMatMul is the adder analogue of a matmul: for p [M, K] and w [K, O],
// y[m, o] = −Σ_k |p[m, k] − w[k, o]|. Its gradient is AdderNet's: dp[m, k] =
// Σ_o v[m, o]·HardTanh(w[k, o] − p[m, k]) and dw[k, o] = Σ_m v[m, o]·(p[m, k] − w[k, o])
// = (pᵀv)[k, o] − w[k, o]·Σ_m v[m, o]. No adaptive scaling here (see AdaptiveGradScale).
//
// The [M, O, K] differences are never held at once: rows and output channels are cut into
// chunks of at most chunkElems elements, each reduced right away; the backward pass
// recomputes them chunk by chunk (the W gradient is a matmul and needs no chunks).
func AddMatMul(p, w *Node, chunkElems int) *Node {
	if p.Rank() != 2 || w.Rank() != 2 || p.Shape().Dimensions[1] != w.Shape().Dimensions[0] {
		panicf("kernels.AddMatMul: want p [M,K] and w [K,O], got %s and %s", p.Shape(), w.Shape())
	}
	if chunkElems <= 0 {
		chunkElems = DefaultAddChunkElems
	}
	m, k, o := p.Shape().Dimensions[0], p.Shape().Dimensions[1], w.Shape().Dimensions[1]
	oc := o
	if oc*k > chunkElems {
		oc = max(1, chunkElems/k)
	}
	mc := max(1, chunkElems/(oc*k))
	ps, ws := StopGradient(p), StopGradient(w)
	wt := Transpose(ws, 0, 1) // [O, K]: K innermost, so every reduction is over the last axis
	rows := func(x *Node, m0, m1 int) *Node { return Slice(x, AxisRange(m0, m1)) }
	wChunk := func(o0, o1 int) *Node { return Reshape(rows(wt, o0, o1), 1, o1-o0, k) }

	var yRows []*Node
	for m0 := 0; m0 < m; m0 += mc {
		m1 := min(m, m0+mc)
		pc := Reshape(rows(ps, m0, m1), m1-m0, 1, k)
		var yCols []*Node
		for o0 := 0; o0 < o; o0 += oc {
			o1 := min(o, o0+oc)
			yCols = append(yCols, Neg(ReduceSum(Abs(Sub(pc, wChunk(o0, o1))), 2)))
		}
		yRows = append(yRows, concatOrOne(yCols, 1))
	}
	y := concatOrOne(yRows, 0)

	return CustomVJP([]*Node{p, w}, y, func(i int, v *Node) *Node {
		if i == 1 {
			ptv := DotGeneral(ps, []int{0}, nil, v, []int{0}, nil)   // [K, O]
			return Sub(ptv, Mul(ws, Reshape(ReduceSum(v, 0), 1, o))) // − w[k,o]·Σ_m v[m,o]
		}
		var dRows []*Node
		for m0 := 0; m0 < m; m0 += mc {
			m1 := min(m, m0+mc)
			pc := Reshape(rows(ps, m0, m1), m1-m0, 1, k)
			var acc *Node
			for o0 := 0; o0 < o; o0 += oc {
				o1 := min(o, o0+oc)
				vc := Reshape(Slice(v, AxisRange(m0, m1), AxisRange(o0, o1)), m1-m0, o1-o0, 1)
				h := ClipScalar(Sub(wChunk(o0, o1), pc), -1, 1)
				d := ReduceSum(Mul(h, vc), 1) // [mc, K]
				if acc == nil {
					acc = d
				} else {
					acc = Add(acc, d)
				}
			}
			dRows = append(dRows, acc)
		}
		return concatOrOne(dRows, 0)
	})
}

func concatOrOne(xs []*Node, axis int) *Node {
	if len(xs) == 1 {
		return xs[0]
	}
	return Concatenate(xs, axis)
}

func (o AddOpts) weight(w *Node) *Node {
	if o.NoAdaptiveScale {
		return w
	}
	return AdaptiveGradScale(w, o.eta())
}

// AddConv is the AdderNet k×k convolution of x [N, H, W, Cin] with w [k, k, Cin, Cout]:
// y = −Σ_window |x − w| with "same" zero padding taking part (a padded tap contributes
// −|w|), stride opts.Stride. Gradients: dX = Σ_o v·HardTanh(W − X), dW = Σ v·(X − W),
// then scaled by AdaptiveGradScale unless aopts.NoAdaptiveScale. Built as Im2Col followed by
// the chunked AddMatMul. opts.Plain is ignored (there is no plain GoMLX formulation).
func AddConv(x, w *Node, opts ConvOpts, aopts AddOpts) *Node {
	k, cin, cout := convWeightDims(x, w, "AddConv")
	w = aopts.weight(w)
	patches := Im2Col(x, k, opts.stride())
	pd := patches.Shape().Dimensions
	y := AddMatMul(Reshape(patches, pd[0]*pd[1]*pd[2], k*k*cin), Reshape(w, k*k*cin, cout), aopts.chunk())
	return Reshape(y, pd[0], pd[1], pd[2], cout)
}

// AddDepthwise is the AdderNet depthwise convolution (w [k,k,C] or [k,k,1,C]):
// y[n,h,w,c] = −Σ_taps |x_tap − w_tap,c|, zero padding taking part, with AdderNet's
// gradients and the adaptive scaling on w.
func AddDepthwise(x, w *Node, opts ConvOpts, aopts AddOpts) *Node {
	k, _ := depthwiseWeightDims(x, w, "AddDepthwise")
	w = aopts.weight(w)
	return depthwiseTaps(x, w, k, opts.stride(),
		func(tap, wt *Node) *Node { return Neg(Abs(Sub(tap, wt))) },
		func(v, tap, wt *Node) (dTap, dW *Node) {
			return Mul(v, ClipScalar(Sub(wt, tap), -1, 1)), Mul(v, Sub(tap, wt))
		})
}

// AddLinear is the AdderNet fully connected layer: y[..., o] = −Σ_c |x[..., c] − w[c, o]|.
func AddLinear(x, w *Node, opts ConvOpts, aopts AddOpts) *Node {
	cin, cout := linearWeightDims(x, w, "AddLinear")
	_ = opts
	w = aopts.weight(w)
	lead := x.Shape().Dimensions[:x.Rank()-1]
	y := AddMatMul(Reshape(x, x.Shape().Size()/cin, cin), w, aopts.chunk())
	return Reshape(y, append(append([]int(nil), lead...), cout)...)
}
