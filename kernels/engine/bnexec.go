package engine

import (
	"math"
	_ "unsafe" // go:linkname

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/pkg/errors"

	"github.com/shiftaddaug/shiftaddaug/kernels/engine/gemm"
)

// Fused batch normalisation: the backend ops BatchNormForTraining and BatchNormGradient (XLA's batch_norm_training
// and batch_norm_grad), which SimpleGo lacks, for float32 and float64 with the feature axis last (NHWC or [N, C]).
//
// Built from elementwise ops (kernels/norm's portable formulation), one batch norm is about 15 graph ops forward and
// 25 backward, each a pass over the activations, several preceded by a Broadcast of a per-channel operand to the full
// shape; at res 96 these passes were over half of a training step (BENCH.md). Here the forward is three passes (the
// column sums, the column sums of squared deviations, then y = a·(x−mean) + β), computed exactly as the composed
// formulation computes them (batchNormTraining), and the gradient two (Σdy and Σdy·(x−mean), then
// dx = k1·dy + k2·(x−mean) + k3). GoMLX's graph package already differentiates BatchNormForTraining with
// BatchNormGradient.
//
// The gradient's sums are accumulated in float32 over fixed blocks of rows (8 channels per register) around the mean,
// and the blocks added in float64 in order: results do not depend on the number of cores. They differ from the
// composed gradient's by float rounding only.

//go:linkname simplegoNewMultiOutputsNode github.com/gomlx/gomlx/backends/simplego.(*Builder).newMultiOutputsNode
func simplegoNewMultiOutputsNode(b *simplego.Builder, opType backends.OpType, outputShapes []shapes.Shape,
	inputs ...*simplego.Node) *simplego.Node

//go:linkname simplegoMultiOutputsNodeExecutors github.com/gomlx/gomlx/backends/simplego.multiOutputsNodeExecutors
var simplegoMultiOutputsNodeExecutors [backends.OpTypeLast]multiOutputExecutor

// multiOutputExecutor is SimpleGo's executor signature for multi-output ops (simplego.nodeMultiOutputExecutor).
type multiOutputExecutor func(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer,
	inputsOwned []bool) ([]*simplego.Buffer, error)

// bnParams is the data of a fused batch-norm node.
type bnParams struct {
	epsilon float64
}

// installBatchNormExecutors puts the fused batch-norm executors into SimpleGo's multi-output table (SimpleGo has
// none for these ops; only this engine's builder creates such nodes).
func installBatchNormExecutors() {
	simplegoMultiOutputsNodeExecutors[backends.OpTypeBatchNormForTraining] = batchNormTrainingExecutor
	simplegoMultiOutputsNodeExecutors[backends.OpTypeBatchNormGradient] = batchNormGradientExecutor
}

// fusedBatchNormShapes checks the operands of a fused batch norm: x float32/float64 of rank >= 2 with the feature
// axis last, and each per-channel operand [C] of x's dtype. It returns the SimpleGo nodes.
func (b *Builder) fusedBatchNormNodes(op string, featureAxis int, x backends.Op, perChannel ...backends.Op) (
	*simplego.Builder, []*simplego.Node, error) {
	sb, ok := b.Builder.(*simplego.Builder)
	if !ok || !b.fusedBN {
		return nil, nil, errors.Errorf("%s: fused batch norm is off in this engine", op)
	}
	xs, err := b.OpShape(x)
	if err != nil {
		return nil, nil, err
	}
	if xs.DType != dtypes.Float32 && xs.DType != dtypes.Float64 {
		return nil, nil, errors.Errorf("%s: the engine's fused batch norm takes float32 or float64, got %s", op, xs)
	}
	if xs.Rank() < 2 || (featureAxis != xs.Rank()-1 && featureAxis != -1) {
		return nil, nil, errors.Errorf("%s: the engine's fused batch norm needs the feature axis last, got axis %d of %s",
			op, featureAxis, xs)
	}
	c := xs.Dimensions[xs.Rank()-1]
	nodes := []*simplego.Node{x.(*simplego.Node)}
	for i, p := range perChannel {
		ps, err := b.OpShape(p)
		if err != nil {
			return nil, nil, err
		}
		if ps.DType != xs.DType || ps.Rank() != 1 || ps.Dimensions[0] != c {
			return nil, nil, errors.Errorf("%s: per-channel operand #%d must be [%d] %s, got %s", op, i+1, c, xs.DType, ps)
		}
		nodes = append(nodes, p.(*simplego.Node))
	}
	return sb, nodes, nil
}

