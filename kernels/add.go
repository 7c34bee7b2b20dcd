package kernels

import (
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
)

// DefaultAddEta is AdderNet's adaptive learning-rate factor η.
const DefaultAddEta = 0.2

// DefaultAddChunkElems bounds the size of the [rows, outChannels, K] difference tensors that
// the adder matmul materialises at a time (elements; 1M ≈ 4 MB in float32, cache-friendly).
const DefaultAddChunkElems = 1 << 20

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

// EtaOrDefault is η, AdderNet's 0.2 when unset.
func (o AddOpts) EtaOrDefault() float64 { return o.eta() }

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
// Memory: the [M, O, K] differences are never held at once. Rows and output channels are
// cut into chunks of at most chunkElems elements, each reduced right away; the backward
// pass recomputes them chunk by chunk (the W gradient is a matmul and needs no chunks).
// Each chunk takes a zero-valued scalar dependency on the previous chunk's result, so that
// a parallel executor (simplego's, which otherwise starts every ready op breadth-first)
// cannot hold all chunks' intermediates at the same time.
//
// Speed on simplego: a broadcasting binary op walks two index iterators per element;
// replicating the operands with Concatenate (memmove) and subtracting equal shapes is
// several times faster, so both operands are replicated to [rows, outChannels, K] (the
// replicated weight chunk is built once and shared by all row chunks).
func AddMatMul(p, w *Node, chunkElems int) *Node {
	if p.Rank() != 2 || w.Rank() != 2 || p.Shape().Dimensions[1] != w.Shape().Dimensions[0] {
		panicf("kernels.AddMatMul: want p [M,K] and w [K,O], got %s and %s", p.Shape(), w.Shape())
	}
	if fusedAdder(p) {
		return fusedAddMatMul(p, w)
	}
	if chunkElems <= 0 {
		chunkElems = DefaultAddChunkElems
	}
	m, k, o := p.Shape().Dimensions[0], p.Shape().Dimensions[1], w.Shape().Dimensions[1]
	oc := o
	if oc*k > chunkElems {
		oc = max(1, chunkElems/k)
	}
	mc := min(m, max(1, chunkElems/(oc*k)))
	ps, ws := StopGradient(p), StopGradient(w)
	wt := Transpose(ws, 0, 1) // [O, K]: K innermost, so the forward reduction is over the last axis
	type oChunk struct {
		o0, o1 int
		wRep   *Node // [mc, o1-o0, K]
	}
	var oChunks []oChunk
	for o0 := 0; o0 < o; o0 += oc {
		o1 := min(o, o0+oc)
		wc := Reshape(Slice(wt, AxisRange(o0, o1)), 1, o1-o0, k)
		oChunks = append(oChunks, oChunk{o0, o1, replicate(wc, mc, 0)})
	}
	wAt := func(c oChunk, rows int) *Node {
		if rows == mc {
			return c.wRep
		}
		return Slice(c.wRep, AxisRange(0, rows))
	}
	// pRows returns rows [m0, m1) of p, replicated to [m1-m0, o1-o0, K], after dep.
	pRows := func(m0, m1 int, dep *Node) *Node {
		pc := Slice(ps, AxisRange(m0, m1))
		if dep != nil {
			pc = Add(pc, dep)
		}
		return Reshape(pc, m1-m0, 1, k)
	}

	var yRows []*Node
	var dep *Node
	for m0 := 0; m0 < m; m0 += mc {
		m1 := min(m, m0+mc)
		pc := pRows(m0, m1, dep)
		var yCols []*Node
		for _, c := range oChunks {
			pRep := replicate(pc, c.o1-c.o0, 1)
			yc := Neg(ReduceSum(Abs(Sub(pRep, wAt(c, m1-m0))), 2))
			yCols = append(yCols, yc)
			pc = Reshape(Add(Reshape(pc, m1-m0, k), zeroDep(yc)), m1-m0, 1, k)
		}
		yr := concatOrOne(yCols, 1)
		yRows = append(yRows, yr)
		dep = zeroDep(yr)
	}
	y := concatOrOne(yRows, 0)

	return CustomVJP([]*Node{p, w}, y, func(i int, v *Node) *Node {
		if i == 1 {
			ptv := DotGeneral(ps, []int{0}, nil, v, []int{0}, nil)   // [K, O]
			return Sub(ptv, Mul(ws, Reshape(ReduceSum(v, 0), 1, o))) // − w[k,o]·Σ_m v[m,o]
		}
		var dRows []*Node
		var dep *Node
		for m0 := 0; m0 < m; m0 += mc {
			m1 := min(m, m0+mc)
			var acc *Node
			for _, c := range oChunks {
				pc := pRows(m0, m1, dep)
				h := ClipScalar(Sub(wAt(c, m1-m0), replicate(pc, c.o1-c.o0, 1)), -1, 1)
				vc := Slice(v, AxisRange(m0, m1), AxisRange(c.o0, c.o1))
				if dep != nil {
					vc = Add(vc, dep) // every per-chunk op must wait for the previous chunk
				}
				vc = BroadcastToDims(Reshape(vc, m1-m0, c.o1-c.o0, 1), m1-m0, c.o1-c.o0, k)
				d := ReduceSum(Mul(h, vc), 1) // [rows, K]
				if acc == nil {
					acc = d
				} else {
					acc = Add(acc, d)
				}
				dep = zeroDep(acc)
			}
			dRows = append(dRows, acc)
		}
		return concatOrOne(dRows, 0)
	})
}

