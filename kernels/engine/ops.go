package engine

import (
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/pkg/errors"
)

// Pad implements backends.Builder.Pad with SimpleGo ops (Reshape, Concatenate, Slice, BroadcastInDim), with the
// semantics of XLA's Pad: per axis, Interior fill values are first inserted between consecutive elements,
// then Start/End fill values are added at the edges; a negative Start/End removes that many elements
// (of the interior-padded axis) instead. Negative Interior is an error, as in XLA.
//
// graph.Slice's gradient pads with Interior = stride-1, so strided slices (im2col) train through this.
func (b *Builder) Pad(x, fillValue backends.Op, axesConfig ...backends.PadAxis) (backends.Op, error) {
	shape, err := b.OpShape(x)
	if err != nil {
		return nil, errors.WithMessage(err, "Pad")
	}
	fillShape, err := b.OpShape(fillValue)
	if err != nil {
		return nil, errors.WithMessage(err, "Pad")
	}
	if len(axesConfig) > shape.Rank() {
		return nil, errors.Errorf("Pad: %d axes configured for an operand of rank %d (%s)",
			len(axesConfig), shape.Rank(), shape)
	}
	if !fillShape.IsScalar() || fillShape.DType != shape.DType {
		return nil, errors.Errorf("Pad: fill value must be a scalar of the operand's dtype %s, got %s",
			shape.DType, fillShape)
	}
	out := x
	for axis, cfg := range axesConfig {
		if cfg.Interior < 0 {
			return nil, errors.Errorf("Pad: negative interior padding %d on axis %d is not supported", cfg.Interior, axis)
		}
		if cfg.Interior > 0 {
			if out, err = b.padInterior(out, fillValue, axis, cfg.Interior); err != nil {
				return nil, errors.WithMessagef(err, "Pad(interior) axis %d", axis)
			}
		}
		if cfg.Start != 0 || cfg.End != 0 {
			if out, err = b.padEdges(out, fillValue, axis, cfg.Start, cfg.End); err != nil {
				return nil, errors.WithMessagef(err, "Pad(edges) axis %d", axis)
			}
		}
	}
	if out == x {
		// Keep one op per call, as callers may rely on Pad returning a new op.
		return b.Identity(x)
	}
	b.rememberZeroPad(out, x, fillValue, axesConfig)
	return out, nil
}

// padInterior inserts `interior` fill values between consecutive elements of x along axis:
// [..., n, ...] -> [..., n, 1] ++ fill[..., n, interior] -> [..., n*(1+interior), ...] -> drop the trailing fill.
func (b *Builder) padInterior(x, fill backends.Op, axis, interior int) (backends.Op, error) {
	shape, err := b.OpShape(x)
	if err != nil {
		return nil, err
	}
	n := shape.Dimensions[axis]
	if n <= 1 {
		return x, nil
	}
	split := slices.Concat(shape.Dimensions[:axis], []int{n, 1}, shape.Dimensions[axis+1:])
	x2, err := b.Reshape(x, split...)
	if err != nil {
		return nil, err
	}
	fillDims := slices.Clone(split)
	fillDims[axis+1] = interior
	block, err := b.BroadcastInDim(fill, shapes.Make(shape.DType, fillDims...), nil)
	if err != nil {
		return nil, err
	}
	cat, err := b.Concatenate(axis+1, x2, block)
	if err != nil {
		return nil, err
	}
	merged := slices.Clone(shape.Dimensions)
	merged[axis] = n * (1 + interior)
	flat, err := b.Reshape(cat, merged...)
	if err != nil {
		return nil, err
	}
	return b.sliceAxis(flat, merged, axis, 0, (n-1)*(1+interior)+1)
}

