package engine

import (
	"math"
	"sync/atomic"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Fused adder products (AdderNet), recognised by the builder like the activations of fusedact.go. For p [M, K],
// w [K, O], v [M, O], float32, the canonical formulations
//
//	distance:  ReduceSum(Abs(Sub(Reshape(p, M, K, 1), Reshape(w, 1, K, O))), axis 1)                 → [M, O]
//	gradient:  ReduceSum(Mul(Clip(Sub(Reshape(w, 1, K, O), Reshape(p, M, K, 1)), lo, hi),
//	                         Reshape(v, M, 1, O)), axis 2)                                          → [M, K]
//
// (kernels.AddMatMul on a FusedAdderer) become one node each, computing s[m,o] = Σ_k |p[m,k] − w[k,o]| and
// dp[m,k] = Σ_o v[m,o]·clip(w[k,o] − p[m,k], lo, hi) directly, without the [M, K, O] intermediates, which are
// never executed. Each output sums its terms in increasing k (o), from +0; the AVX kernels (adder_amd64.s) give the
// same bits as the Go loops here.

// fusedAdder is the data of a fused adder node: inputs (p, w) for the distance, (p, w, v) for the gradient.
type fusedAdder struct {
	grad   bool
	lo, hi float32
}

// adderOperands are the p and w of a recognised [M, K, O] intermediate, with the clip bounds and v as they come.
type adderOperands struct {
	p, w, v  backends.Op
	reversed bool // Sub(w, p) rather than Sub(p, w)
	clipped  bool
	lo, hi   float32
}

// reshapeSource returns the operand of a Reshape node and the shapes of both.
func (b *Builder) reshapeSource(op backends.Op) (src backends.Op, from, to shapes.Shape, ok bool) {
	n, isNode := op.(*simplego.Node)
	if !isNode || nodeOf(n).opType != backends.OpTypeReshape || len(nodeOf(n).inputs) != 1 {
		return nil, from, to, false
	}
	src = nodeOf(n).inputs[0]
	return src, nodeOf(nodeOf(n).inputs[0]).shape, nodeOf(n).shape, true
}

// adderSub recognises Sub(Reshape(p → [M,K,1]), Reshape(w → [1,K,O])) (or reversed) and returns the SimpleGo Sub
// node (never executed) after remembering its operands.
func (b *Builder) adderSub(lhs, rhs backends.Op) (backends.Op, bool) {
	if b.acts == nil {
		return nil, false
	}
	l, lFrom, lTo, ok1 := b.reshapeSource(lhs)
	r, rFrom, rTo, ok2 := b.reshapeSource(rhs)
	if !ok1 || !ok2 || lTo.DType != dtypes.Float32 || rTo.DType != dtypes.Float32 || lTo.Rank() != 3 ||
		rTo.Rank() != 3 || lFrom.Rank() != 2 || rFrom.Rank() != 2 {
		return nil, false
	}
	isP := func(from, to shapes.Shape) bool { // [M, K] → [M, K, 1]
		return to.Dimensions[2] == 1 && to.Dimensions[0] == from.Dimensions[0] && to.Dimensions[1] == from.Dimensions[1]
	}
	isW := func(from, to shapes.Shape) bool { // [K, O] → [1, K, O]
		return to.Dimensions[0] == 1 && to.Dimensions[1] == from.Dimensions[0] && to.Dimensions[2] == from.Dimensions[1]
	}
	var ops adderOperands
	switch {
	case isP(lFrom, lTo) && isW(rFrom, rTo) && lTo.Dimensions[1] == rTo.Dimensions[1]:
		ops = adderOperands{p: l, w: r}
	case isW(lFrom, lTo) && isP(rFrom, rTo) && lTo.Dimensions[1] == rTo.Dimensions[1]:
		ops = adderOperands{p: r, w: l, reversed: true}
	default:
		return nil, false
	}
	op, err := b.Builder.Sub(lhs, rhs) // a valid node of the [M, K, O] difference, in case anything else reads it
	if err != nil {
		return nil, false
	}
	b.acts.adder[op] = ops
	return op, true
}

// Abs implements backends.Builder: SimpleGo's, remembering |p − w| of a recognised difference.
func (b *Builder) Abs(x backends.Op) (backends.Op, error) {
	op, err := b.Builder.Abs(x)
	if err == nil && b.acts != nil {
		if a, ok := b.acts.adder[x]; ok && !a.reversed && !a.clipped && a.v == nil {
			b.acts.adderAbs[op] = a
		}
	}
	return op, err
}

// adderClip remembers clip(w − p, lo, hi) of a recognised reversed difference (called by fusedClip).
func (b *Builder) adderClip(clipOp, x backends.Op, lo, hi float32) {
	if a, ok := b.acts.adder[x]; ok && a.reversed && !a.clipped {
		a.clipped, a.lo, a.hi = true, lo, hi
		b.acts.adder[clipOp] = a
	}
}

// adderMul recognises Mul(clip(w − p), Reshape(v → [M,1,O])) (either order).
func (b *Builder) adderMul(lhs, rhs backends.Op) (backends.Op, bool) {
	if b.acts == nil {
		return nil, false
	}
	a, ok := b.acts.adder[lhs]
	vr := rhs
	if !ok {
		a, ok = b.acts.adder[rhs]
		vr = lhs
	}
	if !ok || !a.clipped || a.v != nil {
		return nil, false
	}
	v, from, to, ok := b.reshapeSource(vr)
	ps, _ := b.OpShape(a.p)
	ws, _ := b.OpShape(a.w)
	if !ok || from.Rank() != 2 || to.Rank() != 3 || to.Dimensions[1] != 1 || from.DType != dtypes.Float32 ||
		from.Dimensions[0] != ps.Dimensions[0] || from.Dimensions[1] != ws.Dimensions[1] {
		return nil, false
	}
	op, err := b.Builder.Mul(lhs, rhs)
	if err != nil {
		return nil, false
	}
	a.v = v
	b.acts.adder[op] = a
	return op, true
}

// ReduceSum implements backends.Builder: the fused adder nodes where the reduction completes a recognised
// formulation, SimpleGo's otherwise.
func (b *Builder) ReduceSum(x backends.Op, axes ...int) (backends.Op, error) {
	if b.acts != nil && len(axes) == 1 {
		ps, _ := b.OpShape(x)
		if a, ok := b.acts.adderAbs[x]; ok && axes[0] == 1 {
			out := shapes.Make(dtypes.Float32, ps.Dimensions[0], ps.Dimensions[2])
			return b.newFusedNode(out, &fusedAdder{}, a.p, a.w), nil
		}
		if a, ok := b.acts.adder[x]; ok && a.v != nil && axes[0] == 2 {
			out := shapes.Make(dtypes.Float32, ps.Dimensions[0], ps.Dimensions[1])
			return b.newFusedNode(out, &fusedAdder{grad: true, lo: a.lo, hi: a.hi}, a.p, a.w, a.v), nil
		}
	}
	return b.Builder.ReduceSum(x, axes...)
}

// adderExec runs a fused adder node.
func adderExec(backend *simplego.Backend, n *nodeLayout, p *fusedAdder, inputs []*simplego.Buffer) *simplego.Buffer {
	out := simplegoGetBufferForShape(backend, n.shape)
	z := bufferOf(out).flat.([]float32)
	pb, wb := bufferOf(inputs[0]), bufferOf(inputs[1])
	m, k, o := pb.shape.Dimensions[0], pb.shape.Dimensions[1], wb.shape.Dimensions[1]
	fastExecRuns.Add(1)
	if !p.grad {
		adderRuns[0].Add(1)
		adderDistance(z, pb.flat.([]float32), wb.flat.([]float32), m, k, o)
	} else {
		adderRuns[1].Add(1)
		adderGradient(z, pb.flat.([]float32), wb.flat.([]float32), bufferOf(inputs[2]).flat.([]float32), m, k, o,
			p.lo, p.hi)
	}
	return out
}

func absf(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// adderDistance is s[m,o] = Σ_k |p[m,k] − w[k,o]| for p [M,K], w [K,O], rows split between cores, 4 rows by 8 or
// 16 columns at a time on vecAdderDist4, 32 on vecAdderDist4W where the CPU has AVX-512.
func adderDistance(s, p, w []float32, m, k, o int) {
	vec := hasVec && !noVec
	vec512 := vec && hasVec512 && !noVec512
	parallelFor((m+3)/4, m*k*o, func(lo, hi int) {
		for r := 4 * lo; r < min(m, 4*hi); r += 4 {
			cols := 0
			if vec && r+4 <= m {
				cols = o &^ 7
				wide := 0
				if vec512 {
					wide = o &^ 31
					if wide > 0 {
						vecAdderDist4W(s[r*o:], p[r*k:], w, k, o, wide)
					}
				}
				if cols > wide {
					vecAdderDist4(s[r*o+wide:], p[r*k:], w[wide:], k, o, cols-wide)
				}
			}
			for rr := r; rr < min(m, r+4); rr++ {
				prow, srow := p[rr*k:(rr+1)*k], s[rr*o:(rr+1)*o]
				for c := cols; c < o; c++ {
					acc := float32(0)
					for kk, pv := range prow {
						acc += absf(pv - w[kk*o+c])
					}
					srow[c] = acc
				}
			}
		}
	})
}

// adderGradient is dp[m,k] = Σ_o v[m,o]·clip(w[k,o] − p[m,k], lo, hi) (clip: Go's min(max(·, lo), hi)), 4 rows by
// 8 columns of k at a time on vecAdderGrad4 (which reads w transposed), 16 on vecAdderGrad4W where the CPU has
// AVX-512.
func adderGradient(dp, p, w, v []float32, m, k, o int, lo, hi float32) {
	vec := hasVec && !noVec
	vec512 := vec && hasVec512 && !noVec512
	var wt []float32
	if vec {
		wt = make([]float32, o*k)
		for kk := range k {
			for c := range o {
				wt[c*k+kk] = w[kk*o+c]
			}
		}
	}
	bounds := []float32{lo, hi}
	parallelFor((m+3)/4, m*k*o, func(rlo, rhi int) {
		for r := 4 * rlo; r < min(m, 4*rhi); r += 4 {
			cols := 0
			if vec && r+4 <= m {
				cols = k &^ 7
				wide := 0
				if vec512 {
					wide = k &^ 15
					if wide > 0 {
						vecAdderGrad4W(dp[r*k:], p[r*k:], wt, v[r*o:], k, o, wide, bounds)
					}
				}
				if cols > wide {
					vecAdderGrad4(dp[r*k+wide:], p[r*k+wide:], wt[wide:], v[r*o:], k, o, cols-wide, bounds)
				}
			}
			for rr := r; rr < min(m, r+4); rr++ {
				prow, vrow, drow := p[rr*k:(rr+1)*k], v[rr*o:(rr+1)*o], dp[rr*k:(rr+1)*k]
				for kk := cols; kk < k; kk++ {
					acc := float32(0)
					wrow := w[kk*o : (kk+1)*o]
					for c, vv := range vrow {
						acc += float32(vv * min(max(wrow[c]-prow[kk], lo), hi))
					}
					drow[kk] = acc
				}
			}
		}
	})
}

// adderRuns counts the fused adder distances [0] and gradients [1] run (the tests check both are reached).
var adderRuns [2]atomic.Int64