// BatchNormForTraining implements backends.Builder (see the top of this file); featureAxis must be the last.
func (b *Builder) BatchNormForTraining(operand, scale, offset backends.Op, epsilon float32, featureAxis int) (
	normalized, batchMean, batchVariance backends.Op, err error) {
	sb, nodes, err := b.fusedBatchNormNodes("BatchNormForTraining", featureAxis, operand, scale, offset)
	if err != nil {
		return nil, nil, nil, err
	}
	xs := nodeOf(nodes[0]).shape
	cs := nodeOf(nodes[1]).shape
	n := simplegoNewMultiOutputsNode(sb, backends.OpTypeBatchNormForTraining, []shapes.Shape{xs, cs, cs}, nodes...)
	nodeOf(n).data = &bnParams{epsilon: float64(epsilon)}
	outs := nodeOf(n).multiOutputsNodes
	return outs[0], outs[1], outs[2], nil
}

// BatchNormGradient implements backends.Builder (see the top of this file); featureAxis must be the last.
func (b *Builder) BatchNormGradient(operand, scale, mean, variance, gradOutput backends.Op, epsilon float32,
	featureAxis int) (gradOperand, gradScale, gradOffset backends.Op, err error) {
	sb, nodes, err := b.fusedBatchNormNodes("BatchNormGradient", featureAxis, operand, scale, mean, variance)
	if err != nil {
		return nil, nil, nil, err
	}
	xs := nodeOf(nodes[0]).shape
	gs, err := b.OpShape(gradOutput)
	if err != nil {
		return nil, nil, nil, err
	}
	if !gs.Equal(xs) {
		return nil, nil, nil, errors.Errorf("BatchNormGradient: gradOutput %s must have the operand's shape %s", gs, xs)
	}
	nodes = append(nodes, gradOutput.(*simplego.Node))
	cs := nodeOf(nodes[1]).shape
	n := simplegoNewMultiOutputsNode(sb, backends.OpTypeBatchNormGradient, []shapes.Shape{xs, cs, cs}, nodes...)
	nodeOf(n).data = &bnParams{epsilon: float64(epsilon)}
	outs := nodeOf(n).multiOutputsNodes
	return outs[0], outs[1], outs[2], nil
}

// bnInference is the data of a fused BatchNormForInference node (a fusedOpType node: one output).
type bnInference struct {
	epsilon float64
}

// BatchNormForInference implements backends.Builder: y = a·(x − mean) + offset with a = scale/√(variance + ε) per
// channel, one pass over x. The composed formulation (norm.NormalizeWith: Sub, Mul and Add, each after a
// Broadcast of its per-channel operand) made six passes over every evaluated activation. The values are the
// composed ones: a is rounded as there ((1/√(v+ε))·scale) and y is a subtraction, a product and a sum, each rounded.
func (b *Builder) BatchNormForInference(operand, scale, offset, mean, variance backends.Op, epsilon float32,
	featureAxis int) (backends.Op, error) {
	_, nodes, err := b.fusedBatchNormNodes("BatchNormForInference", featureAxis, operand, scale, offset, mean, variance)
	if err != nil {
		return nil, err
	}
	return b.newFusedNode(nodeOf(nodes[0]).shape, &bnInference{epsilon: float64(epsilon)},
		operand, scale, offset, mean, variance), nil
}

