package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
)

// refAdder is an independent plain-Go adder layer: y = Σ_window pair(x, w) over the
// zero-padded input, and AdderNet's formula gradients for the adjoint v:
// dx = Σ v·clamp(w − x, −1, 1) (real input positions only), dw = Σ v·(x − w) (padded taps
// included, with x = 0). Linear layers are 1×1 convs on [M, 1, 1, Cin].
func refAdder(x, w arr, k, s int, depthwise bool, v *arr, pair func(x, w float64) float64) (y, dx, dw arr) {
	n, h, wd, cin := x.dims[0], x.dims[1], x.dims[2], x.dims[3]
	cout := cin
	if !depthwise {
		cout = w.dims[len(w.dims)-1]
	}
	p := k / 2
	ho, wo := outSize(h, k, s), outSize(wd, k, s)
	y = newArr(n, ho, wo, cout)
	dx, dw = newArr(x.dims...), newArr(w.dims...)
	xi := func(b, r, c, ch int) int { return ((b*h+r)*wd+c)*cin + ch }
	for b := range n {
		for oh := range ho {
			for ow := range wo {
				for o := range cout {
					yi := ((b*ho+oh)*wo+ow)*cout + o
					for i := range k {
						for j := range k {
							r, c := oh*s+i-p, ow*s+j-p
							in := r >= 0 && r < h && c >= 0 && c < wd
							chans := []int{o}
							if !depthwise {
								chans = chans[:0]
								for ch := range cin {
									chans = append(chans, ch)
								}
							}
							for _, ch := range chans {
								wi := (i*k+j)*cin + ch
								if !depthwise {
									wi = wi*cout + o
								}
								xv := 0.0
								if in {
									xv = x.data[xi(b, r, c, ch)]
								}
								wv := w.data[wi]
								y.data[yi] += pair(xv, wv)
								if v != nil {
									g := v.data[yi]
									if in {
										dx.data[xi(b, r, c, ch)] += g * math.Max(-1, math.Min(1, wv-xv))
									}
									dw.data[wi] += g * (xv - wv)
								}
							}
						}
					}
				}
			}
		}
	}
	return
}

func absPair(x, w float64) float64 { return -math.Abs(x - w) }

type addCase struct {
	name      string
	k, s      int
	x, w      arr
	depthwise bool
	linear    bool
	op        func(opts AddOpts) binOp
}

func addCases(rng *rand.Rand, lo, hi float64) []addCase {
	var cs []addCase
	for _, c := range convCases {
		s := c.s
		cs = append(cs,
			addCase{name: "conv", k: c.k, s: s, x: randArr(rng, lo, hi, c.n, c.h, c.w, c.cin),
				w: randArr(rng, lo, hi, c.k, c.k, c.cin, c.cout),
				op: func(o AddOpts) binOp {
					return func(x, w *Node) *Node { return AddConv(x, w, ConvOpts{Stride: s}, o) }
				}},
			addCase{name: "depthwise", k: c.k, s: s, depthwise: true, x: randArr(rng, lo, hi, c.n, c.h, c.w, c.cin),
				w: randArr(rng, lo, hi, c.k, c.k, c.cin),
				op: func(o AddOpts) binOp {
					return func(x, w *Node) *Node { return AddDepthwise(x, w, ConvOpts{Stride: s}, o) }
				}})
	}
	cs = append(cs, addCase{name: "linear", k: 1, s: 1, linear: true, x: randArr(rng, lo, hi, 5, 7),
		w: randArr(rng, lo, hi, 7, 3),
		op: func(o AddOpts) binOp {
			return func(x, w *Node) *Node { return AddLinear(x, w, ConvOpts{}, o) }
		}})
	return cs
}

func (c addCase) ref(v *arr, pair func(x, w float64) float64) (y, dx, dw arr) {
	x := c.x
	if c.linear {
		x = arr{data: c.x.data, dims: []int{c.x.dims[0], 1, 1, c.x.dims[1]}}
	}
	return refAdder(x, c.w, c.k, c.s, c.depthwise, v, pair)
}

// TestAddMatchesFormulas: forward and AdderNet backward (without the adaptive scaling)
// against the plain-Go reference, on random data spanning the HardTanh clamp, with small
// chunks so that the chunked path (rows and output channels) is exercised.
func TestAddMatchesFormulas(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, c := range addCases(rng, -2, 2) {
		for _, chunk := range []int{0, 7} {
			op := c.op(AddOpts{NoAdaptiveScale: true, ChunkElems: chunk})
			v := randArr(rng, -1, 1, forwardDims(t, op, c.x, c.w)...)
			wantY, wantDx, wantDw := c.ref(&v, absPair)
			gotY := forward(t, op, c.x, c.w)
			_, gotDx, gotDw := lossAndGrads(t, op, c.x, c.w, v)
			if d := maxAbsDiff(gotY, wantY.data); d > 1e-12 {
				t.Errorf("%s k%d s%d chunk %d: forward differs by %g", c.name, c.k, c.s, chunk, d)
			}
			if d := maxAbsDiff(gotDx, wantDx.data); d > 1e-12 {
				t.Errorf("%s k%d s%d chunk %d: dX differs by %g", c.name, c.k, c.s, chunk, d)
			}
			if d := maxAbsDiff(gotDw, wantDw.data); d > 1e-12 {
				t.Errorf("%s k%d s%d chunk %d: dW differs by %g", c.name, c.k, c.s, chunk, d)
			}
		}
	}
}