// padEdges adds (or, when negative, removes) start/end elements along axis.
func (b *Builder) padEdges(x, fill backends.Op, axis, start, end int) (backends.Op, error) {
	shape, err := b.OpShape(x)
	if err != nil {
		return nil, err
	}
	n := shape.Dimensions[axis]
	lo, hi := 0, n
	if start < 0 {
		lo = -start
	}
	if end < 0 {
		hi = n + end
	}
	if hi < lo {
		return nil, errors.Errorf("negative padding (start=%d, end=%d) removes more than the %d elements of the axis",
			start, end, n)
	}
	if hi > lo && (lo != 0 || hi != n) {
		if x, err = b.sliceAxis(x, shape.Dimensions, axis, lo, hi); err != nil {
			return nil, err
		}
	}
	dims := slices.Clone(shape.Dimensions)
	dims[axis] = hi - lo
	parts := make([]backends.Op, 0, 3)
	fillBlock := func(size int) error {
		blockDims := slices.Clone(dims)
		blockDims[axis] = size
		block, err := b.BroadcastInDim(fill, shapes.Make(shape.DType, blockDims...), nil)
		if err == nil {
			parts = append(parts, block)
		}
		return err
	}
	if start > 0 {
		if err := fillBlock(start); err != nil {
			return nil, err
		}
	}
	switch {
	case hi > lo:
		parts = append(parts, x)
	case start <= 0 && end <= 0:
		// Everything was cut: an empty axis.
		return b.sliceAxis(x, shape.Dimensions, axis, 0, 0)
	}
	if end > 0 {
		if err := fillBlock(end); err != nil {
			return nil, err
		}
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return b.Concatenate(axis, parts...)
}

// sliceAxis returns x[..., lo:hi, ...] along axis, given x's dimensions.
func (b *Builder) sliceAxis(x backends.Op, dims []int, axis, lo, hi int) (backends.Op, error) {
	starts := make([]int, len(dims))
	limits := slices.Clone(dims)
	strides := make([]int, len(dims))
	for i := range strides {
		strides[i] = 1
	}
	starts[axis], limits[axis] = lo, hi
	return b.Slice(x, starts, limits, strides)
}

// Reverse implements backends.Builder.Reverse with one Gather per axis, indices n-1, ..., 0.
// The conv gradient (graph.ConvGeneral's VJP) reverses the kernel's spatial axes.
func (b *Builder) Reverse(x backends.Op, axes ...int) (backends.Op, error) {
	shape, err := b.OpShape(x)
	if err != nil {
		return nil, errors.WithMessage(err, "Reverse")
	}
	rank := shape.Rank()
	seen := make(map[int]bool, len(axes))
	out := x
	for _, axis := range axes {
		if axis < 0 || axis >= rank {
			return nil, errors.Errorf("Reverse: axis %d out of range for shape %s", axis, shape)
		}
		if seen[axis] {
			return nil, errors.Errorf("Reverse: axis %d given twice", axis)
		}
		seen[axis] = true
		if out, err = b.reverseAxis(out, shape, axis); err != nil {
			return nil, errors.WithMessagef(err, "Reverse axis %d", axis)
		}
	}
	if out == x {
		return b.Identity(x)
	}
	return out, nil
}

func (b *Builder) reverseAxis(x backends.Op, shape shapes.Shape, axis int) (backends.Op, error) {
	n := shape.Dimensions[axis]
	if n <= 1 {
		return x, nil
	}
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(n - 1 - i)
	}
	indices, err := b.Constant(idx, n, 1)
	if err != nil {
		return nil, err
	}
	// Each index picks one slice of x (size 1 on axis, collapsed); the indices' batch axis takes the place of
	// axis in the output, the other operand axes keep their positions as offset axes.
	rank := shape.Rank()
	offsetAxes := make([]int, 0, rank-1)
	for i := 0; i < rank; i++ {
		if i != axis {
			offsetAxes = append(offsetAxes, i)
		}
	}
	sliceSizes := slices.Clone(shape.Dimensions)
	sliceSizes[axis] = 1
	return b.Gather(x, indices, 1, offsetAxes, []int{axis}, []int{axis}, sliceSizes, false)
}

// Clamp implements backends.Builder.Clamp as Min(Max(x, min), max); min and max may be scalars.
func (b *Builder) Clamp(minV, x, maxV backends.Op) (backends.Op, error) {
	lower, err := b.Max(x, minV)
	if err != nil {
		return nil, errors.WithMessage(err, "Clamp")
	}
	return b.Min(lower, maxV)
}

// ConvGeneral implements backends.Builder.ConvGeneral: it fills nil/short strides, paddings and dilations with
// their defaults before calling SimpleGo, which otherwise rejects nil strides (graph.Convolve without .Strides,
// and the conv VJP) and, for grouped/depthwise or dilated convs with nil kernel dilations, indexes a nil slice
// inside a worker goroutine and kills the process.
func (b *Builder) ConvGeneral(input, kernel backends.Op, axes backends.ConvolveAxesConfig,
	strides []int, paddings [][2]int, inputDilations, kernelDilations []int,
	channelGroupCount, batchGroupCount int) (backends.Op, error) {
	inShape, err := b.OpShape(input)
	if err != nil {
		return nil, errors.WithMessage(err, "ConvGeneral")
	}
	spatial := inShape.Rank() - 2
	if spatial < 1 {
		return nil, errors.Errorf("ConvGeneral: input must have rank >= 3, got %s", inShape)
	}
	if strides, err = fillOnes("strides", strides, spatial); err != nil {
		return nil, err
	}
	if inputDilations, err = fillOnes("input dilations", inputDilations, spatial); err != nil {
		return nil, err
	}
	if kernelDilations, err = fillOnes("kernel dilations", kernelDilations, spatial); err != nil {
		return nil, err
	}
	switch len(paddings) {
	case 0:
		paddings = make([][2]int, spatial)
	case spatial:
		paddings = slices.Clone(paddings)
	default:
		return nil, errors.Errorf("ConvGeneral: %d paddings for %d spatial axes", len(paddings), spatial)
	}
	return b.Builder.ConvGeneral(input, kernel, axes, strides, paddings, inputDilations, kernelDilations,
		max(channelGroupCount, 1), max(batchGroupCount, 1))
}

// fillOnes returns v with non-positive entries set to 1, or all ones if v is empty.
func fillOnes(what string, v []int, n int) ([]int, error) {
	if len(v) == 0 {
		v = make([]int, n)
	} else if len(v) != n {
		return nil, errors.Errorf("ConvGeneral: %d %s for %d spatial axes", len(v), what, n)
	} else {
		v = slices.Clone(v)
	}
	for i := range v {
		if v[i] <= 0 {
			v[i] = 1
		}
	}
	return v, nil
}
