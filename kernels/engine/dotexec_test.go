package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph"
)

// TestFastExecDotGeneral: DotGeneral on package gemm against stock SimpleGo on random shapes, for every axes pattern
// it takes (contracting axes leading or trailing on each side, one or several of them) and some it leaves to
// SimpleGo (batch axes, interleaved contracting axes), within float32 tolerance: |Δ| ≤ 1e-5·√K·(Σ|products|).
func TestFastExecDotGeneral(t *testing.T) {
	fast, stock := newFastEngine(t), newStockSimpleGo(t)
	rng := rand.New(rand.NewPCG(7, 12))
	type tc struct {
		lhs, rhs       []int
		lc, lb, rc, rb []int
		fast           bool
	}
	cases := []tc{
		{[]int{64, 9, 9, 24}, []int{24, 144}, []int{3}, nil, []int{0}, nil, true},                   // 1×1 conv forward
		{[]int{64, 9, 9, 144}, []int{24, 144}, []int{3}, nil, []int{1}, nil, true},                  // its input gradient
		{[]int{64, 9, 9, 24}, []int{64, 9, 9, 144}, []int{0, 1, 2}, nil, []int{0, 1, 2}, nil, true}, // weight gradient
		{[]int{37, 5}, []int{7, 5}, []int{1}, nil, []int{1}, nil, true},
		{[]int{5, 37}, []int{5, 7}, []int{0}, nil, []int{0}, nil, true},
		{[]int{5, 37}, []int{7, 5}, []int{0}, nil, []int{1}, nil, true},
		{[]int{16, 56}, []int{16, 336}, []int{0}, nil, []int{0}, nil, true},
		{[]int{64, 32}, []int{64, 192}, []int{0}, nil, []int{0}, nil, true},
		{[]int{3, 4, 5, 6}, []int{5, 6, 7}, []int{2, 3}, nil, []int{0, 1}, nil, true},
		{[]int{300}, []int{300}, []int{0}, nil, []int{0}, nil, true},                    // a dot product
		{[]int{1000, 33}, []int{33}, []int{1}, nil, []int{0}, nil, true},                // matrix · vector
		{[]int{4, 6, 5}, []int{4, 5, 7}, []int{2}, []int{0}, []int{1}, []int{0}, false}, // batch axes
		{[]int{3, 4, 5}, []int{3, 5, 7}, []int{0, 2}, nil, []int{0, 1}, nil, false},     // interleaved
	}
	for _, c := range cases {
		x, y := randTensor(rng, c.lhs), randTensor(rng, c.rhs)
		f := func(xs []*Node) *Node { return DotGeneral(xs[0], c.lc, c.lb, xs[1], c.rc, c.rb) }
		what := fmt.Sprintf("%v·%v contracting %v,%v batch %v,%v", c.lhs, c.rhs, c.lc, c.rc, c.lb, c.rb)
		before := fastExecRuns.Load()
		got := runOn(t, fast, f, x, y)
		if ran := fastExecRuns.Load() != before; ran != c.fast {
			t.Fatalf("%s: fast executor ran = %v, want %v", what, ran, c.fast)
		}
		want := runOn(t, stock, f, x, y)
		// Bound: the same products summed by |.|, from the reference on |x|, |y|.
		bound := runOn(t, stock, func(xs []*Node) *Node {
			return DotGeneral(Abs(xs[0]), c.lc, c.lb, Abs(xs[1]), c.rc, c.rb)
		}, x, y)
		k := 1
		for _, a := range c.lc {
			k *= c.lhs[a]
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
		}
		for i := range want {
			if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*math.Sqrt(float64(k))*float64(bound[i])+1e-30 {
				t.Fatalf("%s: element %d = %v, stock SimpleGo %v (bound %v)", what, i, got[i], want[i], bound[i])
			}
		}
	}
}
