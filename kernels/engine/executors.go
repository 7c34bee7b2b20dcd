package engine

import (
	"fmt"
	"math"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe" // go:linkname and the layout mirrors below

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Faster executors for a few SimpleGo ops, installed into SimpleGo's own executor table.
//
// fastops.go can only compose SimpleGo ops, and SimpleGo v0.26.0 runs most of them on one core, several with a
// multi-axis index iterator per element: ReduceSum (batch-norm statistics, per-channel weight gradients), Slice
// (depthwise taps, im2col), BroadcastInDim and the elementwise ops were ~30% of a res-96 training step (BENCH.md).
// Installed here: elementwise Add/Sub/Mul/Div/Max/Min/Abs/Neg, ReduceSum over one block of axes, Slice,
// BroadcastInDim, Concatenate, depthwise ConvGeneral (convexec.go) and DotGeneral (dotexec.go, on package gemm).
// SimpleGo keeps its executors in a package-level table (nodeExecutors, with a "priorityUser" level meant for
// overrides) but exports no way to set it, so this file reaches it with go:linkname, and reads Node and Buffer fields
// through mirror structs.
//
// Safety: the mirrors are checked field by field (name, type, offset) against SimpleGo's types with reflect when the
// first engine is created; on any mismatch (a different GoMLX version) nothing is installed and everything runs on stock
// SimpleGo. Each installed executor calls the stock one unless its backend is one this engine created with fast ops
// on (so a plain SimpleGo backend in the same process, the conformance tests' reference, is untouched) and the op
// is float32 (depthwise convs: or float64) in a pattern handled here. The results are bit-identical to SimpleGo's,
// except DotGeneral's and the depthwise filter gradient's: elementwise ops compute the same per-element
// expressions, and each reduced element sums its terms in SimpleGo's order (increasing operand index). The matrix
// product cannot keep SimpleGo's order and be fast (it vectorises with FMA), and SimpleGo's depthwise filter gradient
// is wrong; both are compared with their references within float tolerance (dotexec_test.go, convexec_test.go).

//go:linkname simplegoNodeExecutors github.com/gomlx/gomlx/backends/simplego.nodeExecutors
var simplegoNodeExecutors [backends.OpTypeLast]nodeExecutor

//go:linkname simplegoGetBufferForShape github.com/gomlx/gomlx/backends/simplego.(*Backend).getBufferForShape
func simplegoGetBufferForShape(b *simplego.Backend, shape shapes.Shape) *simplego.Buffer

//go:linkname simplegoGetBufferPool github.com/gomlx/gomlx/backends/simplego.(*Backend).getBufferPool
func simplegoGetBufferPool(b *simplego.Backend, dtype dtypes.DType, length int) *sync.Pool

// nodeExecutor is SimpleGo's executor signature (simplego.nodeExecutor).
type nodeExecutor func(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer,
	inputsOwned []bool) (*simplego.Buffer, error)

// bufferLayout mirrors simplego.Buffer.
type bufferLayout struct {
	shape shapes.Shape
	valid bool
	flat  any
}

// nodeLayout mirrors simplego.Node.
type nodeLayout struct {
	builderIdx         int
	inputs             []*simplego.Node
	opType             backends.OpType
	shape              shapes.Shape
	builder            *simplego.Builder
	multiOutputsShapes []shapes.Shape
	multiOutputsNodes  []*simplego.Node
	isNodeSelectOutput bool
	selectOutputIdx    int
	data               any
}

// sliceLayout mirrors simplego.sliceNode, the data of a Slice node.
type sliceLayout struct {
	starts, limits, strides []int
}

func bufferOf(b *simplego.Buffer) *bufferLayout { return (*bufferLayout)(unsafe.Pointer(b)) }
func nodeOf(n *simplego.Node) *nodeLayout       { return (*nodeLayout)(unsafe.Pointer(n)) }

// sameLayout reports whether struct types a and b have the same fields (names, types, offsets) and size.
func sameLayout(a, b reflect.Type) error {
	if a.NumField() != b.NumField() || a.Size() != b.Size() {
		return fmt.Errorf("%s: %d fields, %d bytes; mirror %s: %d fields, %d bytes", a, a.NumField(), a.Size(),
			b, b.NumField(), b.Size())
	}
	for i := range a.NumField() {
		fa, fb := a.Field(i), b.Field(i)
		if fa.Name != fb.Name || fa.Offset != fb.Offset || fa.Type.String() != fb.Type.String() {
			return fmt.Errorf("%s.%s (%s at %d) does not match mirror %s (%s at %d)", a, fa.Name, fa.Type, fa.Offset,
				fb.Name, fb.Type, fb.Offset)
		}
	}
	return nil
}

var (
	// fastExecErr says why the executors could not be installed (nil when they are).
	fastExecErr error
	// fastBackends are the SimpleGo backends created by NewEngine with fast executors on.
	fastBackends sync.Map // *simplego.Backend -> fastFlags
	installOnce  sync.Once
)

// sliceNodeType is the dynamic type of a Slice node's data, learnt from a probe graph.
var sliceNodeType reflect.Type

// installFastExecutors checks the layouts and installs the executors, once per process.
func installFastExecutors() error {
	installOnce.Do(func() {
		if err := sameLayout(reflect.TypeFor[simplego.Buffer](), reflect.TypeFor[bufferLayout]()); err != nil {
			fastExecErr = err
			return
		}
		if err := sameLayout(reflect.TypeFor[simplego.Node](), reflect.TypeFor[nodeLayout]()); err != nil {
			fastExecErr = err
			return
		}
		if err := probeSliceData(); err != nil {
			fastExecErr = err
			return
		}
		if err := probeConvData(); err != nil {
			fastExecErr = err
			return
		}
		if err := probeDotData(); err != nil {
			fastExecErr = err
			return
		}
		for _, op := range []backends.OpType{backends.OpTypeAdd, backends.OpTypeSub, backends.OpTypeMul,
			backends.OpTypeDiv, backends.OpTypeMax, backends.OpTypeMin} {
			stock := simplegoNodeExecutors[op]
			if stock == nil {
				fastExecErr = fmt.Errorf("SimpleGo has no executor for %s", op)
				return
			}
			simplegoNodeExecutors[op] = binaryExecutor(op, stock)
		}
		simplegoNodeExecutors[backends.OpTypeReduceSum] = reduceSumExecutor(simplegoNodeExecutors[backends.OpTypeReduceSum])
		simplegoNodeExecutors[backends.OpTypeSlice] = sliceExecutor(simplegoNodeExecutors[backends.OpTypeSlice])
		simplegoNodeExecutors[backends.OpTypeBroadcastInDim] = broadcastInDimExecutor(
			simplegoNodeExecutors[backends.OpTypeBroadcastInDim])
		simplegoNodeExecutors[backends.OpTypeConcatenate] = concatenateExecutor(
			simplegoNodeExecutors[backends.OpTypeConcatenate])
		simplegoNodeExecutors[backends.OpTypeDotGeneral] = dotExecutor(simplegoNodeExecutors[backends.OpTypeDotGeneral])
		simplegoNodeExecutors[backends.OpTypeConvGeneral] = convExecutor(simplegoNodeExecutors[backends.OpTypeConvGeneral])
		for _, op := range []backends.OpType{backends.OpTypeAbs, backends.OpTypeNeg, backends.OpTypeFloor, backends.OpTypeSign} {
			simplegoNodeExecutors[op] = unaryExecutor(op, simplegoNodeExecutors[op])
		}
		installBatchNormExecutors()
		simplegoNodeExecutors[fusedOpType] = fusedExecutor(simplegoNodeExecutors[fusedOpType])
	})
	return fastExecErr
}

// probeNodeData builds one op on a scratch SimpleGo backend from float32 parameters of the given shapes and checks
// that its node's data is a pointer to a struct laid out as mirror; it returns the data and its dynamic type.
// SimpleGo wraps some ops in a Reshape to the output shape (DotGeneral): then the Reshape's input is taken.
func probeNodeData(what string, mirror reflect.Type, params [][]int,
	build func(b backends.Builder, params []backends.Op) (backends.Op, error)) (any, reflect.Type, error) {
	sg, err := simplego.New("")
	if err != nil {
		return nil, nil, err
	}
	defer sg.Finalize()
	b := sg.Builder("probe")
	ops := make([]backends.Op, len(params))
	for i, dims := range params {
		if ops[i], err = b.Parameter(fmt.Sprintf("p%d", i), shapes.Make(dtypes.Float32, dims...), nil); err != nil {
			return nil, nil, err
		}
	}
	op, err := build(b, ops)
	if err != nil {
		return nil, nil, err
	}
	node := nodeOf(op.(*simplego.Node))
	if node.opType == backends.OpTypeReshape && len(node.inputs) == 1 {
		node = nodeOf(node.inputs[0])
	}
	t := reflect.TypeOf(node.data)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil, nil, fmt.Errorf("SimpleGo's %s node data is %T, not a pointer to a struct", what, node.data)
	}
	if err := sameLayout(t.Elem(), mirror); err != nil {
		return nil, nil, err
	}
	return node.data, t, nil
}

