package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
	"github.com/shiftaddaug/shiftaddaug/kernels"
)

// TestFusedTapGatherMatchesStock: kernels.Im2Col (a zero Pad, strided tap slices, one Concatenate) runs as one fused
// node on the engine with the values of the unfused ops on stock SimpleGo, bit for bit, for kernel sizes, strides,
// channel counts and odd sizes (taps reaching past the input); its gradient (kernels' col2im) is unchanged by the
// fusion; and slices of an unpadded tensor fuse too, while a Concatenate of slices that cut the channels does not.
func TestFusedTapGatherMatchesStock(t *testing.T) {
	fast, stock := newFastEngine(t), newStockSimpleGo(t)
	unfused, err := NewEngine(optNoFusedGather)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unfused.Finalize)
	rng := rand.New(rand.NewPCG(41, 42))
	for _, c := range []struct{ n, h, w, ch, k, s int }{
		{2, 9, 9, 3, 3, 2}, {3, 8, 7, 3, 3, 1}, {1, 12, 10, 5, 5, 2}, {2, 6, 6, 20, 3, 1}, {64, 24, 24, 3, 3, 2},
	} {
		x := randTensor(rng, []int{c.n, c.h, c.w, c.ch})
		what := fmt.Sprintf("%+v", c)
		im2col := func(xs []*Node) *Node { return kernels.Im2Col(xs[0], c.k, c.s) }
		before := tapGatherRuns.Load()
		got := runOn(t, fast, im2col, x)
		if tapGatherRuns.Load() == before {
			t.Fatalf("%s: the fused tap gather did not run", what)
		}
		bitIdentical(t, what+" patches", got, runOn(t, stock, im2col, x))
		bitIdentical(t, what+" patches (nofusedgather)", runOn(t, unfused, im2col, x), got)
		p := kernels.Im2Col(Parameter(NewGraph(fast, "shape"), "x", x.Shape()), c.k, c.s).Shape()
		v := randTensor(rng, p.Dimensions)
		grad := func(xs []*Node) *Node {
			return Gradient(ReduceAllSum(Mul(kernels.Im2Col(xs[0], c.k, c.s), xs[1])), xs[0])[0]
		}
		bitIdentical(t, what+" gradient", runOn(t, fast, grad, x, v), runOn(t, unfused, grad, x, v))
	}

	x := randTensor(rng, []int{2, 7, 6, 4})
	taps := func(channels int) func(xs []*Node) *Node {
		return func(xs []*Node) *Node {
			var parts []*Node
			for i := range 2 {
				for j := range 3 {
					parts = append(parts, Slice(xs[0], AxisRange(), AxisRange(i, i+5).Stride(2),
						AxisRange(j, j+4).Stride(1), AxisRange(0, channels)))
				}
			}
			return Concatenate(parts, 3)
		}
	}
	before := tapGatherRuns.Load()
	bitIdentical(t, "unpadded taps", runOn(t, fast, taps(4), x), runOn(t, stock, taps(4), x))
	if tapGatherRuns.Load() == before {
		t.Fatal("unpadded taps: the fused tap gather did not run")
	}
	before = tapGatherRuns.Load()
	bitIdentical(t, "taps of three channels", runOn(t, fast, taps(3), x), runOn(t, stock, taps(3), x))
	if tapGatherRuns.Load() != before {
		t.Fatal("taps that cut the channels were fused")
	}
}
