package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Conformance of the fast executors (executors.go) with stock SimpleGo: every op pattern they take over, on
// random shapes, starts, strides and values, must give bit-identical results (same bits, signed zeros and
// infinities included; any NaN matches any NaN), including sizes large enough to run in parallel.

func newFastEngine(t *testing.T) *Backend {
	t.Helper()
	b, err := NewEngine("")
	if err != nil {
		t.Fatal(err)
	}
	if !b.fastExec {
		t.Fatalf("fast executors not installed: %s", b.Label())
	}
	t.Cleanup(b.Finalize)
	return b
}

// runOn evaluates f on backend be with the given inputs and returns its flat float32 output.
func runOn(t *testing.T, be backends.Backend, f func(xs []*Node) *Node, inputs ...*tensors.Tensor) []float32 {
	t.Helper()
	exec, err := NewExec(be, func(xs []*Node) *Node { return f(xs) })
	if err != nil {
		t.Fatal(err)
	}
	args := make([]any, len(inputs))
	for i, x := range inputs {
		c, err := x.LocalClone()
		if err != nil {
			t.Fatal(err)
		}
		args[i] = c
	}
	outs, err := exec.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](outs[0])
}

func bitIdentical(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(g) && math.IsNaN(w) {
			continue // NaN payloads and signs depend on the operand order the compiler picks for x+y
		}
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: element %d = %v (%#x), stock SimpleGo %v (%#x)", what, i, got[i],
				math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

// specialValues sprinkles zeros of both signs, infinities and NaN into x.
func specialValues(rng *rand.Rand, x *tensors.Tensor) {
	tensors.MutableFlatData(x, func(v []float32) {
		for range max(1, len(v)/50) {
			v[rng.IntN(len(v))] = []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)),
				float32(math.Inf(-1)), float32(math.NaN())}[rng.IntN(5)]
		}
	})
}

func TestFastExecBinaryOps(t *testing.T) {
	fast, stock := newFastEngine(t), newStockSimpleGo(t)
	rng := rand.New(rand.NewPCG(7, 1))
	ops := map[string]func(a, b *Node) *Node{"Add": Add, "Sub": Sub, "Mul": Mul, "Div": Div, "Max": Max, "Min": Min}
	for _, dims := range [][]int{{3, 5}, {64, 24, 24, 16}, {2, 33, 17, 129}, {100003}} {
		for name, op := range ops {
			a, b := randTensor(rng, dims), randTensor(rng, dims)
			specialValues(rng, a)
			specialValues(rng, b)
			c := randTensor(rng, []int{})
			for _, tc := range []struct {
				what string
				f    func(xs []*Node) *Node
				in   []*tensors.Tensor
			}{
				{"same shape", func(xs []*Node) *Node { return op(xs[0], xs[1]) }, []*tensors.Tensor{a, b}},
				// An owned operand (the result of another op) may be reused as the output.
				{"owned lhs", func(xs []*Node) *Node { return op(Neg(xs[0]), xs[1]) }, []*tensors.Tensor{a, b}},
				{"owned rhs", func(xs []*Node) *Node { return op(xs[0], Abs(xs[1])) }, []*tensors.Tensor{a, b}},
				{"scalar rhs", func(xs []*Node) *Node { return op(xs[0], xs[1]) }, []*tensors.Tensor{a, c}},
			} {
				what := fmt.Sprintf("%s %s %v", name, tc.what, dims)
				before := fastExecRuns.Load()
				got := runOn(t, fast, tc.f, tc.in...)
				if a.Shape().Size() >= 2*parallelChunk && fastExecRuns.Load() == before {
					t.Fatalf("%s: the fast executor did not run", what)
				}
				bitIdentical(t, what, got, runOn(t, stock, tc.f, tc.in...))
			}
		}
	}
}