// batchNormInferenceExec runs a BatchNormForInference node (inputs x, scale, offset, mean, variance), writing over x
// when SimpleGo no longer needs it.
func batchNormInferenceExec(backend *simplego.Backend, n *nodeLayout, p *bnInference, inputs []*simplego.Buffer,
	owned []bool) *simplego.Buffer {
	per := [4]*simplego.Buffer{inputs[1], inputs[2], inputs[3], inputs[4]}
	x := bufferOf(inputs[0]).flat
	out := outputOverFirst(backend, n, inputs, owned)
	fastExecRuns.Add(1)
	if x32, ok := x.([]float32); ok {
		batchNormInference(bufferOf(out).flat.([]float32), x32, bufferOf(per[0]).flat.([]float32),
			bufferOf(per[1]).flat.([]float32), bufferOf(per[2]).flat.([]float32), bufferOf(per[3]).flat.([]float32),
			p.epsilon)
	} else {
		batchNormInference(bufferOf(out).flat.([]float64), x.([]float64), bufferOf(per[0]).flat.([]float64),
			bufferOf(per[1]).flat.([]float64), bufferOf(per[2]).flat.([]float64), bufferOf(per[3]).flat.([]float64),
			p.epsilon)
	}
	return out
}

// batchNormInference sets y = a·(x − mean) + offset, a = (1/√(variance + ε))·scale, over the rows of x ([rows, C]).
func batchNormInference[T float32 | float64](y, x, scale, offset, mean, variance []T, eps float64) {
	a := make([]T, len(scale))
	for j := range a {
		a[j] = (1 / T(math.Sqrt(float64(variance[j]+T(eps))))) * scale[j]
	}
	affineRows(y, x, nil, a, mean, nil, offset, len(a))
}

// batchNormTrainingExecutor: inputs x, scale, offset; outputs y, mean, biased variance.
func batchNormTrainingExecutor(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer,
	_ []bool) ([]*simplego.Buffer, error) {
	p, ok := nodeOf(node).data.(*bnParams)
	if !ok {
		return nil, errors.New("BatchNormForTraining: node was not built by the shiftaddaug engine")
	}
	x := bufferOf(inputs[0])
	c := x.shape.Dimensions[x.shape.Rank()-1]
	cs := shapes.Make(x.shape.DType, c)
	outs := []*simplego.Buffer{simplegoGetBufferForShape(backend, x.shape),
		simplegoGetBufferForShape(backend, cs), simplegoGetBufferForShape(backend, cs)}
	fastExecRuns.Add(1)
	if x.shape.DType == dtypes.Float32 {
		batchNormTraining(x.flat.([]float32), bufferOf(inputs[1]).flat.([]float32), bufferOf(inputs[2]).flat.([]float32),
			p.epsilon, bufferOf(outs[0]).flat.([]float32), bufferOf(outs[1]).flat.([]float32),
			bufferOf(outs[2]).flat.([]float32))
	} else {
		batchNormTraining(x.flat.([]float64), bufferOf(inputs[1]).flat.([]float64), bufferOf(inputs[2]).flat.([]float64),
			p.epsilon, bufferOf(outs[0]).flat.([]float64), bufferOf(outs[1]).flat.([]float64),
			bufferOf(outs[2]).flat.([]float64))
	}
	return outs, nil
}

// batchNormGradientExecutor: inputs x, scale, mean, variance, dy; outputs dx, dscale, doffset. dx is written over dy
// when SimpleGo says dy's buffer is no longer needed.
func batchNormGradientExecutor(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer,
	owned []bool) ([]*simplego.Buffer, error) {
	p, ok := nodeOf(node).data.(*bnParams)
	if !ok {
		return nil, errors.New("BatchNormGradient: node was not built by the shiftaddaug engine")
	}
	x := bufferOf(inputs[0])
	c := x.shape.Dimensions[x.shape.Rank()-1]
	cs := shapes.Make(x.shape.DType, c)
	var dx *simplego.Buffer
	if owned[4] {
		dx, inputs[4] = inputs[4], nil
	} else {
		dx = simplegoGetBufferForShape(backend, x.shape)
	}
	dy := bufferOf(dx)
	if inputs[4] != nil {
		dy = bufferOf(inputs[4])
	}
	outs := []*simplego.Buffer{dx, simplegoGetBufferForShape(backend, cs), simplegoGetBufferForShape(backend, cs)}
	fastExecRuns.Add(1)
	if x.shape.DType == dtypes.Float32 {
		batchNormGradient(x.flat.([]float32), bufferOf(inputs[1]).flat.([]float32), bufferOf(inputs[2]).flat.([]float32),
			bufferOf(inputs[3]).flat.([]float32), dy.flat.([]float32), p.epsilon, bufferOf(outs[0]).flat.([]float32),
			bufferOf(outs[1]).flat.([]float32), bufferOf(outs[2]).flat.([]float32))
	} else {
		batchNormGradient(x.flat.([]float64), bufferOf(inputs[1]).flat.([]float64), bufferOf(inputs[2]).flat.([]float64),
			bufferOf(inputs[3]).flat.([]float64), dy.flat.([]float64), p.epsilon, bufferOf(outs[0]).flat.([]float64),
			bufferOf(outs[1]).flat.([]float64), bufferOf(outs[2]).flat.([]float64))
	}
	return outs, nil
}

