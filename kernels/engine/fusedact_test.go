package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/shiftaddaug/shiftaddaug/kernels"
)

// TestFusedActivationsMatchStock: ReLU and ReLU6 (kernels' activations: ClipScalar forward, the comparison mask
// times the adjoint backward) run as fused nodes on the engine and give SimpleGo's values bit for bit, forward and
// gradient, on values at and around both bounds, signed zeros, infinities, odd lengths (the Go tail of the vector
// kernels) and sizes that run in parallel.
func TestFusedActivationsMatchStock(t *testing.T) {
	fast, stock := newFastEngine(t), newStockSimpleGo(t)
	rng := rand.New(rand.NewPCG(21, 22))
	special := []float32{0, float32(math.Copysign(0, -1)), 6, -6, 5.9999995, 6.0000005, 1e-45, -1e-45,
		float32(math.Inf(1)), float32(math.Inf(-1)), 3, -0.5}
	acts := map[string]func(*Node) *Node{"ReLU": kernels.ReLU, "ReLU6": kernels.ReLU6,
		"HardSwish": kernels.HardSwish}
	for _, name := range []string{"ReLU", "ReLU6", "HardSwish"} {
		act := acts[name]
		for _, dims := range [][]int{{7, 5}, {3, 11, 13, 9}, {64, 24, 24, 8}} {
			x, v := randTensor(rng, dims), randTensor(rng, dims)
			tensors.MutableFlatData(x, func(flat []float32) {
				for i := range flat {
					flat[i] *= 8
					if rng.IntN(4) == 0 {
						flat[i] = special[rng.IntN(len(special))]
					}
				}
			})
			tensors.MutableFlatData(v, func(flat []float32) {
				for i := range flat {
					if rng.IntN(50) == 0 {
						flat[i] = special[rng.IntN(len(special))]
					}
				}
			})
			what := fmt.Sprintf("%s %v", name, dims)
			forward := func(xs []*Node) *Node { return act(xs[0]) }
			grad := func(xs []*Node) *Node {
				return Gradient(ReduceAllSum(Mul(act(xs[0]), xs[1])), xs[0])[0]
			}
			clips, masks := fusedActRuns[0].Load(), fusedActRuns[1].Load()
			bitIdentical(t, what+" forward", runOn(t, fast, forward, x), runOn(t, stock, forward, x))
			bitIdentical(t, what+" gradient", runOn(t, fast, grad, x, v), runOn(t, stock, grad, x, v))
			if fusedActRuns[1].Load() == masks || (name != "ReLU" && fusedActRuns[0].Load() == clips) {
				t.Fatalf("%s: fused nodes did not run (clips %d, masked gradients %d)", what,
					fusedActRuns[0].Load()-clips, fusedActRuns[1].Load()-masks)
			}
		}
	}
}

