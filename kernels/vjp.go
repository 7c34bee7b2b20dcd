package kernels

import (
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// CustomVJP returns a node with the value of output whose gradient with respect to each
// inputs[i] is given by grad(i, v), where v is the adjoint (the gradient of the loss with
// respect to output). output must be computed from the inputs; it is wrapped in a
// StopGradient, so GoMLX's own gradient of whatever built it is never generated (no Pad,
// Reverse or outer-product DotGeneral gradients). grad may return nil for an input that
// needs no gradient.
//
// GoMLX v0.26.0 exposes only the one-input graph.IdentityWithCustomGradient, so the
// multi-input VJP is assembled from it:
//   - each input goes through its own identity-with-custom-gradient t_i, tied to the output
//     by adding 0·Σ t_i[0,…,0] (a scalar: one element of each, not a full reduction, which cost a
//     pass over every activation the operators take), so t_i lies on the path to the loss;
//   - the output goes through an identity whose gradient function records v.
//
// graph.Gradient visits nodes in decreasing id order (a node is always created after its
// inputs, so this is the topological order the algorithm needs, not an accident), which
// guarantees the output identity records v before any t_i's gradient function asks for
// it. Every graph.Gradient call re-records v, so several Gradient calls on one graph work.
// The tie costs a one-element gather per input and one scalar broadcast-add on the output (the
// gradient of the gather, a scatter, is never executed: each t_i's gradient function ignores it);
// a non-finite first element of an input makes the output NaN through 0·Inf (such a network is
// already broken).
func CustomVJP(inputs []*Node, output *Node, grad func(i int, v *Node) *Node) *Node {
	g := output.Graph()
	dtype := output.DType()
	var adjoint *Node
	tie := ScalarZero(g, dtype)
	for i, in := range inputs {
		t := IdentityWithCustomGradient(in, func(_, _ *Node) *Node {
			if adjoint == nil {
				return nil
			}
			return grad(i, adjoint)
		})
		s := firstElement(t)
		if s.DType() != dtype {
			s = ConvertDType(s, dtype)
		}
		tie = Add(tie, s)
	}
	tie = Mul(tie, ScalarZero(g, dtype))
	out := Add(StopGradient(output), tie)
	return IdentityWithCustomGradient(out, func(_, v *Node) *Node {
		adjoint = v
		return v
	})
}

// firstElement returns x's first element (row-major) as a scalar, with a Gather of index (0, …, 0): its gradient
// (a scatter) exists on SimpleGo, whereas Slice's (a Pad) does not. Gathering from x itself rather than from a
// flattened Reshape matters: SimpleGo copies a Reshape's operand whenever another op still needs it, which for the
// activations the operators take was a full copy of each, every step.
func firstElement(x *Node) *Node {
	if x.Rank() == 0 {
		return x
	}
	index := Const(x.Graph(), [][]int32{make([]int32, x.Rank())}) // [1, rank]
	return Reshape(Gather(x, index))                              // [1] → scalar
}

// FastMatMul returns a·b for a [M, K] and b [K, N], with a gradient made of two DotGenerals
// (dA = v·bᵀ, dB = aᵀ·v). GoMLX's stock DotGeneral gradient multiplies broadcast operands
// and reduces, materialising an [M, K, N] tensor; this one never does.
func FastMatMul(a, b *Node) *Node {
	if a.Rank() != 2 {
		panicf("kernels.FastMatMul: want a [M,K] and b [K,N], got %s and %s", a.Shape(), b.Shape())
	}
	return FastContract(a, b)
}

// FastContract returns a·b contracted over a's last axis: a [..., K] and b [K, N] give [..., N], with FastMatMul's
// gradient. It is FastMatMul on a reshaped to [M, K], without the Reshape: SimpleGo copies a Reshape's operand
// when another op still needs it (the input of a 1×1 conv always is, by its own gradient and the layer before),
// and reads a [..., K] operand of DotGeneral as [M, K] without a copy, in the same order (same results).
func FastContract(a, b *Node) *Node {
	r := a.Rank()
	if r < 1 || b.Rank() != 2 || a.Shape().Dimensions[r-1] != b.Shape().Dimensions[0] {
		panicf("kernels.FastContract: want a [...,K] and b [K,N], got %s and %s", a.Shape(), b.Shape())
	}
	lead := make([]int, r-1)
	for i := range lead {
		lead[i] = i
	}
	y := DotGeneral(a, []int{r - 1}, nil, b, []int{0}, nil)
	return CustomVJP([]*Node{a, b}, y, func(i int, v *Node) *Node {
		if i == 0 {
			return DotGeneral(v, []int{r - 1}, nil, b, []int{1}, nil) // [...,N]·[K,N]ᵀ → [...,K]
		}
		return DotGeneral(a, lead, nil, v, lead, nil) // [...,K]ᵀ·[...,N] → [K,N]
	})
}

// zerosDims returns a zero node of x's dtype with the given dimensions.
func zerosDims(x *Node, dims ...int) *Node {
	return Zeros(x.Graph(), shapes.Make(x.DType(), dims...))
}