// bnBlockRows is the number of rows whose gradient moments one worker sums in T; the blocks' sums are then added
// in float64 in order, so the result does not depend on how the blocks were spread over cores.
const bnBlockRows = 256

// gradientSums returns, per channel j < len(k) of the [rows, stride] data x and dy, Σ dy and Σ dy·(x−k) over the
// rows (k: the mean). They are summed in T within blocks of bnBlockRows rows, 8 channels at a time
// (vecGradMoments32/8 where the CPU has AVX2 and C is a multiple of 8, the same arithmetic in Go otherwise), and the
// blocks in float64. The work is split into tiles of one block by four strips of 8 channels, so that a layer of
// few rows and many channels (the head's, at 1x1) still has tiles for both cores and each call many rows.
func gradientSums[T float32 | float64](x, dy []T, k []T, stride int) (s1, s2 []float64) {
	c := len(k)
	rows := len(x) / stride
	blocks := (rows + bnBlockRows - 1) / bnBlockRows
	strips := (c + 7) / 8
	groups := (strips + 3) / 4
	partial := make([]T, 16*strips*blocks) // per block and strip of 8 channels: 8 sums of dy, 8 of dy·(x−k)
	x32, vec := any(x).([]float32)
	vec = vec && hasVec && !noVec
	parallelFor(blocks*groups, 2*rows*c, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			blk, st0 := t/groups, 4*(t%groups)
			r0, r1 := blk*bnBlockRows, min(rows, (blk+1)*bnBlockRows)
			if j0 := 8 * st0; vec && j0+32 <= c {
				// Four full strips at once: the same sums, with the additions' latency hidden.
				vecGradMoments32(any(partial[16*(blk*strips+st0):16*(blk*strips+st0+4)]).([]float32),
					any(k[j0:j0+32]).([]float32), x32[r0*stride+j0:], any(dy).([]float32)[r0*stride+j0:], stride, r1-r0)
				continue
			}
			for st := st0; st < min(strips, st0+4); st++ {
				j0 := 8 * st
				p := partial[16*(blk*strips+st) : 16*(blk*strips+st+1)]
				gradientStrip(p, k[j0:min(c, j0+8)], x[r0*stride+j0:], dy[r0*stride+j0:], stride, r1-r0)
			}
		}
	})
	s1, s2 = make([]float64, c), make([]float64, c)
	for blk := range blocks {
		for st := range strips {
			p := partial[16*(blk*strips+st) : 16*(blk*strips+st+1)]
			for j := range min(8, c-8*st) {
				s1[8*st+j] += float64(p[j])
				s2[8*st+j] += float64(p[8+j])
			}
		}
	}
	return s1, s2
}

// gradientStrip adds one strip of len(k) <= 8 channels over rows rows of x and dy (row stride c) into p (see
// gradientSums).
func gradientStrip[T float32 | float64](p, k, x, dy []T, c, rows int) {
	if x32, ok := any(x).([]float32); ok && len(k) == 8 && hasVec && !noVec {
		vecGradMoments8(any(p).([]float32), any(k).([]float32), x32, any(dy).([]float32), c, rows)
		return
	}
	w := len(k)
	for r := range rows {
		row, drow := x[r*c:r*c+w], dy[r*c:r*c+w]
		for j, v := range row {
			g := drow[j]
			p[j] += g
			p[8+j] += T(g * (v - k[j]))
		}
	}
}