// probeSliceData checks the layout of a Slice node's data.
func probeSliceData() error {
	data, t, err := probeNodeData("Slice", reflect.TypeFor[sliceLayout](), [][]int{{4, 4}},
		func(b backends.Builder, p []backends.Op) (backends.Op, error) {
			return b.Slice(p[0], []int{1, 0}, []int{3, 4}, []int{1, 2})
		})
	if err != nil {
		return err
	}
	sl := sliceOf(data)
	if fmt.Sprint(sl.starts, sl.limits, sl.strides) != "[1 0] [3 4] [1 2]" {
		return fmt.Errorf("SimpleGo's Slice node data reads as %v %v %v", sl.starts, sl.limits, sl.strides)
	}
	sliceNodeType = t
	return nil
}

// sliceOf reads a Slice node's data (a *simplego.sliceNode) through its mirror.
func sliceOf(data any) *sliceLayout {
	return (*sliceLayout)((*[2]unsafe.Pointer)(unsafe.Pointer(&data))[1])
}

// fastFlags switch off some of the fast executors for one backend (engine options).
type fastFlags struct {
	noGemm, noDirectDW, noFusedBN, noFusedAct, noFusedAdder, noFusedGather bool
}

// registerFast marks a SimpleGo backend as one whose ops may take the fast executors.
func registerFast(sg backends.Backend, flags fastFlags) error {
	s, ok := sg.(*simplego.Backend)
	if !ok {
		return fmt.Errorf("backend is a %T, not SimpleGo's", sg)
	}
	if err := installFastExecutors(); err != nil {
		return err
	}
	fastBackends.Store(s, flags)
	return nil
}

