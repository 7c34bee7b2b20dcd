package engine

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"

	"github.com/shiftaddaug/shiftaddaug/kernels/engine/gemm"
)

// DotGeneral on the blocked, parallel gemm package (an assembly micro-kernel on AVX2 machines) instead of SimpleGo's
// scalar kernels: float32, no batch axes, and each operand's contracting axes either all leading or all trailing
// (in order), so the operand is a row-major matrix or its transpose without a copy. That covers every matrix
// product of these networks: kernels.FastContract's forward pass and both gradients, im2col convs and the
// classifier. SimpleGo's path transposes the operands that contract on leading axes, copies both into blocks,
// zero-fills the output and sums with scalar Go code; this one packs small blocks and writes the output once.
//
// The product skips the operands' zero tails (gemm.MulTrimmed): the augmented pass masks channels as prefixes, so
// its 1x1 convs over the wide tensors would otherwise multiply the inactive channels' zeros, which made the widest
// network's cost paid every step whatever NetAug drew.
//
// Unlike the other executors, this one is not bit-identical to SimpleGo: FMA rounds once per product-add, and the
// summation order differs (each output sums its products in increasing index, per block of 256; see package gemm).
// The results do not depend on the number of cores. The conformance test compares with SimpleGo within float32
// tolerance.

// dotLayout mirrors simplego.dotGeneralNodeData, the data of a DotGeneral node.
type dotLayout struct {
	lhsContractingAxes, lhsBatchAxes                       []int
	rhsContractingAxes, rhsBatchAxes                       []int
	batchSize, lhsCrossSize, rhsCrossSize, contractingSize int
	lhsBlockedShape, rhsBlockedShape, outputBlockedShape   shapes.Shape
}

// dotNodeType is the dynamic type of a DotGeneral node's data, learnt from a probe graph.
var dotNodeType reflect.Type

func dotOf(data any) *dotLayout {
	return (*dotLayout)((*[2]unsafe.Pointer)(unsafe.Pointer(&data))[1])
}

// probeDotData checks the layout of a DotGeneral node's data.
func probeDotData() error {
	data, t, err := probeNodeData("DotGeneral", reflect.TypeFor[dotLayout](), [][]int{{2, 3, 5}, {5, 7}},
		func(b backends.Builder, p []backends.Op) (backends.Op, error) {
			return b.DotGeneral(p[0], []int{2}, nil, p[1], []int{0}, nil)
		})
	if err != nil {
		return err
	}
	d := dotOf(data)
	if got := fmt.Sprint(d.lhsContractingAxes, d.lhsBatchAxes, d.rhsContractingAxes, d.rhsBatchAxes, d.batchSize,
		d.lhsCrossSize, d.rhsCrossSize, d.contractingSize); got != "[2] [] [0] [] 1 6 7 5" {
		return fmt.Errorf("SimpleGo's DotGeneral node data reads as %s", got)
	}
	dotNodeType = t
	return nil
}

// contractingSide reports whether axes are the leading (trans: the operand is stored [K, cross]) or the trailing
// (stored [cross, K]) axes of a rank-r operand, in increasing order.
func contractingSide(axes []int, rank int) (trans, ok bool) {
	n := len(axes)
	if n == 0 || n > rank {
		return false, false
	}
	leading, trailing := true, true
	for i, a := range axes {
		leading = leading && a == i
		trailing = trailing && a == rank-n+i
	}
	if leading && trailing { // every axis contracts: a vector, either way
		return false, true
	}
	return leading, leading || trailing
}

func dotExecutor(stock nodeExecutor) nodeExecutor {
	return func(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (
		*simplego.Buffer, error) {
		n := nodeOf(node)
		if flags, ok := flagsOf(backend); !ok || flags.noGemm || n.shape.DType != dtypes.Float32 || reflect.TypeOf(n.data) != dotNodeType {
			return stock(backend, node, inputs, owned)
		}
		d := dotOf(n.data)
		lhs, rhs := bufferOf(inputs[0]), bufferOf(inputs[1])
		if len(d.lhsBatchAxes) != 0 || len(d.rhsBatchAxes) != 0 {
			return stock(backend, node, inputs, owned)
		}
		// op(A) is [lhsCross, K]: stored so unless the contracting axes lead. op(B) is [K, rhsCross]: stored so
		// when the contracting axes lead (gemm's B.Trans means stored [N, K]).
		aTrans, okA := contractingSide(d.lhsContractingAxes, lhs.shape.Rank())
		bLead, okB := contractingSide(d.rhsContractingAxes, rhs.shape.Rank())
		if !okA || !okB {
			return stock(backend, node, inputs, owned)
		}
		fastExecRuns.Add(1)
		out := simplegoGetBufferForShape(backend, n.shape)
		gemm.MulTrimmed(d.lhsCrossSize, d.rhsCrossSize, d.contractingSize,
			gemm.Matrix{Data: lhs.flat.([]float32), Trans: aTrans},
			gemm.Matrix{Data: rhs.flat.([]float32), Trans: !bLead},
			bufferOf(out).flat.([]float32))
		return out, nil
	}
}