// affineRows sets z = a·(x−m) + b per channel (a, m, b of length C, rows stride apart); with y non-nil,
// z = (a·(x−m) + e·y) + b. The mean m is taken off first: x·a − m·a would cancel for a mean far from zero (adder
// layers' outputs). z may alias y. float32 rows of a multiple of 8 channels run on vecAffineRows(2) where the CPU
// has AVX2, with the same bits.
func affineRows[T float32 | float64](z, x, y, a, m, e, b []T, stride int) {
	c := len(a)
	rows := len(z) / stride
	vec := c%8 == 0 && hasVec && !noVec
	parallelFor(rows, rows*c, func(lo, hi int) {
		// Contiguous rows are one span; rows of a prefix of the channels (stride > c) one span each.
		span, spans := (hi-lo)*c, 1
		if stride != c {
			span, spans = c, hi-lo
		}
		for s := range spans {
			i0 := (lo + s) * stride
			xs, zs := x[i0:i0+span], z[i0:i0+span]
			var ys []T
			if y != nil {
				ys = y[i0 : i0+span]
			}
			if z32, ok := any(zs).([]float32); ok && vec {
				x32, a32, m32, b32 := any(xs).([]float32), any(a).([]float32), any(m).([]float32), any(b).([]float32)
				if y == nil {
					vecAffineRows(z32, x32, a32, m32, b32)
				} else {
					vecAffineRows2(z32, x32, any(ys).([]float32), a32, m32, any(e).([]float32), b32)
				}
				continue
			}
			for i := 0; i < len(xs); i += c {
				row, out := xs[i:i+c], zs[i:i+c]
				if y == nil {
					for j, v := range row {
						out[j] = T(a[j]*(v-m[j])) + b[j]
					}
					continue
				}
				yrow := ys[i : i+c]
				for j, v := range row {
					out[j] = T(T(a[j]*(v-m[j]))+T(e[j]*yrow[j])) + b[j]
				}
			}
		}
	})
}

// usedChannels is the number of leading channels of the [rows, c] data outside which every value of every operand
// is zero, rounded up to a multiple of 8 (at most c). The augmented pass masks channels as prefixes and its
// weights too (pkg/models' maskWeight), so an inactive channel reaches its batch norm as exact zeros, forward and
// backward: its batch statistics are zero, its output is β, its gradients zero, all without reading it again.
// The scan reads each row from the end down to the widest used channel seen so far.
func usedChannels[T float32 | float64](c int, data ...[]T) int {
	if noZeroTails {
		return c
	}
	used := 0
	for _, x := range data {
		used = max(used, usedBelow(x, c, c))
	}
	return min(c, (used+7)&^7)
}

// usedBelow is the number of leading channels among the first limit of the [rows, c] data x outside which x is
// zero there.
func usedBelow[T float32 | float64](x []T, c, limit int) int {
	if x32, ok := any(x).([]float32); ok {
		return gemm.UsedColumns(x32, c, limit)
	}
	used := 0
	for i := 0; i+c <= len(x) && used < limit; i += c {
		for j := limit - 1; j >= used; j-- {
			if x[i+j] != 0 {
				used = j + 1
				break
			}
		}
	}
	return used
}

// noZeroTails switches off the skipping of zero channels (usedChannels), for the tests that compare the two.
var noZeroTails bool

// batchNormTraining normalises x ([rows, C]) with its batch mean and biased variance, then scales and shifts, with
// the operations of kernels/norm's composed formulation in the same order and precision (so float32 results are
// SimpleGo's bits for that formulation):
//
//	mean = (Σ x)·(1/n), var = (Σ (x−mean)²)·(1/n), each sum in row order from +0;
//	a = γ·(1/√(var+ε)); y = a·(x−mean) + β.
//
// Following the reference bit for bit matters for what comes next: a ReLU after the batch norm decides its gradient
// mask by the sign of y, and in channels whose spread is far below √ε (common at 1×1 spatial size) a mean one ulp
// away flips the mask of a sample sitting on it, which the 1/√(var+ε) factor then turns into a large gradient change.
func batchNormTraining[T float32 | float64](x, scale, offset []T, eps float64, y, mean, variance []T) {
	c := len(scale)
	rows := len(x) / c
	cu := usedChannels(c, x)
	// Channels past cu are zero: mean and variance 0, y = a·(0−0) + β = β.
	clear(mean[cu:])
	clear(variance[cu:])
	if cu < c {
		parallelFor(rows, len(x)-rows*cu, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				copy(y[r*c+cu:(r+1)*c], offset[cu:])
			}
		})
	}
	invN := T(1 / float64(rows))
	columnSums(mean[:cu], x, nil, rows, c)
	for j := range cu {
		mean[j] *= invN
	}
	columnSums(variance[:cu], x, mean, rows, c)
	a := make([]T, cu)
	for j := range cu {
		variance[j] *= invN
		sd := T(math.Sqrt(float64(variance[j] + T(eps))))
		a[j] = (1 / sd) * scale[j]
	}
	affineRows(y, x, nil, a, mean[:cu], nil, offset[:cu], c)
}