func TestFastExecReduceSum(t *testing.T) {
	fast, stock := newFastEngine(t), newStockSimpleGo(t)
	rng := rand.New(rand.NewPCG(7, 2))
	cases := []struct {
		dims []int
		axes []int
	}{
		{[]int{64, 24, 24, 48}, []int{0, 1, 2}}, // batch-norm statistics: columns
		{[]int{64, 24, 24, 48}, []int{3}},       // rows
		{[]int{64, 24, 24, 48}, []int{1, 2}},    // outer and inner kept
		{[]int{64, 24, 24, 48}, []int{0, 2}},    // not one block: stock SimpleGo
		{[]int{5, 7}, []int{0}},
		{[]int{5, 7}, []int{1}},
		{[]int{5, 7}, []int{0, 1}},
		{[]int{3, 1, 4, 200000}, []int{0, 1, 2}},
		{[]int{300000, 2}, []int{0}},
	}
	for _, tc := range cases {
		x := randTensor(rng, tc.dims)
		f := func(xs []*Node) *Node { return ReduceSum(xs[0], tc.axes...) }
		what := fmt.Sprintf("ReduceSum%v of %v", tc.axes, tc.dims)
		before := fastExecRuns.Load()
		got := runOn(t, fast, f, x)
		if _, _, _, block := reduceBlock(tc.dims, tc.axes); block && fastExecRuns.Load() == before {
			t.Fatalf("%s: the fast executor did not run", what)
		}
		bitIdentical(t, what, got, runOn(t, stock, f, x))
		specialValues(rng, x)
		bitIdentical(t, what+" with NaN/Inf", runOn(t, fast, f, x), runOn(t, stock, f, x))
	}
}

func TestFastExecSlice(t *testing.T) {
	fast, stock := newFastEngine(t), newStockSimpleGo(t)
	rng := rand.New(rand.NewPCG(7, 3))
	for trial := range 60 {
		rank := 1 + rng.IntN(4)
		dims := make([]int, rank)
		for i := range dims {
			dims[i] = 1 + rng.IntN(20)
		}
		if trial%10 == 0 {
			dims = []int{64, 50, 50, 24} // large enough for the parallel path
			rank = 4
		}
		specs := make([]SliceAxisSpec, rank)
		for a, d := range dims {
			start := rng.IntN(d)
			end := start + 1 + rng.IntN(d-start)
			stride := 1 + rng.IntN(3)
			specs[a] = AxisRange(start, end).Stride(stride)
		}
		x := randTensor(rng, dims)
		f := func(xs []*Node) *Node { return Slice(xs[0], specs...) }
		what := fmt.Sprintf("Slice of %v (trial %d)", dims, trial)
		before := fastExecRuns.Load()
		got := runOn(t, fast, f, x)
		if fastExecRuns.Load() == before {
			t.Fatalf("%s: the fast executor did not run", what)
		}
		bitIdentical(t, what, got, runOn(t, stock, f, x))
	}
}

// TestFastExecReferenceUntouched checks that a plain SimpleGo backend in the same process keeps its own executors:
// the conformance tests above would otherwise compare the fast executors with themselves.
func TestFastExecReferenceUntouched(t *testing.T) {
	_ = newFastEngine(t)
	stock := newStockSimpleGo(t)
	if isFast(stock.(*simplego.Backend)) {
		t.Fatal("a plain SimpleGo backend is on the fast executors' list")
	}
}

