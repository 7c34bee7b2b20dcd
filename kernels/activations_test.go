package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
)

// activationCases pairs each custom-gradient activation with GoMLX's stock formulation (the one pkg/models used):
// stock gives the forward values, strict the gradient. strict is the stock formulation with zero as Max's first
// operand, whose gradient is v·[x > 0] at the lower bound (GoMLX's Max passes a tie's gradient to its first
// operand): the convention of PyTorch's relu/hardtanh backward that the custom gradients follow (see
// activations.go; stock and strict differ only at x = ±0).
var activationCases = []struct {
	name                  string
	custom, stock, strict func(x *Node) *Node
}{
	{"ReLU", ReLU, func(x *Node) *Node { return Max(x, ZerosLike(x)) }, strictReLU},
	{"ReLU6", ReLU6, func(x *Node) *Node { return ClipScalar(x, 0, 6) }, strictReLU6},
	{"HardSigmoid", HardSigmoid, func(x *Node) *Node { return DivScalar(ClipScalar(AddScalar(x, 3), 0, 6), 6) },
		func(x *Node) *Node { return DivScalar(strictReLU6(AddScalar(x, 3)), 6) }},
	{"HardSwish", HardSwish, func(x *Node) *Node { return Mul(x, DivScalar(ClipScalar(AddScalar(x, 3), 0, 6), 6)) },
		func(x *Node) *Node { return Mul(x, DivScalar(strictReLU6(AddScalar(x, 3)), 6)) }},
	// The comparison-based masks (used for dtypes other than float32/float64).
	{"ReLU/compare", func(x *Node) *Node {
		return clipVJP(x, func(t *Node) *Node { return MaxScalar(t, 0.0) },
			func(y *Node) *Node { return compareMask(y, false) })
	}, func(x *Node) *Node { return Max(x, ZerosLike(x)) }, strictReLU},
	{"ReLU6/compare", func(x *Node) *Node {
		return clipVJP(x, func(t *Node) *Node { return ClipScalar(t, 0, 6) },
			func(y *Node) *Node { return compareMask(y, true) })
	}, func(x *Node) *Node { return ClipScalar(x, 0, 6) }, strictReLU6},
}

func strictReLU(x *Node) *Node { return Max(ZerosLike(x), x) }

func strictReLU6(x *Node) *Node { return Min(Max(ZerosLike(x), x), AddScalar(ZerosLike(x), 6)) }

// activationInputs returns n values: the boundaries of every activation (±0, 6, ±3, the floats next to them),
// tiny and huge values, and uniform values in [-10, 10). The adjoint r takes both signs (so that v·0 = −0 shows up),
// and ±0.
func activationInputs(rng *rand.Rand, n int) (x, r []float64) {
	special := []float64{0, math.Copysign(0, -1), 6, -6, 3, -3, 1e-40, -1e-40, 1e30, -1e30, 5e-324, -5e-324,
		math.Inf(1), math.Inf(-1), float64(math.MaxFloat32), -float64(math.MaxFloat32), math.Nextafter(6, 0),
		math.Nextafter(6, 7), math.Nextafter(0, 1), math.Nextafter(0, -1),
		float64(math.Nextafter32(6, 0)), float64(math.Nextafter32(6, 7)),
		float64(math.Nextafter32(0, 1)), float64(math.Nextafter32(0, -1)),
		float64(math.Nextafter32(3, 4)), float64(math.Nextafter32(-3, -4)), float64(math.Nextafter32(-3, 0))}
	x = make([]float64, n)
	r = make([]float64, n)
	for i := range x {
		if i < 3*len(special) {
			x[i] = special[i%len(special)]
		} else {
			x[i] = -10 + 20*rng.Float64()
			if i%7 == 0 {
				x[i] = float64(rng.IntN(13) - 6) // integers: both boundaries of ReLU6 and of x+3 often
			}
		}
		r[i] = -1 + 2*rng.Float64()
		switch i % 11 {
		case 3:
			r[i] = 0
		case 4:
			r[i] = math.Copysign(0, -1)
		}
	}
	return x, r
}

