package engine

import (
	"math"
	"sync/atomic"
	_ "unsafe" // go:linkname

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/pkg/errors"
)

// Fused clipping activations: the builder recognises two float32 patterns as it builds them and emits one node
// for each, which the executor below runs in one pass:
//
//   - clip: Min(Max(x, lo), hi) with scalar constants lo and hi (graph.ClipScalar, Clamp; ReLU6's forward), two
//     passes otherwise;
//   - masked gradient: Mul(v, Where(cond, 1, 0)) with cond GreaterOrEqual(x, lo), or LogicalAnd of that and
//     LessThan(x, hi), scalar constants (kernels' ReLU/ReLU6 gradient v·[lo ≤ x < hi] on this engine), four
//     passes and three Bool tensors otherwise (and about nine float passes in kernels' portable formulation);
//   - quantised clip: Min(Max(Div(Floor(Mul(x, s)), d), lo), hi) with scalar constants s, lo, hi and a scalar d
//     (kernels.ShiftActivation, DeepShift's fixed-point rounding of every Shift layer's input), four passes
//     otherwise.
//
// The values are exactly those of the ops they replace: clip is Go's min(max(x, lo), hi) per element, and the
// masked gradient is v·1 or v·(+0) per element (the comparisons are false for a NaN x). The nodes of the pattern
// stay in the graph, and SimpleGo runs them only if something else uses them.
//
// The fused node is a SimpleGo node of op type Clamp, which SimpleGo has no executor for and never creates itself
// (this engine's builder composes Clamp from Max and Min), carrying its parameters as node data.

//go:linkname simplegoNewNode github.com/gomlx/gomlx/backends/simplego.(*Builder).newNode
func simplegoNewNode(b *simplego.Builder, opType backends.OpType, shape shapes.Shape,
	inputs ...*simplego.Node) *simplego.Node

// fusedOpType is the op type of the fused elementwise nodes.
const fusedOpType = backends.OpTypeClamp

// fusedAct is the data of a fused activation node.
type fusedAct struct {
	maskedGrad bool    // inputs (v, x): v·[lo ≤ x < hi]; otherwise input x: min(max(x, lo), hi)
	quantScale float32 // nonzero: inputs (x, d), min(max(floor(x·quantScale)/d, lo), hi)
	lo, hi     float32 // hi is +Inf without an upper bound in a masked gradient
	strictHi   bool    // masked gradient: x < hi is part of the condition
}

// actTracker is what the builder remembers about the ops it built, to recognise the patterns.
type actTracker struct {
	scalars map[backends.Op]float32   // float32 scalar constants
	conds   map[backends.Op]rangeCond // Bool ops: lo ≤ x (< hi)
	masks   map[backends.Op]rangeCond // Where(cond, 1, 0)
	maxes   map[backends.Op]clipLower // Max(x, lo)
	scaled  map[backends.Op]quantStep // Mul(x, s)
	floors  map[backends.Op]quantStep // Floor(Mul(x, s))
	quots   map[backends.Op]quantStep // Div(Floor(Mul(x, s)), d)

	adder    map[backends.Op]adderOperands // adderexec.go: differences, their clips and products
	adderAbs map[backends.Op]adderOperands // |p − w|

	geqs  map[backends.Op]geq        // shiftmag.go: a ≥ thr
	lifts map[backends.Op]*shiftLift // the shift-weight liftings and the constants they start from

	pads map[backends.Op]zeroPad // gatherexec.go: zero pads of the two middle axes
}

type rangeCond struct {
	x            backends.Op
	lo, hi       float32
	hasLo, hasHi bool
}

type clipLower struct {
	x  backends.Op
	lo float32
}

// quantStep is a step of the activation quantiser: x, the scalar constant s, and (after the Div) the scalar d.
type quantStep struct {
	x, d backends.Op
	s    float32
}

func newActTracker() *actTracker {
	return &actTracker{scalars: map[backends.Op]float32{}, conds: map[backends.Op]rangeCond{},
		masks: map[backends.Op]rangeCond{}, maxes: map[backends.Op]clipLower{},
		scaled: map[backends.Op]quantStep{}, floors: map[backends.Op]quantStep{}, quots: map[backends.Op]quantStep{},
		adder: map[backends.Op]adderOperands{}, adderAbs: map[backends.Op]adderOperands{},
		geqs: map[backends.Op]geq{}, lifts: map[backends.Op]*shiftLift{}, pads: map[backends.Op]zeroPad{}}
}

