package engine

import (
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Faster formulations of SimpleGo ops, still built from SimpleGo ops (so results are SimpleGo's own up to float
// rounding order; the conformance tests in fastops_test.go compare them with stock SimpleGo, forward and gradient).
//
// Implicit broadcasting: SimpleGo's elementwise binary ops have a tight loop for equal shapes and for a scalar on
// the right, but any other broadcast (the [1,1,1,C] per-channel operands of batch norm, channel masks, depthwise
// taps) walks two multi-axis index iterators per element, which made these ops ~20% of a training step. Here a
// leading-axes ("prefix") broadcast operand is first expanded with Broadcast (block copies), and a scalar on the
// left of a commutative op is moved to the right, so the op runs its tight loop.
//
// Tried and dropped: ReduceSum over leading axes as a DotGeneral with a ones row (SimpleGo transposes the operand
// first): 9x slower than SimpleGo's iterator (BenchmarkFastOps, 200 ms vs 22 ms on [64,24,24,144]).

// binaryFn is one of the wrapped SimpleGo binary ops.
type binaryFn func(lhs, rhs backends.Op) (backends.Op, error)

// broadcastBinary runs op on lhs and rhs after expanding prefix-broadcast operands to the full output shape.
// commutative ops also get a scalar lhs swapped to the right.
func (b *Builder) broadcastBinary(op binaryFn, commutative bool, lhs, rhs backends.Op) (backends.Op, error) {
	if !b.fastOps {
		return op(lhs, rhs)
	}
	ls, err := b.OpShape(lhs)
	if err != nil {
		return op(lhs, rhs)
	}
	rs, err := b.OpShape(rhs)
	if err != nil || ls.Rank() != rs.Rank() || ls.Equal(rs) || ls.DType != rs.DType {
		return op(lhs, rhs) // let SimpleGo validate or handle it
	}
	out, ok := broadcastShape(ls, rs)
	if !ok {
		return op(lhs, rhs)
	}
	if rs.Size() == 1 && ls.Equal(out) {
		return op(lhs, rhs) // SimpleGo's scalar fast path
	}
	if ls.Size() == 1 && rs.Equal(out) && commutative {
		return op(rhs, lhs)
	}
	if !ls.Equal(out) {
		if lhs, err = b.expandTo(lhs, ls, out); err != nil {
			return nil, err
		}
	}
	if !rs.Equal(out) {
		if rs.Size() == 1 && ls.Equal(out) {
			return op(lhs, rhs)
		}
		if rhs, err = b.expandTo(rhs, rs, out); err != nil {
			return nil, err
		}
	}
	return op(lhs, rhs)
}

// broadcastShape is the result shape of an implicitly broadcast binary op on same-rank operands.
func broadcastShape(a, b shapes.Shape) (shapes.Shape, bool) {
	dims := make([]int, a.Rank())
	for i := range dims {
		da, db := a.Dimensions[i], b.Dimensions[i]
		switch {
		case da == db:
			dims[i] = da
		case da == 1:
			dims[i] = db
		case db == 1:
			dims[i] = da
		default:
			return shapes.Shape{}, false
		}
	}
	return shapes.Make(a.DType, dims...), true
}

// expandTo expands x (shape from) to shape to when the broadcast is over leading axes only (from's dims are 1 on
// a prefix of axes and equal to to's elsewhere) or x is a single value; otherwise it returns x unchanged, and
// SimpleGo broadcasts it itself.
func (b *Builder) expandTo(x backends.Op, from, to shapes.Shape) (backends.Op, error) {
	if from.Size() == 1 {
		s, err := b.Reshape(x)
		if err != nil {
			return nil, err
		}
		return b.BroadcastInDim(s, to, nil) // SimpleGo fills a scalar broadcast with one loop
	}
	k := 0 // the first axis that is not broadcast
	for k < from.Rank() && from.Dimensions[k] != to.Dimensions[k] {
		if from.Dimensions[k] != 1 {
			return x, nil
		}
		k++
	}
	for i := k; i < from.Rank(); i++ {
		if from.Dimensions[i] != to.Dimensions[i] {
			return x, nil // broadcast in the middle: leave it to SimpleGo
		}
	}
	// Leading axes that are 1 in both shapes don't matter; find the broadcast prefix and the kept suffix.
	if k == 0 {
		return x, nil
	}
	tail, err := b.Reshape(x, to.Dimensions[k:]...)
	if err != nil {
		return nil, err
	}
	if pb, ok := b.Builder.(prefixBroadcaster); ok {
		return pb.Broadcast(tail, to.Dimensions[:k]...)
	}
	return x, nil
}

// prefixBroadcaster is SimpleGo's Broadcast (new leading axes, filled by block copies); it is not part of
// backends.Builder in GoMLX v0.26.0.
type prefixBroadcaster interface {
	Broadcast(x backends.Op, prefixDims ...int) (backends.Op, error)
}

// Add implements backends.Builder (see broadcastBinary).
func (b *Builder) Add(lhs, rhs backends.Op) (backends.Op, error) {
	return b.broadcastBinary(b.Builder.Add, true, lhs, rhs)
}

// Mul implements backends.Builder (see broadcastBinary).
func (b *Builder) Mul(lhs, rhs backends.Op) (backends.Op, error) {
	if f, ok := b.fusedMaskedGrad(lhs, rhs); ok { // fusedact.go
		return f, nil
	}
	if f, ok := b.fusedMaskedGrad(rhs, lhs); ok {
		return f, nil
	}
	if op, ok := b.adderMul(lhs, rhs); ok { // adderexec.go
		return op, nil
	}
	op, err := b.broadcastBinary(b.Builder.Mul, true, lhs, rhs)
	if err == nil {
		b.rememberScale(op, lhs, rhs) // fusedact.go
	}
	return op, err
}

// Sub implements backends.Builder (see broadcastBinary).
func (b *Builder) Sub(lhs, rhs backends.Op) (backends.Op, error) {
	if op, ok := b.adderSub(lhs, rhs); ok { // adderexec.go
		return op, nil
	}
	return b.broadcastBinary(b.Builder.Sub, false, lhs, rhs)
}

// Div implements backends.Builder (see broadcastBinary).
func (b *Builder) Div(lhs, rhs backends.Op) (backends.Op, error) {
	op, err := b.broadcastBinary(b.Builder.Div, false, lhs, rhs)
	if err == nil {
		b.rememberQuotient(op, lhs, rhs) // fusedact.go
	}
	return op, err
}

// Max implements backends.Builder (see broadcastBinary).
func (b *Builder) Max(lhs, rhs backends.Op) (backends.Op, error) {
	op, err := b.broadcastBinary(b.Builder.Max, true, lhs, rhs)
	if err == nil {
		b.rememberMax(op, lhs, rhs) // fusedact.go
	}
	return op, err
}

// Min implements backends.Builder (see broadcastBinary).
func (b *Builder) Min(lhs, rhs backends.Op) (backends.Op, error) {
	if f, ok := b.fusedClip(lhs, rhs); ok { // fusedact.go
		return f, nil
	}
	if f, ok := b.fusedClip(rhs, lhs); ok {
		return f, nil
	}
	return b.broadcastBinary(b.Builder.Min, true, lhs, rhs)
}

// Identity implements backends.Builder: the operand itself. graph.StopGradient and
// graph.IdentityWithCustomGradient are Identity ops, which SimpleGo executes as a full copy whenever the operand
// is still needed elsewhere (the operators' custom gradients put several on every activation); the graph-level
// nodes stay distinct, so gradients are unaffected. Compile re-inserts a real Identity where an output would
// otherwise appear twice.
func (b *Builder) Identity(x backends.Op) (backends.Op, error) {
	if !b.fastOps {
		return b.Builder.Identity(x)
	}
	if _, err := b.OpShape(x); err != nil {
		return b.Builder.Identity(x) // let SimpleGo report it
	}
	return x, nil
}

// distinctOutputs replaces repeated outputs with SimpleGo Identity copies: SimpleGo hands out each node's
// buffer once, so the same op twice among the outputs would fail (Identity no longer makes a new op).
func (b *Builder) distinctOutputs(outputs []backends.Op) ([]backends.Op, error) {
	seen := make(map[backends.Op]bool, len(outputs))
	var res []backends.Op
	for i, o := range outputs {
		if !seen[o] {
			seen[o] = true
			continue
		}
		if res == nil {
			res = append([]backends.Op(nil), outputs...)
		}
		c, err := b.Builder.Identity(o)
		if err != nil {
			return nil, err
		}
		res[i] = c
	}
	if res == nil {
		return outputs, nil
	}
	return res, nil
}
