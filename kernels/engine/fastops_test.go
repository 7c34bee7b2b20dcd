package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// The conformance suite for the ops this engine reformulates (fastops.go): each is run on random shapes and
// values on the engine and on stock SimpleGo, and the values and the gradients (graph.Gradient of a random
// weighting of the output) must agree.

func newStockSimpleGo(t *testing.T) backends.Backend {
	t.Helper()
	b, err := simplego.New("ops_sequential")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Finalize)
	return b
}

func randTensor(rng *rand.Rand, dims []int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
		if v[i] > -0.05 && v[i] < 0.05 {
			v[i] = 0.5 // keep divisors away from zero
		}
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

// valueAndGrads returns f(a, b) and d/da, d/db of Σ f(a, b)·r on backend be.
func valueAndGrads(t *testing.T, be backends.Backend, f func(a, b *Node) *Node, a, b, r *tensors.Tensor) [][]float32 {
	t.Helper()
	exec, err := NewExec(be, func(a, b, r *Node) []*Node {
		y := f(a, b)
		loss := ReduceAllSum(Mul(y, r))
		g := Gradient(loss, a, b)
		return []*Node{y, g[0], g[1]}
	})
	if err != nil {
		t.Fatal(err)
	}
	local := func(x *tensors.Tensor) *tensors.Tensor {
		c, err := x.LocalClone()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	outs, err := exec.Exec(local(a), local(b), local(r))
	if err != nil {
		t.Fatal(err)
	}
	res := make([][]float32, len(outs))
	for i, o := range outs {
		res[i] = tensors.MustCopyFlatData[float32](o)
	}
	return res
}

func closeF32(got, want []float32, tol float64) (int, bool) {
	if len(got) != len(want) {
		return -1, false
	}
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if d > tol*(1+math.Abs(float64(want[i]))) || math.IsNaN(float64(got[i])) != math.IsNaN(float64(want[i])) {
			return i, false
		}
	}
	return 0, true
}

// randBroadcastPair draws an output shape and two operand shapes that broadcast to it: equal, prefix-broadcast
// ([1,..,1,rest]), scalar-sized, or broadcast in the middle.
func randBroadcastPair(rng *rand.Rand) (out, da, db []int) {
	rank := 1 + rng.IntN(4)
	out = make([]int, rank)
	for i := range out {
		out[i] = 1 + rng.IntN(7)
	}
	variant := func() []int {
		d := append([]int(nil), out...)
		switch rng.IntN(4) {
		case 0: // equal
		case 1: // prefix broadcast
			k := 1 + rng.IntN(rank)
			for i := 0; i < k && i < rank; i++ {
				d[i] = 1
			}
		case 2: // single value
			for i := range d {
				d[i] = 1
			}
		case 3: // random axes
			for i := range d {
				if rng.IntN(2) == 0 {
					d[i] = 1
				}
			}
		}
		return d
	}
	da, db = variant(), variant()
	// The output is the elementwise max; make sure both operands broadcast to it.
	for i := range out {
		out[i] = max(da[i], db[i])
	}
	return
}

func TestFastBinaryOpsConform(t *testing.T) {
	eng, ref := newTestEngine(t), newStockSimpleGo(t)
	ops := map[string]func(a, b *Node) *Node{"Add": Add, "Mul": Mul, "Sub": Sub, "Div": Div, "Max": Max, "Min": Min}
	rng := rand.New(rand.NewPCG(7, 11))
	for trial := 0; trial < 12; trial++ {
		out, da, db := randBroadcastPair(rng)
		a, b, r := randTensor(rng, da), randTensor(rng, db), randTensor(rng, out)
		for name, op := range ops {
			t.Run(fmt.Sprintf("%s/%v_%v", name, da, db), func(t *testing.T) {
				got := valueAndGrads(t, eng, op, a, b, r)
				want := valueAndGrads(t, ref, op, a, b, r)
				for k, what := range []string{"value", "grad a", "grad b"} {
					if i, ok := closeF32(got[k], want[k], 1e-5); !ok {
						t.Errorf("%s %s differs from SimpleGo at %d: got %v, want %v", name, what, i, got[k], want[k])
					}
				}
			})
		}
	}
}

// BenchmarkFastOps compares the reformulated ops with stock SimpleGo on shapes of an mbv2-w0.35 step at res 96
// (go test ./kernels/engine -run XXX -bench FastOps).
func BenchmarkFastOps(b *testing.B) {
	eng, err := NewEngine("")
	if err != nil {
		b.Fatal(err)
	}
	ref, err := simplego.New("ops_sequential")
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := randTensor(rng, []int{64, 24, 24, 144})
	w := randTensor(rng, []int{1, 1, 1, 144})
	for _, c := range []struct {
		name string
		f    func(x, w *Node) *Node
	}{
		{"MulPerChannel", func(x, w *Node) *Node { return Mul(x, w) }},
		{"SubPerChannel", func(x, w *Node) *Node { return Sub(x, w) }},
		{"ReduceSumNHW", func(x, w *Node) *Node { return ReduceSum(x, 0, 1, 2) }},
	} {
		for _, be := range []struct {
			name string
			b    backends.Backend
		}{{"simplego", ref}, {"engine", eng}} {
			b.Run(c.name+"/"+be.name, func(b *testing.B) {
				exec := MustNewExec(be.b, c.f)
				xl, _ := x.LocalClone()
				wl, _ := w.LocalClone()
				exec.MustExec(xl, wl)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					exec.MustExec(xl, wl)
				}
			})
		}
	}
}