// isFloat32 reports whether op is a float32 value (false on any error).
func (b *Builder) isFloat32(op backends.Op) bool {
	s, err := b.OpShape(op)
	return err == nil && s.DType == dtypes.Float32
}

// scalarOf returns the value of a float32 scalar constant built by this builder.
func (b *Builder) scalarOf(op backends.Op) (float32, bool) {
	if b.acts == nil {
		return 0, false
	}
	v, ok := b.acts.scalars[op]
	return v, ok
}

// Constant implements backends.Builder: SimpleGo's, remembering float32 scalars.
func (b *Builder) Constant(flat any, dims ...int) (backends.Op, error) {
	op, err := b.Builder.Constant(flat, dims...)
	if err == nil && b.acts != nil && len(dims) == 0 {
		if v, ok := flat.([]float32); ok && len(v) == 1 {
			b.acts.scalars[op] = v[0]
		}
	}
	return op, err
}

// GreaterOrEqual implements backends.Builder: SimpleGo's, remembering x ≥ scalar or a ≥ thr.
func (b *Builder) GreaterOrEqual(lhs, rhs backends.Op) (backends.Op, error) {
	op, err := b.Builder.GreaterOrEqual(lhs, rhs)
	if c, ok := b.scalarOf(rhs); err == nil && ok && b.isFloat32(lhs) {
		b.acts.conds[op] = rangeCond{x: lhs, lo: c, hasLo: true}
	} else if err == nil {
		b.rememberGeq(op, lhs, rhs) // shiftmag.go
	}
	return op, err
}

// LessThan implements backends.Builder: SimpleGo's, remembering x < scalar.
func (b *Builder) LessThan(lhs, rhs backends.Op) (backends.Op, error) {
	op, err := b.Builder.LessThan(lhs, rhs)
	if c, ok := b.scalarOf(rhs); err == nil && ok && b.isFloat32(lhs) {
		b.acts.conds[op] = rangeCond{x: lhs, hi: c, hasHi: true}
	}
	return op, err
}

// LogicalAnd implements backends.Builder: SimpleGo's, remembering lo ≤ x < hi.
func (b *Builder) LogicalAnd(lhs, rhs backends.Op) (backends.Op, error) {
	op, err := b.Builder.LogicalAnd(lhs, rhs)
	if err != nil || b.acts == nil {
		return op, err
	}
	l, lok := b.acts.conds[lhs]
	r, rok := b.acts.conds[rhs]
	if lok && rok && l.x == r.x && l.hasLo && !l.hasHi && r.hasHi && !r.hasLo {
		b.acts.conds[op] = rangeCond{x: l.x, lo: l.lo, hi: r.hi, hasLo: true, hasHi: true}
	}
	return op, err
}

// Where implements backends.Builder: SimpleGo's, remembering Where(lo ≤ x (< hi), 1, 0), or a fused shift-weight
// lifting step (shiftmag.go).
func (b *Builder) Where(cond, onTrue, onFalse backends.Op) (backends.Op, error) {
	if f, ok := b.fusedShiftLift(cond, onTrue, onFalse); ok {
		return f, nil
	}
	op, err := b.Builder.Where(cond, onTrue, onFalse)
	if err != nil || b.acts == nil {
		return op, err
	}
	one, ok1 := b.scalarOf(onTrue)
	zero, ok0 := b.scalarOf(onFalse)
	if c, ok := b.acts.conds[cond]; ok && c.hasLo && ok1 && ok0 && one == 1 && zero == 0 && !math.Signbit(float64(zero)) {
		b.acts.masks[op] = c
	}
	return op, err
}

// fusedMaskedGrad returns the fused v·mask node if mask is a remembered Where mask over an x of v's shape.
func (b *Builder) fusedMaskedGrad(v, mask backends.Op) (backends.Op, bool) {
	if b.acts == nil || !b.fuseActs {
		return nil, false
	}
	c, ok := b.acts.masks[mask]
	if !ok {
		return nil, false
	}
	vs, err1 := b.OpShape(v)
	xs, err2 := b.OpShape(c.x)
	if err1 != nil || err2 != nil || !vs.Equal(xs) || vs.DType != dtypes.Float32 {
		return nil, false
	}
	params := &fusedAct{maskedGrad: true, lo: c.lo, hi: float32(math.Inf(1)), strictHi: c.hasHi}
	if c.hasHi {
		params.hi = c.hi
	}
	return b.newFusedNode(vs, params, v, c.x), true
}