func TestFastExecBroadcastInDim(t *testing.T) {
	fast, stock := newFastEngine(t), newStockSimpleGo(t)
	rng := rand.New(rand.NewPCG(7, 4))
	cases := []struct {
		what string
		in   []int
		f    func(x *Node) *Node
	}{
		{"per-channel [C] to NHWC", []int{48}, func(x *Node) *Node {
			return ExpandAndBroadcast(x, []int{64, 24, 24, 48}, []int{0, 1, 2})
		}},
		{"[N,1,1,C] to NHWC", []int{64, 1, 1, 48}, func(x *Node) *Node { return BroadcastToDims(x, 64, 24, 24, 48) }},
		{"[N,1] to [N,K]", []int{300, 1}, func(x *Node) *Node { return BroadcastToDims(x, 300, 500) }},
		{"prefix", []int{7, 5}, func(x *Node) *Node { return BroadcastPrefix(x, 3, 2) }},
		{"middle kept", []int{9}, func(x *Node) *Node { return ExpandAndBroadcast(x, []int{4, 9, 5}, []int{0, 2}) }},
		{"scalar", []int{}, func(x *Node) *Node { return BroadcastToDims(x, 6, 7) }},
		{"size-1 axes", []int{1, 5, 1}, func(x *Node) *Node { return BroadcastToDims(x, 1, 5, 3) }},
	}
	for _, tc := range cases {
		x := randTensor(rng, tc.in)
		f := func(xs []*Node) *Node { return tc.f(xs[0]) }
		before := fastExecRuns.Load()
		got := runOn(t, fast, f, x)
		if x.Shape().Size() > 1 && fastExecRuns.Load() == before {
			t.Fatalf("%s: the fast executor did not run", tc.what)
		}
		bitIdentical(t, tc.what, got, runOn(t, stock, f, x))
	}
}

func TestFastExecConcatenate(t *testing.T) {
	fast, stock := newFastEngine(t), newStockSimpleGo(t)
	rng := rand.New(rand.NewPCG(7, 5))
	for _, tc := range []struct {
		dims [][]int
		axis int
	}{
		{[][]int{{64, 26, 1, 48}, {64, 26, 24, 48}, {64, 26, 1, 48}}, 2},
		{[][]int{{64, 1, 26, 48}, {64, 24, 26, 48}}, 1},
		{[][]int{{100000}, {30000}}, 0},
		{[][]int{{70000, 3}, {70000, 1}}, 1},
		{[][]int{{2, 3}, {2, 4}}, 1},
		{slices.Repeat([][]int{{4, 24, 24, 3}}, 9), 3}, // im2col's taps of an RGB image
	} {
		ins := make([]*tensors.Tensor, len(tc.dims))
		for i, d := range tc.dims {
			ins[i] = randTensor(rng, d)
		}
		f := func(xs []*Node) *Node { return Concatenate(xs, tc.axis) }
		what := fmt.Sprintf("Concatenate%v axis %d", tc.dims, tc.axis)
		before := fastExecRuns.Load()
		got := runOn(t, fast, f, ins...)
		if len(got) >= 2*parallelChunk && fastExecRuns.Load() == before {
			t.Fatalf("%s: the fast executor did not run", what)
		}
		bitIdentical(t, what, got, runOn(t, stock, f, ins...))
	}
}

func TestFastExecUnaryOps(t *testing.T) {
	fast, stock := newFastEngine(t), newStockSimpleGo(t)
	rng := rand.New(rand.NewPCG(7, 6))
	for _, dims := range [][]int{{3, 5}, {64, 24, 24, 16}} {
		x := randTensor(rng, dims)
		specialValues(rng, x)
		for name, op := range map[string]func(*Node) *Node{"Abs": Abs, "Neg": Neg, "Floor": Floor, "Sign": Sign} {
			for _, tc := range []struct {
				what string
				f    func(xs []*Node) *Node
			}{
				{"parameter", func(xs []*Node) *Node { return op(xs[0]) }},
				{"owned", func(xs []*Node) *Node { return op(MulScalar(xs[0], 2)) }},
			} {
				what := fmt.Sprintf("%s %s %v", name, tc.what, dims)
				before := fastExecRuns.Load()
				got := runOn(t, fast, tc.f, x)
				if x.Shape().Size() >= 2*parallelChunk && fastExecRuns.Load() == before {
					t.Fatalf("%s: the fast executor did not run", what)
				}
				bitIdentical(t, what, got, runOn(t, stock, tc.f, x))
			}
		}
	}
}