// TestActivationsEqualStock checks that forward values of the custom-gradient activations are the stock
// formulation's bit for bit, and their gradients those of the stock formulation with the strict lower bound
// (float32 and float64, on SimpleGo and on the project's engine).
func TestActivationsEqualStock(t *testing.T) {
	eng, err := engine.NewEngine("")
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Finalize()
	rng := rand.New(rand.NewPCG(71, 72))
	xs, rs := activationInputs(rng, 2*3*5*7)
	for _, be := range []struct {
		name string
		b    backends.Backend
	}{{"simplego", testBackend()}, {"engine", eng}} {
		for _, f32 := range []bool{false, true} {
			x, r := arr{data: xs, dims: []int{2, 3, 5, 7}}, arr{data: rs, dims: []int{2, 3, 5, 7}}
			var xt, rt *tensors.Tensor
			if f32 {
				xt, rt = x.tensor32(), r.tensor32()
			} else {
				xt, rt = x.tensor(), r.tensor()
			}
			for _, c := range activationCases {
				run := func(f func(x *Node) *Node) []*tensors.Tensor {
					e, err := NewExec(be.b, func(x, r *Node) []*Node {
						y := f(x)
						return []*Node{y, Gradient(ReduceAllSum(Mul(y, r)), x)[0]}
					})
					if err != nil {
						t.Fatal(err)
					}
					defer e.Finalize()
					out, err := e.Exec(xt, rt)
					if err != nil {
						t.Fatal(err)
					}
					return out
				}
				got, want, strict := run(c.custom), run(c.stock), run(c.strict)
				for k, what := range []string{"value", "gradient"} {
					ref := want[k]
					if k == 1 {
						ref = strict[k]
					}
					g, w := bitsOf(got[k]), bitsOf(ref)
					for i := range w {
						if g[i] != w[i] {
							t.Errorf("%s %s float32=%v %s at x=%g (adjoint %g): got bits %#x, stock %#x",
								be.name, c.name, f32, what, xs[i], rs[i], g[i], w[i])
							break
						}
					}
				}
			}
		}
	}
}

// TestActivationGradientPasses checks that the custom ReLU6 gradient does what it says: the stock gradient runs
// Sign (4 per ReLU6), the custom one none.
func TestActivationGradientPasses(t *testing.T) {
	count := func(f func(x *Node) *Node) (signs int) {
		g := NewGraph(testBackend(), "count")
		defer g.Finalize()
		x := Parameter(g, "x", shapes.Make(dtypes.Float32, 2, 3))
		grad := Gradient(ReduceAllSum(f(x)), x)[0]
		// Walk the nodes the gradient needs.
		seen := map[*Node]bool{}
		var walk func(n *Node)
		walk = func(n *Node) {
			if seen[n] {
				return
			}
			seen[n] = true
			if n.Type() == NodeTypeSign {
				signs++
			}
			for _, in := range n.Inputs() {
				walk(in)
			}
		}
		walk(grad)
		return signs
	}
	if s := count(func(x *Node) *Node { return ClipScalar(x, 0, 6) }); s != 4 {
		t.Errorf("stock ReLU6 gradient: %d Sign ops, want 4 (has GoMLX's Max/Min gradient changed?)", s)
	}
	if s := count(ReLU6); s != 0 {
		t.Errorf("custom ReLU6 gradient: %d Sign ops, want 0", s)
	}
}

// bitsOf returns the bit patterns of a float32 or float64 tensor.
func bitsOf(t *tensors.Tensor) []uint64 {
	var b []uint64
	t.MustConstFlatData(func(flat any) {
		switch f := flat.(type) {
		case []float32:
			for _, v := range f {
				b = append(b, uint64(math.Float32bits(v)))
			}
		case []float64:
			for _, v := range f {
				b = append(b, math.Float64bits(v))
			}
		}
	})
	return b
}

// BenchmarkReLU6Gradient: forward and input gradient of ReLU6 on [64,48,48,48] float32 on the project's engine,
// GoMLX's stock formulation against the custom gradient:
//
//	go test -run XXX -bench ReLU6Gradient ./kernels/
func BenchmarkReLU6Gradient(b *testing.B) {
	eng, err := engine.NewEngine("")
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Finalize()
	rng := rand.New(rand.NewPCG(73, 74))
	x := randArr(rng, -4, 10, 64, 48, 48, 48).tensor32()
	v := randArr(rng, -1, 1, 64, 48, 48, 48).tensor32()
	for _, c := range activationCases[1:2] {
		for _, f := range []struct {
			name string
			fn   func(x *Node) *Node
		}{{"stock", c.stock}, {"custom", c.custom}} {
			b.Run(f.name, func(b *testing.B) {
				e := MustNewExec(eng, func(x, v *Node) []*Node {
					y := f.fn(x)
					return []*Node{y, Gradient(ReduceAllSum(Mul(y, v)), x)[0]}
				})
				defer e.Finalize()
				run := func() {
					for _, o := range e.MustExec(x, v) {
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
