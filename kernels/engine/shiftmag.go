package engine

import (
	"sync/atomic"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Fused shift-weight magnitude: kernels.QuantizeShiftWeight finds each weight's power of two by binary lifting,
//
//	mag = Broadcast(c0)
//	for each step: cand = Mul(mag, s); mag = Where(GreaterOrEqual(a, Mul(cand, t)), cand, mag)
//
// with a = |w| and scalar constants c0, s (a power of two) and t (√2/2). That is four passes and a Bool tensor a
// step, about twenty single-threaded passes over every Shift weight at every step (a tenth of a Shift network's
// training step at res 32). The builder recognises each step's Where as it builds it and emits one node that runs
// the lifting so far per element, from a alone; the earlier steps' nodes stay in the graph unused, and SimpleGo
// runs them only if something else uses them. The value is the ops' bit for bit: the products are float32
// products, and a NaN a fails every comparison and keeps c0, as Where does.

// shiftLift is the data of a fused lifting node (input a), and what the builder remembers of the lifting so far.
type shiftLift struct {
	a     backends.Op // the magnitudes compared; nil for the broadcast constant the lifting starts from
	shape shapes.Shape
	c0    float32
	// s and t are the steps' factors: cand = mag·s[k]; mag = cand where a ≥ cand·t[k].
	s, t []float32
}

// geq is a remembered GreaterOrEqual(a, thr) of two float32 tensors of one shape.
type geq struct{ a, thr backends.Op }

// BroadcastInDim implements backends.Builder: SimpleGo's, remembering a broadcast float32 scalar constant as the
// start of a lifting.
func (b *Builder) BroadcastInDim(x backends.Op, outputShape shapes.Shape, broadcastAxes []int) (backends.Op, error) {
	op, err := b.Builder.BroadcastInDim(x, outputShape, broadcastAxes)
	if c, ok := b.scalarOf(x); err == nil && ok && outputShape.DType == dtypes.Float32 {
		b.acts.lifts[op] = &shiftLift{shape: outputShape, c0: c}
	}
	return op, err
}

// rememberGeq notes op = GreaterOrEqual(a, thr) for two float32 tensors of one shape.
func (b *Builder) rememberGeq(op, a, thr backends.Op) {
	if b.acts == nil || !b.isFloat32(a) {
		return
	}
	as, err1 := b.OpShape(a)
	ts, err2 := b.OpShape(thr)
	if err1 == nil && err2 == nil && as.Equal(ts) {
		b.acts.geqs[op] = geq{a: a, thr: thr}
	}
}

// fusedShiftLift returns the fused node for Where(cond, onTrue, onFalse) when it is a lifting step over a
// remembered lifting (or its starting constant) onFalse.
func (b *Builder) fusedShiftLift(cond, onTrue, onFalse backends.Op) (backends.Op, bool) {
	if b.acts == nil || !b.fuseActs {
		return nil, false
	}
	c, okC := b.acts.geqs[cond]
	prev, okP := b.acts.lifts[onFalse]
	cand, okS := b.acts.scaled[onTrue]
	thr, okT := b.acts.scaled[c.thr]
	if !okC || !okP || !okS || !okT || cand.x != onFalse || thr.x != onTrue {
		return nil, false
	}
	as, err := b.OpShape(c.a)
	if err != nil || !as.Equal(prev.shape) || (prev.a != nil && prev.a != c.a) {
		return nil, false
	}
	l := &shiftLift{a: c.a, shape: as, c0: prev.c0, s: append(append([]float32{}, prev.s...), cand.s),
		t: append(append([]float32{}, prev.t...), thr.s)}
	op := b.newFusedNode(as, l, c.a)
	b.acts.lifts[op] = l
	return op, true
}

// shiftLiftExec runs a fused lifting node, over its input a when SimpleGo no longer needs it.
func shiftLiftExec(backend *simplego.Backend, n *nodeLayout, l *shiftLift, inputs []*simplego.Buffer, owned []bool) *simplego.Buffer {
	fastExecRuns.Add(1)
	shiftLiftRuns.Add(1)
	a := bufferOf(inputs[0]).flat.([]float32)
	out := outputOverFirst(backend, n, inputs, owned)
	z := bufferOf(out).flat.([]float32)
	parallelFor(len(z), len(z), func(lo, hi int) { shiftLiftRun(z[lo:hi], a[lo:hi], l) })
	return out
}

// shiftLiftRuns counts the fused lifting nodes run (the tests check they are reached).
var shiftLiftRuns atomic.Int64

// shiftLiftRun is z = the lifting's magnitude of each a: eight at a time with AVX (a blend, not a branch: one on
// random weights mispredicts), the tail in Go.
func shiftLiftRun(z, a []float32, l *shiftLift) {
	done := 0
	if hasVec && !noVec {
		done = len(z) &^ 7
		vecShiftLift(z[:done], a, l.c0, l.s, l.t)
	}
	for i := done; i < len(z); i++ {
		m, v := l.c0, a[i]
		for k, s := range l.s {
			if cand := float32(m * s); v >= float32(cand*l.t[k]) {
				m = cand
			}
		}
		z[i] = m
	}
}