// fusedClip returns the fused clip node for Min(lower, hi) when lower is a remembered Max(x, lo) (with activation
// fusion off: SimpleGo's Min), after noting it for the adder gradient (adderexec.go).
func (b *Builder) fusedClip(lower, hiOp backends.Op) (backends.Op, bool) {
	if b.acts == nil {
		return nil, false
	}
	l, ok := b.acts.maxes[lower]
	hi, okHi := b.scalarOf(hiOp)
	if !ok || !okHi {
		return nil, false
	}
	xs, err := b.OpShape(l.x)
	if err != nil {
		return nil, false
	}
	var op backends.Op
	if q, ok := b.acts.quots[l.x]; ok && b.fuseActs {
		op = b.newFusedNode(xs, &fusedAct{quantScale: q.s, lo: l.lo, hi: hi}, q.x, q.d)
	} else if b.fuseActs {
		op = b.newFusedNode(xs, &fusedAct{lo: l.lo, hi: hi}, l.x)
	} else if op, err = b.broadcastBinary(b.Builder.Min, true, lower, hiOp); err != nil {
		return nil, false
	}
	b.adderClip(op, l.x, l.lo, hi)
	return op, true
}

// scalarOperand splits a commutative op's operands into a float32 operand x and a float32 scalar constant c,
// in either order.
func (b *Builder) scalarOperand(lhs, rhs backends.Op) (x backends.Op, c float32, ok bool) {
	if c, ok := b.scalarOf(rhs); ok && b.isFloat32(lhs) {
		return lhs, c, true
	}
	if c, ok := b.scalarOf(lhs); ok && b.isFloat32(rhs) {
		return rhs, c, true
	}
	return nil, 0, false
}

// rememberMax notes op = Max(x, c) (either order) for fusedClip.
func (b *Builder) rememberMax(op, lhs, rhs backends.Op) {
	if x, c, ok := b.scalarOperand(lhs, rhs); ok && b.acts != nil {
		b.acts.maxes[op] = clipLower{x: x, lo: c}
	}
}

// rememberScale notes op = Mul(x, s) (either order) with a float32 scalar constant s, for the quantised clip.
func (b *Builder) rememberScale(op, lhs, rhs backends.Op) {
	if x, c, ok := b.scalarOperand(lhs, rhs); ok && b.acts != nil {
		b.acts.scaled[op] = quantStep{x: x, s: c}
	}
}

// Floor implements backends.Builder: SimpleGo's, remembering Floor(Mul(x, s)).
func (b *Builder) Floor(x backends.Op) (backends.Op, error) {
	op, err := b.Builder.Floor(x)
	if err == nil && b.acts != nil {
		if q, ok := b.acts.scaled[x]; ok {
			b.acts.floors[op] = q
		}
	}
	return op, err
}

// rememberQuotient notes op = Div(Floor(Mul(x, s)), d) with d a float32 scalar, for the quantised clip.
func (b *Builder) rememberQuotient(op, lhs, rhs backends.Op) {
	if b.acts == nil {
		return
	}
	q, ok := b.acts.floors[lhs]
	ds, err := b.OpShape(rhs)
	if ok && err == nil && ds.IsScalar() && ds.DType == dtypes.Float32 {
		q.d = rhs
		b.acts.quots[op] = q
	}
}

// newFusedNode creates a fused node (op type fusedOpType) with the given data.
func (b *Builder) newFusedNode(shape shapes.Shape, params any, inputs ...backends.Op) backends.Op {
	nodes := make([]*simplego.Node, len(inputs))
	for i, in := range inputs {
		nodes[i] = in.(*simplego.Node)
	}
	n := simplegoNewNode(b.Builder.(*simplego.Builder), fusedOpType, shape, nodes...)
	nodeOf(n).data = params
	return n
}