// FusedAdderer is implemented by backends that run fusedAddMatMul's canonical formulation, whose [M, K, O]
// intermediates are never materialised, as direct adder kernels: the project's engine (kernels/engine) with its
// fast executors on. A backend that says so must recognise it: elsewhere it would hold M·K·O elements at once.
type FusedAdderer interface {
	FusedAdder() bool
}

func fusedAdder(p *Node) bool {
	f, ok := p.Graph().Backend().(FusedAdderer)
	return ok && f.FusedAdder() && p.DType() == dtypes.Float32
}

// fusedAddMatMul is AddMatMul in the canonical form a FusedAdderer turns into two direct kernels:
// y = −ReduceSum(|p[m,k,·] − w[·,k,o]|, k) and dp = ReduceSum(clip(w − p, −1, 1)·v[m,·,o], o), each written as a
// broadcast [M, K, O] expression; dw is the same matmul as in AddMatMul.
func fusedAddMatMul(p, w *Node) *Node {
	m, k, o := p.Shape().Dimensions[0], p.Shape().Dimensions[1], w.Shape().Dimensions[1]
	ps, ws := StopGradient(p), StopGradient(w)
	y := Neg(ReduceSum(Abs(Sub(Reshape(ps, m, k, 1), Reshape(ws, 1, k, o))), 1))
	return CustomVJP([]*Node{p, w}, y, func(i int, v *Node) *Node {
		if i == 1 {
			ptv := DotGeneral(ps, []int{0}, nil, v, []int{0}, nil)   // [K, O]
			return Sub(ptv, Mul(ws, Reshape(ReduceSum(v, 0), 1, o))) // − w[k,o]·Σ_m v[m,o]
		}
		h := ClipScalar(Sub(Reshape(ws, 1, k, o), Reshape(ps, m, k, 1)), -1, 1)
		return ReduceSum(Mul(h, Reshape(v, m, 1, o)), 2)
	})
}

// replicate concatenates n copies of x along axis (an axis of dimension 1): a memmove,
// much faster on simplego than a broadcasting binary op.
func replicate(x *Node, n, axis int) *Node {
	if n == 1 {
		return x
	}
	xs := make([]*Node, n)
	for i := range xs {
		xs[i] = x
	}
	return Concatenate(xs, axis)
}

// zeroDep returns a zero scalar that depends on x (0 × its first element): adding it to a
// later chunk's input orders the chunks without changing any value.
func zeroDep(x *Node) *Node {
	first := Reshape(Slice(x, AxisRange(0, 1), AxisRange(0, 1)))
	return Mul(first, ScalarZero(x.Graph(), x.DType()))
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
		depthwiseGrad{
			dx:    func(v, xin, wt *Node) *Node { return Mul(v, ClipScalar(Sub(wt, xin), -1, 1)) },
			needX: true,
			dw:    func(v, tap, wt *Node) *Node { return Mul(v, Sub(tap, wt)) },
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