// TestVecKernelsMatchGo: the AVX elementwise kernels give the Go loops' bits on every length around the 8-lane
// width (the scalar tail), with NaN/Inf/±0 operands and z aliasing x (an owned input reused as the output).
func TestVecKernelsMatchGo(t *testing.T) {
	if !hasVec {
		t.Skip("no AVX2 on this machine")
	}
	rng := rand.New(rand.NewPCG(7, 14))
	for _, op := range []backends.OpType{backends.OpTypeAdd, backends.OpTypeSub, backends.OpTypeMul, backends.OpTypeDiv,
		backends.OpTypeMax, backends.OpTypeMin} {
		for _, scalar := range []bool{false, true} {
			noVec = true
			goKernel := binaryKernel(op, scalar)
			noVec = false
			vecKernel := binaryKernel(op, scalar)
			for n := range 40 {
				x, y := randTensor(rng, []int{n + 1}), randTensor(rng, []int{n + 1})
				specialValues(rng, x)
				specialValues(rng, y)
				xs, ys := tensors.MustCopyFlatData[float32](x), tensors.MustCopyFlatData[float32](y)
				if scalar { // the scalars where MAXPS/MINPS would differ from Go's max/min, and ordinary ones
					ys[0] = []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), 1, -1, ys[0]}[n%6]
				}
				want := make([]float32, n)
				goKernel(xs, ys, want, 0, n)
				got := make([]float32, n)
				vecKernel(xs, ys, got, 0, n)
				bitIdentical(t, fmt.Sprintf("%s n=%d scalar=%v", op, n, scalar), got, want)
				alias := append([]float32(nil), xs...)
				vecKernel(alias, ys, alias, 0, n)
				bitIdentical(t, fmt.Sprintf("%s n=%d scalar=%v aliased", op, n, scalar), alias[:n], want)
			}
		}
	}
}

// TestVecColSumAndMulAddMatchGo: the AVX column sum and multiply-add give the Go loops' bits (every tail length,
// NaN/Inf/±0).
func TestVecColSumAndMulAddMatchGo(t *testing.T) {
	if !hasVec {
		t.Skip("no AVX2 on this machine")
	}
	rng := rand.New(rand.NewPCG(7, 15))
	for n := 1; n < 40; n++ {
		rows, stride := 1+rng.IntN(9), n+rng.IntN(5)
		x := randTensor(rng, []int{rows * stride})
		specialValues(rng, x)
		xs := tensors.MustCopyFlatData[float32](x)
		want, got := make([]float32, n), make([]float32, n)
		for j := range rows {
			for i := range want {
				want[i] += xs[j*stride+i]
			}
		}
		vecColSum(got, xs[:(rows-1)*stride+n], stride, rows)
		bitIdentical(t, fmt.Sprintf("column sum n=%d rows=%d", n, rows), got, want)

		a, b := tensors.MustCopyFlatData[float32](randTensor(rng, []int{n})), xs[:n]
		z0 := tensors.MustCopyFlatData[float32](randTensor(rng, []int{n}))
		want, got = append([]float32(nil), z0...), append([]float32(nil), z0...)
		for i := range want {
			want[i] += a[i] * b[i]
		}
		vecMulAdd(got, a, b)
		bitIdentical(t, fmt.Sprintf("multiply-add n=%d", n), got, want)
	}
}

// TestVecAbsMatchesGo: the AVX Abs keeps -0 and NaN as they are, as the Go loop and SimpleGo do.
func TestVecAbsMatchesGo(t *testing.T) {
	if !hasVec {
		t.Skip("no AVX2 on this machine")
	}
	rng := rand.New(rand.NewPCG(7, 16))
	for n := range 40 {
		x := randTensor(rng, []int{n + 1})
		specialValues(rng, x)
		xs := tensors.MustCopyFlatData[float32](x)[:n]
		want, got := make([]float32, n), make([]float32, n)
		for i, v := range xs {
			if v < 0 {
				want[i] = -v
			} else {
				want[i] = v
			}
		}
		vecAbs(got, xs)
		for i := range want { // NaN too: no arithmetic touches it, so its bits must be kept
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("n=%d: |%v| = %v (%#x), Go %v (%#x)", n, xs[i], got[i], math.Float32bits(got[i]), want[i],
					math.Float32bits(want[i]))
			}
		}
	}
}