// TestFusedQuantizedClipMatchesStock: kernels.ShiftActivation (DeepShift's fixed-point rounding with its
// straight-through gradient) runs its Mul, Floor, Div and clip as one fused node on the engine, with SimpleGo's
// values bit for bit, forward and gradient, on values at the rounding steps, the clamp bounds, signed zeros,
// infinities and NaN, odd lengths and sizes that run in parallel, with the AVX kernel and with the Go loop alone.
func TestFusedQuantizedClipMatchesStock(t *testing.T) {
	fast, stock := newFastEngine(t), newStockSimpleGo(t)
	rng := rand.New(rand.NewPCG(23, 24))
	special := []float32{0, float32(math.Copysign(0, -1)), 0x1p-16, -0x1p-16, 0x1p-17, -0x1p-17, 1.5e-5, -1.5e-5,
		32767, 32767.99, 32768, -32768, -32768.01, 1e30, -1e30, float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN())}
	defer func() { noVec = false }()
	for k, dims := range [][]int{{7, 5}, {3, 11, 13, 9}, {64, 24, 24, 8}, {3, 11, 13, 9}} {
		noVec = k == 3 // the Go loop alone
		x, v := randTensor(rng, dims), randTensor(rng, dims)
		tensors.MutableFlatData(x, func(flat []float32) {
			for i := range flat {
				if rng.IntN(4) == 0 {
					flat[i] = special[rng.IntN(len(special))]
				}
			}
			flat[0] = 0.75 // the divisor's tie reads the first element: keep it finite
		})
		what := fmt.Sprintf("ShiftActivation %v (vector kernels off: %v)", dims, noVec)
		forward := func(xs []*Node) *Node { return kernels.ShiftActivation(xs[0], 16) }
		grad := func(xs []*Node) *Node {
			return Gradient(ReduceAllSum(Mul(kernels.ShiftActivation(xs[0], 16), xs[1])), xs[0])[0]
		}
		quants := fusedActRuns[2].Load()
		bitIdentical(t, what+" forward", runOn(t, fast, forward, x), runOn(t, stock, forward, x))
		bitIdentical(t, what+" gradient", runOn(t, fast, grad, x, v), runOn(t, stock, grad, x, v))
		if fusedActRuns[2].Load() == quants {
			t.Fatalf("%s: the quantised clip was not fused", what)
		}
	}
}

// TestFusedShiftWeightMatchesStock: kernels.QuantizeShiftWeight's binary lifting (and ShiftWeight's
// straight-through gradient) runs as one fused node per step on the engine, with SimpleGo's values bit for bit, at
// every weight width (1 bit: no lifting step), on values at and beside every rounding threshold √2·2^p, powers
// of two, the clamp bounds, signed zeros, subnormals, infinities and NaN, odd lengths and sizes that run in
// parallel, with the AVX kernel and with the Go loop alone.
func TestFusedShiftWeightMatchesStock(t *testing.T) {
	fast, stock := newFastEngine(t), newStockSimpleGo(t)
	rng := rand.New(rand.NewPCG(25, 26))
	special := []float32{0, float32(math.Copysign(0, -1)), 1e-45, -1e-45, 1, -1, 2, 1e30, -1e30,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	for p := -20; p <= 2; p++ {
		th := float32(math.Ldexp(math.Sqrt2, p))
		pw := float32(math.Ldexp(1, p))
		special = append(special, th, -th, math.Nextafter32(th, 0), math.Nextafter32(th, 10), pw, -pw)
	}
	defer func() { noVec = false }()
	for _, bits := range []int{1, 2, 4, 5, 8} {
		for j, dims := range [][]int{{7, 5}, {3, 3, 13, 9}, {3, 3, 96, 384}, {7, 5}} {
			noVec = j == 3 // the Go loop alone
			w, v := randTensor(rng, dims), randTensor(rng, dims)
			tensors.MutableFlatData(w, func(flat []float32) {
				for i := range flat {
					flat[i] *= float32(math.Ldexp(1, -rng.IntN(12)))
					if rng.IntN(3) == 0 {
						flat[i] = special[rng.IntN(len(special))]
					}
				}
			})
			what := fmt.Sprintf("ShiftWeight %d bits %v (vector kernels off: %v)", bits, dims, noVec)
			forward := func(xs []*Node) *Node { return kernels.QuantizeShiftWeight(xs[0], bits) }
			grad := func(xs []*Node) *Node {
				return Gradient(ReduceAllSum(Mul(kernels.ShiftWeight(xs[0], bits), xs[1])), xs[0])[0]
			}
			lifts := shiftLiftRuns.Load()
			bitIdentical(t, what+" forward", runOn(t, fast, forward, w), runOn(t, stock, forward, w))
			bitIdentical(t, what+" gradient", runOn(t, fast, grad, w, v), runOn(t, stock, grad, w, v))
			if ran := shiftLiftRuns.Load() - lifts; (bits > 1) != (ran > 0) {
				t.Fatalf("%s: %d fused lifting nodes ran", what, ran)
			}
		}
	}
}