// TestAddGradientsFiniteDifference: where every |x − w| < 1 (inputs and weights in
// (−0.45, 0.45), padding included), HardTanh(w − x) = w − x and AdderNet's two gradients
// are exactly the gradients of the smooth surrogate Σ −½(x − w)² over the same windows. The
// analytic gradients of each Add operator are compared with central differences of that
// surrogate (evaluated by the plain-Go reference), in float64.
func TestAddGradientsFiniteDifference(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	sq := func(x, w float64) float64 { d := x - w; return -0.5 * d * d }
	for _, c := range addCases(rng, -0.45, 0.45) {
		op := c.op(AddOpts{NoAdaptiveScale: true, ChunkElems: 11})
		r := randArr(rng, -1, 1, forwardDims(t, op, c.x, c.w)...)
		_, dx, dw := lossAndGrads(t, op, c.x, c.w, r)
		loss := func(cc addCase) float64 {
			y, _, _ := cc.ref(nil, sq)
			l := 0.0
			for i, v := range y.data {
				l += v * r.data[i]
			}
			return l
		}
		const h = 1e-5
		for _, which := range []string{"dx", "dw"} {
			a, grad := c.x, dx
			if which == "dw" {
				a, grad = c.w, dw
			}
			for _, i := range rng.Perm(len(a.data))[:min(8, len(a.data))] {
				cp, cm := c, c
				ap, am := a.clone(), a.clone()
				ap.data[i] += h
				am.data[i] -= h
				if which == "dx" {
					cp.x, cm.x = ap, am
				} else {
					cp.w, cm.w = ap, am
				}
				fd := (loss(cp) - loss(cm)) / (2 * h)
				if math.Abs(fd-grad[i]) > 1e-7+1e-6*math.Abs(fd) {
					t.Errorf("%s k%d s%d %s[%d]: analytic %.10g, finite difference %.10g", c.name, c.k, c.s, which, i, grad[i], fd)
				}
			}
		}
	}
}

// TestAdaptiveGradScale: with the scaling on, ‖dW‖ = η·√k and dW is the raw gradient's
// direction; two calls (passes) on one weight are each normalised before being summed;
// a zero gradient stays zero (norm floored at 1e-12, no NaN).
func TestAdaptiveGradScale(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	for _, c := range addCases(rng, -2, 2)[:4] {
		v := randArr(rng, -1, 1, forwardDims(t, c.op(AddOpts{}), c.x, c.w)...)
		_, _, raw := lossAndGrads(t, c.op(AddOpts{NoAdaptiveScale: true}), c.x, c.w, v)
		for _, eta := range []float64{0, 0.05} {
			_, _, g := lossAndGrads(t, c.op(AddOpts{Eta: eta}), c.x, c.w, v)
			e := eta
			if e == 0 {
				e = DefaultAddEta
			}
			want := e * math.Sqrt(float64(len(g)))
			if n := norm(g); math.Abs(n-want) > 1e-9*want {
				t.Errorf("%s: ‖g‖ = %.12g, want η√k = %.12g", c.name, n, want)
			}
			scale := want / norm(raw)
			for i := range g {
				if math.Abs(g[i]-raw[i]*scale) > 1e-9 {
					t.Fatalf("%s: scaled gradient is not parallel to the raw one", c.name)
				}
			}
		}
	}
	// Two passes through the same weight: sum of separately normalised gradients.
	x1, x2 := randArr(rng, -1, 1, 4, 5), randArr(rng, -1, 1, 3, 5)
	w := randArr(rng, -1, 1, 5, 2)
	out := runGraph(t, func(in []*Node) []*Node {
		l1 := ReduceAllSum(AddLinear(in[0], in[2], ConvOpts{}, AddOpts{}))
		l2 := MulScalar(ReduceAllSum(AddLinear(in[1], in[2], ConvOpts{}, AddOpts{})), 3)
		return []*Node{Gradient(Add(l1, l2), in[2])[0], Gradient(l1, in[2])[0], Gradient(l2, in[2])[0]}
	}, x1, x2, w)
	want := 0.2 * math.Sqrt(10)
	if math.Abs(norm(out[1])-want) > 1e-9 || math.Abs(norm(out[2])-want) > 1e-9 {
		t.Errorf("per-pass norms %g %g, want %g", norm(out[1]), norm(out[2]), want)
	}
	for i := range out[0] {
		if math.Abs(out[0][i]-out[1][i]-out[2][i]) > 1e-12 {
			t.Fatalf("two-pass gradient is not the sum of the per-pass normalised gradients")
		}
	}
	// Zero adjoint: no NaN.
	z := runGraph(t, func(in []*Node) []*Node {
		l := MulScalar(ReduceAllSum(AddLinear(in[0], in[1], ConvOpts{}, AddOpts{})), 0)
		return Gradient(l, in[1])
	}, x1, w)
	for _, v := range z[0] {
		if v != 0 {
			t.Fatalf("zero gradient became %v", z[0])
		}
	}
}

func norm(g []float64) float64 {
	s := 0.0
	for _, v := range g {
		s += v * v
	}
	return math.Sqrt(s)
}