func TestNoFastOpsOption(t *testing.T) {
	b, err := NewEngine("nofastops,dotgeneral_small")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	if b.fastOps || b.Label() != Name+":dotgeneral_small,ops_parallel,parallelism=-1,nofastops" {
		t.Errorf("nofastops: fastOps=%v label %q", b.fastOps, b.Label())
	}
	if b2, err := NewEngine(""); err != nil || !b2.fastOps || b2.Label() != Name+":ops_parallel,parallelism=-1" {
		t.Errorf("default engine: err %v, label %q", err, b2.Label())
	}
	if b3, err := NewEngine("dotgeneral_large"); err != nil || b3.Label() != Name+":dotgeneral_large,ops_parallel,parallelism=-1" {
		t.Errorf("dotgeneral_large: err %v, label %q", err, b3.Label())
	}
}

func TestIdentityElisionConform(t *testing.T) {
	eng, ref := newTestEngine(t), newStockSimpleGo(t)
	rng := rand.New(rand.NewPCG(5, 9))
	x := randTensor(rng, []int{3, 4})
	for _, be := range []backends.Backend{eng, ref} {
		// The same value several times among the outputs, a parameter returned as is, custom gradients.
		exec, err := NewExec(be, func(x *Node) []*Node {
			sg := StopGradient(x)
			id := Identity(x)
			scaled := IdentityWithCustomGradient(MulScalar(x, 2), func(_, v *Node) *Node { return MulScalar(v, 3) })
			loss := ReduceAllSum(Mul(scaled, sg))
			return []*Node{x, sg, id, Identity(id), scaled, Gradient(loss, x)[0]}
		})
		if err != nil {
			t.Fatal(err)
		}
		xl, _ := x.LocalClone()
		outs, err := exec.Exec(xl)
		if err != nil {
			t.Fatalf("%s: %v", be.Name(), err)
		}
		want := tensors.MustCopyFlatData[float32](x)
		for i := 0; i < 4; i++ {
			if got := tensors.MustCopyFlatData[float32](outs[i]); !equalF32(got, want) {
				t.Errorf("%s: output %d = %v, want %v", be.Name(), i, got, want)
			}
		}
		grad := tensors.MustCopyFlatData[float32](outs[5])
		for i, v := range want {
			if g := grad[i]; math.Abs(float64(g-6*v)) > 1e-5 {
				t.Errorf("%s: gradient[%d] = %v, want %v (custom 3x through the 2x scale, times the stopped x)", be.Name(), i, g, 6*v)
				break
			}
		}
	}
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