// columnSums sets z[j] = Σ_r x[r,j] (m nil) or Σ_r (x[r,j] − m[j])² over the rows of x ([rows, stride]) and its
// first len(z) columns, each in row order from +0 (vecColSum and vecColSqDiff where the CPU has AVX2, 8 columns and
// more at a time), with groups of columns on separate cores.
func columnSums[T float32 | float64](z, x, m []T, rows, stride int) {
	c := len(z)
	if c == 0 {
		return
	}
	clear(z)
	groups := 1
	if c >= 16 && c%8 == 0 {
		groups = min(c/8, 4)
	}
	parallelFor(groups, len(x), func(lo, hi int) {
		j0, j1 := c*lo/groups&^7, c*hi/groups&^7
		if hi == groups {
			j1 = c
		}
		done := j0
		if z32, ok := any(z).([]float32); ok && hasVec && !noVec {
			x32 := any(x).([]float32)
			w := (j1 - j0) &^ 7
			if m == nil {
				vecColSum(z32[j0:j0+w], x32[j0:], stride, rows)
			} else {
				vecColSqDiff(z32[j0:j0+w], x32[j0:], any(m).([]float32)[j0:], stride, rows)
			}
			done = j0 + w
		}
		for r := range rows {
			row := x[r*stride : r*stride+c]
			for j := done; j < j1; j++ {
				if m == nil {
					z[j] += row[j]
				} else {
					d := row[j] - m[j]
					z[j] += T(d * d)
				}
			}
		}
	})
}

// batchNormGradient is the gradient of batchNormTraining's y (given mean and variance) with respect to x, scale
// and offset, including the paths through the batch statistics:
//
//	doffset = Σdy, dscale = Σdy·x̂, dx = scale/σ · (dy − doffset/n − x̂·dscale/n), x̂ = (x−mean)/σ, σ = √(var+ε),
//
// computed as dx = k1·dy + k2·(x−mean) + k3. dx may alias dy.
func batchNormGradient[T float32 | float64](x, scale, mean, variance, dy []T, eps float64, dx, dscale, doffset []T) {
	c := len(scale)
	rows := len(x) / max(1, c)
	// Only dy is scanned: where dy's channel is zero, its sums s1 = Σdy and s2 = Σdy·(x−mean) are zero whatever x
	// holds, so dx = k1·0 + 0·(x−mean) + 0, dscale and doffset are all zero there too.
	cu := usedChannels(c, dy)
	clear(dscale[cu:])
	clear(doffset[cu:])
	if cu < c {
		parallelFor(rows, len(x)-rows*cu, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				clear(dx[r*c+cu : (r+1)*c])
			}
		})
	}
	s1, s2 := gradientSums(x, dy, mean[:cu], c)
	n := float64(max(1, rows))
	k1, k2, k3 := make([]T, cu), make([]T, cu), make([]T, cu)
	for j := range cu {
		inv := 1 / math.Sqrt(float64(variance[j])+eps)
		doffset[j], dscale[j] = T(s1[j]), T(s2[j]*inv)
		g := float64(scale[j]) * inv
		c2 := -g * inv * inv * s2[j] / n
		k1[j], k2[j], k3[j] = T(g), T(c2), T(-g*s1[j]/n)
	}
	affineRows(dx, x, dy, k2, mean[:cu], k1, k3, c)
}