// TestFastExecInnerBroadcast: binary ops broadcasting along a middle or the last axis (one or both operands), as
// kernels.AddMatMul emits on this engine, are bit-identical to stock SimpleGo's iterator, small and parallel sizes.
func TestFastExecInnerBroadcast(t *testing.T) {
	fast, stock := newFastEngine(t), newStockSimpleGo(t)
	rng := rand.New(rand.NewPCG(7, 17))
	ops := map[string]func(a, b *Node) *Node{"Add": Add, "Sub": Sub, "Mul": Mul, "Div": Div, "Max": Max, "Min": Min}
	for _, tc := range []struct{ a, b []int }{
		{[]int{5, 1, 7}, []int{5, 3, 7}}, {[]int{5, 3, 7}, []int{5, 3, 1}}, {[]int{5, 3, 1}, []int{5, 3, 7}},
		{[]int{1, 3, 7}, []int{5, 1, 7}}, {[]int{5, 1, 1}, []int{1, 3, 1}}, {[]int{2, 1, 4, 9}, []int{2, 6, 4, 9}},
		{[]int{256, 1, 144}, []int{256, 24, 144}}, {[]int{256, 24, 144}, []int{256, 24, 1}},
	} {
		a, b := randTensor(rng, tc.a), randTensor(rng, tc.b)
		specialValues(rng, a)
		specialValues(rng, b)
		for name, op := range ops {
			f := func(xs []*Node) *Node { return op(xs[0], xs[1]) }
			what := fmt.Sprintf("%s %v, %v", name, tc.a, tc.b)
			before := broadcastRuns.Load()
			got := runOn(t, fast, f, a, b)
			if broadcastRuns.Load() == before {
				t.Fatalf("%s: the broadcast executor did not run", what)
			}
			bitIdentical(t, what, got, runOn(t, stock, f, a, b))
		}
	}
}

// TestVecMaxMinSignedZerosAndNaN: the vector max/min follow Go's rules lane by lane where MAXPS/MINPS alone would
// not: max(-0, +0) = +0 and min(-0, +0) = -0 in either order, and a NaN on either side gives NaN.
func TestVecMaxMinSignedZerosAndNaN(t *testing.T) {
	if !hasVec {
		t.Skip("no AVX2 on this machine")
	}
	nz, nan := float32(math.Copysign(0, -1)), float32(math.NaN())
	x := []float32{nz, 0, nz, 0, nan, 1, nan, nz, 3, -2, 0, nz, nan, 7, -7, 0}
	y := []float32{0, nz, nz, 0, 1, nan, nan, 5, 3, -3, 2, -1, 0, nan, nz, nz}
	for _, op := range []backends.OpType{backends.OpTypeMax, backends.OpTypeMin} {
		for _, scalar := range []bool{false, true} {
			noVec = true
			goKernel := binaryKernel(op, scalar)
			noVec = false
			vecKernel := binaryKernel(op, scalar)
			for _, c := range []float32{0, nz, nan, 1} {
				ys := y
				if scalar {
					ys = []float32{c}
				}
				want, got := make([]float32, len(x)), make([]float32, len(x))
				goKernel(x, ys, want, 0, len(x))
				vecKernel(x, ys, got, 0, len(x))
				bitIdentical(t, fmt.Sprintf("%s scalar=%v c=%v", op, scalar, c), got, want)
				if !scalar {
					break
				}
			}
		}
	}
}