func unregisterFast(sg backends.Backend) {
	if s, ok := sg.(*simplego.Backend); ok {
		fastBackends.Delete(s)
	}
}

// fastExecRuns counts the ops the fast executors ran (the tests check they are reached); broadcastRuns the binary
// ops among them with an implicit broadcast (broadcastBinary).
var fastExecRuns, broadcastRuns atomic.Int64

func isFast(b *simplego.Backend) bool {
	_, ok := fastBackends.Load(b)
	return ok
}

// flagsOf returns a fast backend's flags (ok is false for any other backend).
func flagsOf(b *simplego.Backend) (flags fastFlags, ok bool) {
	f, ok := fastBackends.Load(b)
	if !ok {
		return fastFlags{}, false
	}
	return f.(fastFlags), true
}

// noVec switches the AVX elementwise kernels off (the tests compare both ways).
var noVec bool

// noVec512 switches the AVX-512 variants off, leaving the AVX2 kernels (the tests compare both ways).
var noVec512 bool

// parallelChunk is the fewest elements worth a goroutine of their own.
const parallelChunk = 1 << 15

// parallelFor runs body over [0, n) in up to GOMAXPROCS contiguous ranges, inline when the work (elements
// touched) is small.
func parallelFor(n, work int, body func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), work/parallelChunk)
	if workers <= 1 || n < 2 {
		body(0, n)
		return
	}
	workers = min(workers, n)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := n*w/workers, n*(w+1)/workers
		if w == workers-1 {
			body(lo, hi) // the calling goroutine takes the last range
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			body(lo, hi)
		}()
	}
	wg.Wait()
}

