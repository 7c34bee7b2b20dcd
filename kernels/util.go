package kernels

import (
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
	"github.com/pkg/errors"
)

// panicf panics with an error carrying a stack trace, as GoMLX does inside graph building.
func panicf(format string, args ...any) {
	panic(errors.Errorf(format, args...))
}

// padAxis adds lo zeros before and hi zeros after x along axis, with Concatenate: simplego
// has no Pad op, and Concatenate's gradient (slices) needs none either.
func padAxis(x *Node, axis, lo, hi int) *Node {
	if lo == 0 && hi == 0 {
		return x
	}
	dims := x.Shape().Dimensions
	parts := make([]*Node, 0, 3)
	if lo > 0 {
		d := append([]int(nil), dims...)
		d[axis] = lo
		parts = append(parts, zerosDims(x, d...))
	}
	parts = append(parts, x)
	if hi > 0 {
		d := append([]int(nil), dims...)
		d[axis] = hi
		parts = append(parts, zerosDims(x, d...))
	}
	return Concatenate(parts, axis)
}

// padHW zero-pads the two spatial axes (1 and 2) of an NHWC tensor.
func padHW(x *Node, top, bottom, left, right int) *Node {
	return padAxis(padAxis(x, 1, top, bottom), 2, left, right)
}

// outSize is the "same"-padded output size: floor((n + 2·(k/2) − k)/s) + 1.
func outSize(n, k, s int) int {
	return (n+2*(k/2)-k)/s + 1
}

// tapSlice returns the [N, Ho, Wo, C] input window of kernel tap (i, j) from the padded
// input xp: rows i, i+s, …, i+s·(Ho−1) and the same for columns.
func tapSlice(xp *Node, i, j, s, ho, wo int) *Node {
	return Slice(xp, AxisRange(),
		AxisRange(i, i+s*(ho-1)+1).Stride(s),
		AxisRange(j, j+s*(wo-1)+1).Stride(s),
		AxisRange())
}

// placeTap is the adjoint of tapSlice: it puts g [N, Ho, Wo, C] at rows i + s·ho and columns
// j + s·wo of a zero [N, Hp, Wp, C] tensor. Strides are handled by interleaving zeros with a
// reshape (no Pad, no Scatter).
func placeTap(g *Node, i, j, s, hp, wp int) *Node {
	dims := g.Shape().Dimensions
	n, ho, wo, c := dims[0], dims[1], dims[2], dims[3]
	if s > 1 {
		// [N,Ho,Wo,C] → [N,Ho,1,Wo,1,C] → zeros appended on the unit axes → [N,Ho·s,Wo·s,C].
		g = Reshape(g, n, ho, 1, wo, 1, c)
		g = padAxis(g, 4, 0, s-1)
		g = padAxis(g, 2, 0, s-1)
		g = Reshape(g, n, ho*s, wo*s, c)
		ho, wo = ho*s, wo*s
	}
	// Rows i .. i+ho-1 of the result hold g; crop trailing (zero) rows that fall off the end.
	if i+ho > hp {
		g = Slice(g, AxisRange(), AxisRange(0, hp-i))
		ho = hp - i
	}
	if j+wo > wp {
		g = Slice(g, AxisRange(), AxisRange(), AxisRange(0, wp-j))
		wo = wp - j
	}
	return padHW(g, i, hp-i-ho, j, wp-j-wo)
}

// cropHW returns x[:, top:top+h, left:left+w, :].
func cropHW(x *Node, top, left, h, w int) *Node {
	return Slice(x, AxisRange(), AxisRange(top, top+h), AxisRange(left, left+w), AxisRange())
}