// fusedExecutor runs the fused nodes: adders (adderexec.go) and activations, the latter writing over their first
// input (v or x) when SimpleGo no longer needs it.
func fusedExecutor(stock nodeExecutor) nodeExecutor {
	return func(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (
		*simplego.Buffer, error) {
		n := nodeOf(node)
		if a, ok := n.data.(*fusedAdder); ok {
			return adderExec(backend, n, a, inputs), nil
		}
		if l, ok := n.data.(*shiftLift); ok {
			return shiftLiftExec(backend, n, l, inputs, owned), nil
		}
		if p, ok := n.data.(*bnInference); ok { // bnexec.go
			return batchNormInferenceExec(backend, n, p, inputs, owned), nil
		}
		if g, ok := n.data.(*tapGather); ok { // gatherexec.go
			return tapGatherExec(backend, n, g, inputs), nil
		}
		p, ok := n.data.(*fusedAct)
		if !ok {
			if stock != nil {
				return stock(backend, node, inputs, owned)
			}
			return nil, errors.Errorf("op %s: no executor", n.opType)
		}
		out := outputOverFirst(backend, n, inputs, owned)
		z := bufferOf(out).flat.([]float32)
		first := z
		if inputs[0] != nil {
			first = bufferOf(inputs[0]).flat.([]float32)
		}
		fastExecRuns.Add(1)
		switch {
		case p.maskedGrad:
			fusedActRuns[1].Add(1)
		case p.quantScale != 0:
			fusedActRuns[2].Add(1)
		default:
			fusedActRuns[0].Add(1)
		}
		if p.maskedGrad {
			x := bufferOf(inputs[1]).flat.([]float32)
			parallelFor(len(z), len(z), func(lo, hi int) {
				rangeMul(z[lo:hi], first[lo:hi], x[lo:hi], p.lo, p.hi, p.strictHi)
			})
			return out, nil
		}
		if p.quantScale != 0 {
			d := bufferOf(inputs[1]).flat.([]float32)[0]
			parallelFor(len(z), len(z), func(lo, hi int) { quantClip(z[lo:hi], first[lo:hi], p.quantScale, d, p.lo, p.hi) })
			return out, nil
		}
		parallelFor(len(z), len(z), func(lo, hi int) { clip(z[lo:hi], first[lo:hi], p.lo, p.hi) })
		return out, nil
	}
}

// outputOverFirst returns the output buffer of an elementwise fused node: its first input's, which it takes
// (setting inputs[0] to nil), when SimpleGo no longer needs that, else a new one.
func outputOverFirst(backend *simplego.Backend, n *nodeLayout, inputs []*simplego.Buffer, owned []bool) *simplego.Buffer {
	if owned[0] {
		out := inputs[0]
		inputs[0] = nil
		return out
	}
	return simplegoGetBufferForShape(backend, n.shape)
}

// fusedActRuns counts the fused clips [0], masked gradients [1] and quantised clips [2] run (the tests check each
// is reached).
var fusedActRuns [3]atomic.Int64

// rangeMul is z = v·[lo ≤ x < hi] (x ≤ hi when !strictHi, hi = +Inf), the product v·1 or v·(+0).
func rangeMul(z, v, x []float32, lo, hi float32, strictHi bool) {
	done := 0
	if hasVec && !noVec {
		done = len(z) &^ 7
		if strictHi {
			vecRangeMul(z[:done], v, x, lo, hi)
		} else {
			vecStepMul(z[:done], v, x, lo)
		}
	}
	for i := done; i < len(z); i++ {
		m := float32(0)
		if x[i] >= lo && (x[i] < hi || !strictHi) {
			m = 1
		}
		z[i] = v[i] * m
	}
}

// clipChunk is the block that clip runs through max then min while it is in cache.
const clipChunk = 2048

// clip is z = min(max(x, lo), hi) with Go's rules for NaN and signed zeros (the Max and Min executors' kernels).
func clip(z, x []float32, lo, hi float32) {
	maxK, minK := binaryKernel(backends.OpTypeMax, true), binaryKernel(backends.OpTypeMin, true)
	los, his := []float32{lo}, []float32{hi}
	for a := 0; a < len(z); a += clipChunk {
		e := min(len(z), a+clipChunk)
		maxK(x, los, z, a, e)
		minK(z, his, z, a, e)
	}
}

// quantClip is z = min(max(floor(x·s)/d, lo), hi) with the operations of the ops it replaces, in float32: the
// product and the quotient rounded as Mul's and Div's, Floor through float64 as SimpleGo's (AVX's floor of the
// float32 is the same value), then clip. It runs a block at a time while it is in cache.
func quantClip(z, x []float32, s, d, lo, hi float32) {
	for a := 0; a < len(z); a += clipChunk {
		e := min(len(z), a+clipChunk)
		i := a
		if hasVec && !noVec {
			i = a + (e-a)&^7
			vecFloorScaleDiv(z[a:i], x[a:i], s, d)
		}
		for ; i < e; i++ {
			z[i] = float32(math.Floor(float64(x[i]*s))) / d
		}
		clip(z[a:e], z[a:e], lo, hi)
	}
}