// binaryExecutor runs a float32 elementwise op on operands of the output's shape (or a scalar rhs) in parallel.
func binaryExecutor(op backends.OpType, stock nodeExecutor) nodeExecutor {
	return func(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (
		*simplego.Buffer, error) {
		n := nodeOf(node)
		if !isFast(backend) || n.shape.DType != dtypes.Float32 {
			return stock(backend, node, inputs, owned)
		}
		lhs, rhs := bufferOf(inputs[0]), bufferOf(inputs[1])
		if innerBroadcast(lhs.shape, rhs.shape, n.shape) {
			fastExecRuns.Add(1)
			broadcastRuns.Add(1)
			out := simplegoGetBufferForShape(backend, n.shape)
			broadcastBinary(op, lhs.flat.([]float32), rhs.flat.([]float32), bufferOf(out).flat.([]float32),
				lhs.shape.Dimensions, rhs.shape.Dimensions, n.shape.Dimensions)
			return out, nil
		}
		if n.shape.Size() < 2*parallelChunk {
			return stock(backend, node, inputs, owned)
		}
		scalarRHS := rhs.shape.Size() == 1 && lhs.shape.Equal(n.shape)
		if !scalarRHS && (!lhs.shape.Equal(n.shape) || !rhs.shape.Equal(n.shape)) {
			return stock(backend, node, inputs, owned)
		}
		// Reuse an owned input as the output, as SimpleGo does (rhs first, then lhs).
		var out *simplego.Buffer
		switch {
		case owned[1] && rhs.shape.Equal(n.shape):
			out, inputs[1] = inputs[1], nil
		case owned[0] && lhs.shape.Equal(n.shape):
			out, inputs[0] = inputs[0], nil
		default:
			out = simplegoGetBufferForShape(backend, n.shape)
		}
		fastExecRuns.Add(1)
		x, y, z := lhs.flat.([]float32), rhs.flat.([]float32), bufferOf(out).flat.([]float32)
		f := binaryKernel(op, scalarRHS)
		parallelFor(len(z), len(z), func(lo, hi int) { f(x, y, z, lo, hi) })
		return out, nil
	}
}

// innerBroadcast reports whether a binary op broadcasts an operand along a middle or the last axis (same ranks,
// each axis of each operand either the output's or 1): the broadcasts fastops.go leaves to SimpleGo, whose
// iterator walks them one element at a time. (Tried: kernels.AddMatMul broadcasting its [rows,1,K] rows and
// [rows,O,1] adjoint this way instead of replicating them with Concatenate: the same speed, so it still replicates.)
// Leading-axes broadcasts are expanded by the builder instead and come here with equal shapes.
func innerBroadcast(lhs, rhs, out shapes.Shape) bool {
	r := out.Rank()
	if lhs.Rank() != r || rhs.Rank() != r || r == 0 || (lhs.Equal(out) && rhs.Equal(out)) ||
		lhs.Size() == 1 || rhs.Size() == 1 {
		return false
	}
	for a := range r {
		for _, d := range []int{lhs.Dimensions[a], rhs.Dimensions[a]} {
			if d != out.Dimensions[a] && d != 1 {
				return false
			}
		}
	}
	return !isPrefixBroadcast(lhs, out) || !isPrefixBroadcast(rhs, out)
}

// isPrefixBroadcast: s is out, or 1 on a prefix of the axes and out's on the rest.
func isPrefixBroadcast(s, out shapes.Shape) bool {
	k := 0
	for k < s.Rank() && s.Dimensions[k] == 1 {
		k++
	}
	for a := k; a < s.Rank(); a++ {
		if s.Dimensions[a] != out.Dimensions[a] {
			return false
		}
	}
	return true
}

// broadcastBinary computes z = x op y with implicit broadcasting (innerBroadcast), one row of the last axis at a
// time: both operands full along it (the same-shape kernel), or one of them a single value there (the scalar
// kernel; a broadcast lhs of a commutative op is swapped, of Sub or Div computed in Go). Same per-element
// expressions as SimpleGo.
func broadcastBinary(op backends.OpType, x, y, z []float32, xd, yd, zd []int) {
	r := len(zd)
	inner := zd[r-1]
	xs, ys := broadcastStrides(xd, zd), broadcastStrides(yd, zd)
	rows := len(z) / inner
	same, scalar := binaryKernel(op, false), binaryKernel(op, true)
	commutative := op == backends.OpTypeAdd || op == backends.OpTypeMul || op == backends.OpTypeMax ||
		op == backends.OpTypeMin
	xFull, yFull := xd[r-1] == inner, yd[r-1] == inner
	parallelFor(rows, len(z), func(lo, hi int) {
		idx := make([]int, r-1) // the row's index over the leading axes, advanced like an odometer
		rem := lo
		xo, yo := 0, 0
		for a := r - 2; a >= 0; a-- {
			idx[a] = rem % zd[a]
			rem /= zd[a]
			xo += idx[a] * xs[a]
			yo += idx[a] * ys[a]
		}
		for row := lo; row < hi; row++ {
			zr := z[row*inner : (row+1)*inner]
			switch {
			case xFull && yFull:
				same(x[xo:xo+inner], y[yo:yo+inner], zr, 0, inner)
			case xFull:
				scalar(x[xo:xo+inner], y[yo:yo+1], zr, 0, inner)
			case yFull && commutative:
				scalar(y[yo:yo+inner], x[xo:xo+1], zr, 0, inner)
			case yFull:
				c, yr := x[xo], y[yo:yo+inner]
				if op == backends.OpTypeSub {
					for i := range zr {
						zr[i] = c - yr[i]
					}
				} else {
					for i := range zr {
						zr[i] = c / yr[i]
					}
				}
			default: // both a single value along the last axis
				scalar(x[xo:xo+1], y[yo:yo+1], zr, 0, 1)
				for i := 1; i < inner; i++ {
					zr[i] = zr[0]
				}
			}
			for a := r - 2; a >= 0; a-- {
				xo += xs[a]
				yo += ys[a]
				if idx[a]++; idx[a] < zd[a] {
					break
				}
				xo -= idx[a] * xs[a]
				yo -= idx[a] * ys[a]
				idx[a] = 0
			}
		}
	})
}

// vecKernels returns op's vector kernels for equal shapes and for a scalar rhs (nil where there are none, or
// with the vector kernels off; Max and Min have their own, maxMinKernel).
func vecKernels(op backends.OpType) (same func(z, x, y []float32), scalar func(z, x []float32, c float32)) {
	if !hasVec || noVec {
		return nil, nil
	}
	switch op {
	case backends.OpTypeAdd:
		return vecAdd, vecAddScalar
	case backends.OpTypeSub:
		return vecSub, vecSubScalar
	case backends.OpTypeMul:
		return vecMul, vecMulScalar
	case backends.OpTypeDiv:
		return vecDiv, vecDivScalar
	}
	return nil, nil
}

// broadcastStrides are the element strides of an operand of dims d read at output index positions (0 where
// broadcast), for the leading axes of out (all but the last).
func broadcastStrides(d, out []int) []int {
	st := make([]int, len(out)-1)
	s := d[len(d)-1]
	for a := len(out) - 2; a >= 0; a-- {
		if d[a] != 1 {
			st[a] = s
		}
		s *= d[a]
	}
	return st
}

// binaryKernel is the loop of op over [lo, hi); y is a one-element slice when scalar. z may alias x or y.
// The per-element expressions are SimpleGo's (gen_exec_binary.go): lhs op rhs, and Go's max/min builtins; the
// vector kernels (vec_amd64.s) compute the same ones, one IEEE operation per element.
func binaryKernel(op backends.OpType, scalar bool) func(x, y, z []float32, lo, hi int) {
	same, byScalar := vecKernels(op)
	switch {
	case scalar && byScalar != nil:
		return func(x, y, z []float32, lo, hi int) { byScalar(z[lo:hi], x[lo:hi], y[0]) }
	case !scalar && same != nil:
		return func(x, y, z []float32, lo, hi int) { same(z[lo:hi], x[lo:hi], y[lo:hi]) }
	case hasVec && !noVec && (op == backends.OpTypeMax || op == backends.OpTypeMin):
		return maxMinKernel(op, scalar)
	}
	return binaryLoop(op, scalar)
}

// maxMinKernel is Go's max or min with the vector kernels (vec_amd64.s) on whole groups of 8 and the Go loop on
// the rest.
func maxMinKernel(op backends.OpType, scalar bool) func(x, y, z []float32, lo, hi int) {
	v, loop := vecMax, binaryLoop(op, scalar)
	switch {
	case op == backends.OpTypeMax && scalar:
		v = vecMaxBcast
	case op == backends.OpTypeMin && scalar:
		v = vecMinBcast
	case op == backends.OpTypeMin:
		v = vecMin
	}
	return func(x, y, z []float32, lo, hi int) {
		n8 := (hi - lo) &^ 7
		ys := y
		if !scalar {
			ys = y[lo:hi]
		}
		v(z[lo:hi], x[lo:hi], ys)
		loop(x, y, z, lo+n8, hi)
	}
}

// binaryLoop is binaryKernel in plain Go.
func binaryLoop(op backends.OpType, scalar bool) func(x, y, z []float32, lo, hi int) {
	if scalar {
		switch op {
		case backends.OpTypeAdd:
			return func(x, y, z []float32, lo, hi int) {
				c := y[0]
				for i := lo; i < hi; i++ {
					z[i] = x[i] + c
				}
			}
		case backends.OpTypeSub:
			return func(x, y, z []float32, lo, hi int) {
				c := y[0]
				for i := lo; i < hi; i++ {
					z[i] = x[i] - c
				}
			}
		case backends.OpTypeMul:
			return func(x, y, z []float32, lo, hi int) {
				c := y[0]
				for i := lo; i < hi; i++ {
					z[i] = x[i] * c
				}
			}
		case backends.OpTypeDiv:
			return func(x, y, z []float32, lo, hi int) {
				c := y[0]
				for i := lo; i < hi; i++ {
					z[i] = x[i] / c
				}
			}
		case backends.OpTypeMax:
			return func(x, y, z []float32, lo, hi int) {
				c := y[0]
				for i := lo; i < hi; i++ {
					z[i] = max(x[i], c)
				}
			}
		case backends.OpTypeMin:
			return func(x, y, z []float32, lo, hi int) {
				c := y[0]
				for i := lo; i < hi; i++ {
					z[i] = min(x[i], c)
				}
			}
		}
	}
	switch op {
	case backends.OpTypeAdd:
		return func(x, y, z []float32, lo, hi int) {
			for i := lo; i < hi; i++ {
				z[i] = x[i] + y[i]
			}
		}
	case backends.OpTypeSub:
		return func(x, y, z []float32, lo, hi int) {
			for i := lo; i < hi; i++ {
				z[i] = x[i] - y[i]
			}
		}
	case backends.OpTypeMul:
		return func(x, y, z []float32, lo, hi int) {
			for i := lo; i < hi; i++ {
				z[i] = x[i] * y[i]
			}
		}
	case backends.OpTypeDiv:
		return func(x, y, z []float32, lo, hi int) {
			for i := lo; i < hi; i++ {
				z[i] = x[i] / y[i]
			}
		}
	case backends.OpTypeMax:
		return func(x, y, z []float32, lo, hi int) {
			for i := lo; i < hi; i++ {
				z[i] = max(x[i], y[i])
			}
		}
	case backends.OpTypeMin:
		return func(x, y, z []float32, lo, hi int) {
			for i := lo; i < hi; i++ {
				z[i] = min(x[i], y[i])
			}
		}
	}
	panic(fmt.Sprintf("binaryKernel: no kernel for %s", op))
}

// reduceSumExecutor sums float32 operands whose reduced axes form one contiguous block of axes: with the operand
// viewed as [outer, r, inner] (outer and inner kept, r reduced), out[o, i] = Σ_j x[o, j, i], each sum taken in
// increasing j as SimpleGo's flat-order loop does; the work is split over outputs. Other patterns go to SimpleGo.
func reduceSumExecutor(stock nodeExecutor) nodeExecutor {
	return func(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (
		*simplego.Buffer, error) {
		n := nodeOf(node)
		x := bufferOf(inputs[0])
		axes, ok := n.data.([]int)
		if !isFast(backend) || !ok || len(axes) == 0 || n.shape.DType != dtypes.Float32 {
			return stock(backend, node, inputs, owned)
		}
		outer, r, inner, ok := reduceBlock(x.shape.Dimensions, axes)
		if !ok {
			return stock(backend, node, inputs, owned)
		}
		fastExecRuns.Add(1)
		out := simplegoGetBufferForShape(backend, n.shape)
		xs, zs := x.flat.([]float32), bufferOf(out).flat.([]float32)
		total := outer * r * inner
		if inner == 1 {
			// Rows: out[o] = Σ_j x[o, j].
			parallelFor(outer, total, func(lo, hi int) {
				for o := lo; o < hi; o++ {
					row := xs[o*r : (o+1)*r]
					var s float32
					for _, v := range row {
						s += v
					}
					zs[o] = s
				}
			})
			return out, nil
		}
		// Columns: out[o, :] accumulates rows x[o, j, :] in increasing j; split over inner ranges when outer is
		// small, so each output still sums in SimpleGo's order.
		for o := range outer {
			z := zs[o*inner : (o+1)*inner]
			base := o * r * inner
			parallelFor(inner, r*inner, func(lo, hi int) {
				clear(z[lo:hi])
				if hasVec && !noVec {
					vecColSum(z[lo:hi], xs[base+lo:base+(r-1)*inner+hi], inner, r)
					return
				}
				for j := range r {
					row := xs[base+j*inner : base+(j+1)*inner]
					zz := z[lo:hi]
					for i, v := range row[lo:hi] {
						zz[i] += v
					}
				}
			})
		}
		return out, nil
	}
}

// reduceBlock views dims as [outer, r, inner] when the reduced axes are one contiguous block.
func reduceBlock(dims, axes []int) (outer, r, inner int, ok bool) {
	lo, hi := len(dims), -1
	seen := make(map[int]bool, len(axes))
	for _, a := range axes {
		if a < 0 || a >= len(dims) || seen[a] {
			return 0, 0, 0, false
		}
		seen[a] = true
		lo, hi = min(lo, a), max(hi, a)
	}
	if hi-lo+1 != len(axes) {
		return 0, 0, 0, false
	}
	outer, r, inner = 1, 1, 1
	for a, d := range dims {
		switch {
		case a < lo:
			outer *= d
		case a > hi:
			inner *= d
		default:
			r *= d
		}
	}
	return outer, r, inner, true
}

// sliceExecutor copies a float32 Slice by runs: the innermost axis with stride 1 is copied with copy(), the rest
// walk the output's index space row by row. Rows are split over goroutines when large.
func sliceExecutor(stock nodeExecutor) nodeExecutor {
	return func(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (
		*simplego.Buffer, error) {
		n := nodeOf(node)
		x := bufferOf(inputs[0])
		if !isFast(backend) || n.shape.DType != dtypes.Float32 || reflect.TypeOf(n.data) != sliceNodeType ||
			n.shape.Rank() == 0 {
			return stock(backend, node, inputs, owned)
		}
		p := sliceOf(n.data)
		dims, outDims := x.shape.Dimensions, n.shape.Dimensions
		rank := len(dims)
		strides := make([]int, rank) // operand flat strides scaled by the slice strides
		start := 0
		step := 1
		for a := rank - 1; a >= 0; a-- {
			strides[a] = step * p.strides[a]
			start += step * p.starts[a]
			step *= dims[a]
		}
		fastExecRuns.Add(1)
		out := simplegoGetBufferForShape(backend, n.shape)
		xs, zs := x.flat.([]float32), bufferOf(out).flat.([]float32)
		last := outDims[rank-1]
		rows := len(zs) / max(last, 1)
		if last == 0 || rows == 0 {
			return out, nil
		}
		lastStride := strides[rank-1]
		parallelFor(rows, len(zs), func(lo, hi int) {
			// Operand offset of output row lo.
			idx := make([]int, rank-1)
			rem := lo
			off := start
			for a := rank - 2; a >= 0; a-- {
				idx[a] = rem % outDims[a]
				rem /= outDims[a]
				off += idx[a] * strides[a]
			}
			for row := lo; row < hi; row++ {
				z := zs[row*last : (row+1)*last]
				if lastStride == 1 {
					copy(z, xs[off:off+last])
				} else {
					for i := range z {
						z[i] = xs[off+i*lastStride]
					}
				}
				for a := rank - 2; a >= 0; a-- {
					idx[a]++
					off += strides[a]
					if idx[a] < outDims[a] {
						break
					}
					off -= idx[a] * strides[a]
					idx[a] = 0
				}
			}
		})
		return out, nil
	}
}

// broadcastInDimExecutor expands a float32 operand whose axes map, in order, onto output axes (broadcastAxes
// increasing; a size-1 operand axis may grow): the output axes are grouped into runs that are either copied from the operand or repeated, and
// the innermost run is a contiguous copy or fill instead of SimpleGo's per-element index iterator.
func broadcastInDimExecutor(stock nodeExecutor) nodeExecutor {
	return func(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (
		*simplego.Buffer, error) {
		n := nodeOf(node)
		x := bufferOf(inputs[0])
		axes, ok := n.data.([]int)
		if !isFast(backend) || !ok || n.shape.DType != dtypes.Float32 || x.shape.Size() <= 1 {
			return stock(backend, node, inputs, owned)
		}
		outDims := n.shape.Dimensions
		kept := make([]bool, len(outDims)) // output axis taken from the operand (same size)
		prev := -1
		for operandAxis, outAxis := range axes {
			d := x.shape.Dimensions[operandAxis]
			if outAxis <= prev || outAxis >= len(outDims) || (d != outDims[outAxis] && d != 1) {
				return stock(backend, node, inputs, owned) // a transposition, or not a broadcast
			}
			prev = outAxis
			kept[outAxis] = d == outDims[outAxis] && d > 1 // a size-1 operand axis is repeated
		}
		// Collapse consecutive output axes of the same kind (size-1 axes join either).
		var groups []bcastGroup
		for a, d := range outDims {
			if d == 1 {
				continue
			}
			if len(groups) > 0 && groups[len(groups)-1].kept == kept[a] {
				groups[len(groups)-1].size *= d
				continue
			}
			groups = append(groups, bcastGroup{size: d, kept: kept[a]})
		}
		fastExecRuns.Add(1)
		out := simplegoGetBufferForShape(backend, n.shape)
		xs, zs := x.flat.([]float32), bufferOf(out).flat.([]float32)
		if len(groups) == 0 {
			copy(zs, xs)
			return out, nil
		}
		// Output and operand strides of each group.
		outStride, inStride := make([]int, len(groups)), make([]int, len(groups))
		os, is := 1, 1
		for g := len(groups) - 1; g >= 0; g-- {
			outStride[g] = os
			os *= groups[g].size
			if groups[g].kept {
				inStride[g] = is
				is *= groups[g].size
			}
		}
		// Split the outermost group over goroutines.
		parallelFor(groups[0].size, len(zs), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				bcastFill(groups[1:], outStride[1:], inStride[1:], xs[i*inStride[0]:], zs[i*outStride[0]:])
			}
		})
		return out, nil
	}
}

type bcastGroup struct {
	size int
	kept bool
}

// bcastFill writes one slab of a BroadcastInDim: groups are the inner groups; x starts at the operand element the
// slab reads (advanced by the caller only along kept groups); z at the slab's first output.
func bcastFill(groups []bcastGroup, outStride, inStride []int, x, z []float32) {
	if len(groups) == 0 {
		z[0] = x[0]
		return
	}
	g := groups[0]
	if len(groups) == 1 {
		if g.kept {
			copy(z[:g.size], x[:g.size])
		} else {
			v := x[0]
			zz := z[:g.size]
			for i := range zz {
				zz[i] = v
			}
		}
		return
	}
	for i := range g.size {
		xi := x
		if g.kept {
			xi = x[i*inStride[0]:]
		}
		bcastFill(groups[1:], outStride[1:], inStride[1:], xi, z[i*outStride[0]:])
	}
}

// concatenateExecutor is SimpleGo's block-copy Concatenate for float32, split over the outer blocks.
func concatenateExecutor(stock nodeExecutor) nodeExecutor {
	return func(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (
		*simplego.Buffer, error) {
		n := nodeOf(node)
		axis, ok := n.data.(int)
		if !isFast(backend) || !ok || n.shape.DType != dtypes.Float32 || n.shape.Size() < 2*parallelChunk {
			return stock(backend, node, inputs, owned)
		}
		dims := n.shape.Dimensions
		outer, inner := 1, 1
		for a, d := range dims {
			if a < axis {
				outer *= d
			} else if a > axis {
				inner *= d
			}
		}
		fastExecRuns.Add(1)
		out := simplegoGetBufferForShape(backend, n.shape)
		zs := bufferOf(out).flat.([]float32)
		rowOut := dims[axis] * inner
		xs, blocks := make([][]float32, len(inputs)), make([]int, len(inputs))
		for i, in := range inputs {
			b := bufferOf(in)
			xs[i], blocks[i] = b.flat.([]float32), b.shape.Dimensions[axis]*inner
		}
		// Row by row, so the output is written once in order (an im2col's concatenation of nine 3-channel taps
		// made nine strided passes over it), and blocks of a few values copied by a loop, not memmove.
		parallelFor(outer, len(zs), func(lo, hi int) {
			for o := lo; o < hi; o++ {
				dst := zs[o*rowOut : (o+1)*rowOut]
				for i, x := range xs {
					block := blocks[i]
					src := x[o*block : (o+1)*block]
					if block < 16 {
						for k, v := range src {
							dst[k] = v
						}
					} else {
						copy(dst[:block], src)
					}
					dst = dst[block:]
				}
			}
		})
		return out, nil
	}
}

// unaryExecutor runs float32 Abs, Neg, Floor and Sign on all cores with SimpleGo's per-element expressions
// (exec_unary.go: Abs keeps -0 and NaN as they are; Floor goes through float64; Sign gives +0 for ±0 and NaN),
// reusing an owned input as the output as SimpleGo does. Floor and Sign are the shift quantisation's (weights and
// activations), which SimpleGo runs on one core.
func unaryExecutor(op backends.OpType, stock nodeExecutor) nodeExecutor {
	return func(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (
		*simplego.Buffer, error) {
		n := nodeOf(node)
		if !isFast(backend) || n.shape.DType != dtypes.Float32 || n.shape.Size() < 2*parallelChunk {
			return stock(backend, node, inputs, owned)
		}
		fastExecRuns.Add(1)
		in := inputs[0]
		out := in
		if owned[0] {
			inputs[0] = nil
		} else {
			out = simplegoGetBufferForShape(backend, bufferOf(in).shape)
		}
		x, z := bufferOf(in).flat.([]float32), bufferOf(out).flat.([]float32)
		switch op {
		case backends.OpTypeAbs:
			if hasVec && !noVec {
				parallelFor(len(z), len(z), func(lo, hi int) { vecAbs(z[lo:hi], x[lo:hi]) })
				break
			}
			parallelFor(len(z), len(z), func(lo, hi int) {
				for i := lo; i < hi; i++ {
					if v := x[i]; v < 0 {
						z[i] = -v
					} else {
						z[i] = v
					}
				}
			})
		case backends.OpTypeNeg:
			parallelFor(len(z), len(z), func(lo, hi int) {
				for i := lo; i < hi; i++ {
					z[i] = -x[i]
				}
			})
		case backends.OpTypeFloor:
			parallelFor(len(z), len(z), func(lo, hi int) {
				for i := lo; i < hi; i++ {
					z[i] = float32(math.Floor(float64(x[i])))
				}
			})
		case backends.OpTypeSign:
			parallelFor(len(z), len(z), func(lo, hi int) {
				for i := lo; i < hi; i++ {
					switch v := x[i]; {
					case v < 0:
						z[i] = -1
					case v > 0:
						z[i] = 1
					default:
						z[i] = 0
					}
				}
			})
		}
		return out, nil
	}
}
