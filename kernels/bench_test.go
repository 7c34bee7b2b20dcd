package kernels

import (
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
)

// Benchmarks: forward + backward (gradients with respect to input and weight) of each
// operator at a tiny-net shape, float32, simplego: batch 64, 32×32, 48 channels (linear:
// 64 pooled 48-feature rows to 100 classes). Run with
//
//	go test -run XXX -bench . -benchtime 3x ./kernels/
//
// (the 3×3 AddConv takes tens of seconds per op).

func benchOp(b *testing.B, op binOp, xDims, wDims []int) {
	rng := rand.New(rand.NewPCG(51, 52))
	x := randArr(rng, -1, 1, xDims...).tensor32()
	w := randArr(rng, -1, 1, wDims...).tensor32()
	e := MustNewExec(testBackend(), func(x, w *Node) []*Node {
		l := ReduceAllSum(op(x, w))
		return append([]*Node{l}, Gradient(l, x, w)...)
	})
	defer e.Finalize()
	run := func() {
		out, err := e.Exec(x, w)
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range out {
			o.FinalizeAll()
		}
	}
	run() // compile
	b.ResetTimer()
	for range b.N {
		run()
	}
}

var (
	benchX      = []int{64, 32, 32, 48}
	benchConv3  = []int{3, 3, 48, 48}
	benchConv1  = []int{1, 1, 48, 48}
	benchDW     = []int{3, 3, 48}
	benchLinX   = []int{64, 48}
	benchLinW   = []int{48, 100}
	benchStride = ConvOpts{Stride: 1}
)

func BenchmarkMultConv3x3(b *testing.B) {
	benchOp(b, func(x, w *Node) *Node { return Conv(x, w, benchStride) }, benchX, benchConv3)
}

func BenchmarkMultConv1x1(b *testing.B) {
	benchOp(b, func(x, w *Node) *Node { return Conv(x, w, benchStride) }, benchX, benchConv1)
}

func BenchmarkMultDepthwise3x3(b *testing.B) {
	benchOp(b, func(x, w *Node) *Node { return Depthwise(x, w, benchStride) }, benchX, benchDW)
}

func BenchmarkMultLinear(b *testing.B) {
	benchOp(b, func(x, w *Node) *Node { return Linear(x, w, benchStride) }, benchLinX, benchLinW)
}

func BenchmarkShiftConv3x3(b *testing.B) {
	benchOp(b, func(x, w *Node) *Node { return ShiftConv(x, w, benchStride, ShiftOpts{}) }, benchX, benchConv3)
}

func BenchmarkShiftConv1x1(b *testing.B) {
	benchOp(b, func(x, w *Node) *Node { return ShiftConv(x, w, benchStride, ShiftOpts{}) }, benchX, benchConv1)
}

func BenchmarkShiftDepthwise3x3(b *testing.B) {
	benchOp(b, func(x, w *Node) *Node { return ShiftDepthwise(x, w, benchStride, ShiftOpts{}) }, benchX, benchDW)
}

func BenchmarkShiftLinear(b *testing.B) {
	benchOp(b, func(x, w *Node) *Node { return ShiftLinear(x, w, benchStride, ShiftOpts{}) }, benchLinX, benchLinW)
}

func BenchmarkAddConv3x3(b *testing.B) {
	benchOp(b, func(x, w *Node) *Node { return AddConv(x, w, benchStride, AddOpts{}) }, benchX, benchConv3)
}

func BenchmarkAddConv1x1(b *testing.B) {
	benchOp(b, func(x, w *Node) *Node { return AddConv(x, w, benchStride, AddOpts{}) }, benchX, benchConv1)
}

func BenchmarkAddDepthwise3x3(b *testing.B) {
	benchOp(b, func(x, w *Node) *Node { return AddDepthwise(x, w, benchStride, AddOpts{}) }, benchX, benchDW)
}

func BenchmarkAddLinear(b *testing.B) {
	benchOp(b, func(x, w *Node) *Node { return AddLinear(x, w, benchStride, AddOpts{}) }, benchLinX, benchLinW)
}
