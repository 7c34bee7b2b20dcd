package kernels

import (
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
)

// DirectDepthwiser is implemented by backends whose ConvGeneral runs the three convolutions of a depthwise layer
// with direct kernels: the forward pass and the input gradient (channel groups = channels, NHWC) and the filter
// gradient (batch groups = channels). The project's engine (kernels/engine) does when its fast executors are on.
// On such a backend Depthwise is three ConvGeneral ops instead of k² tap windows, products and sums (about 30
// graph ops, each a pass over the activations); SimpleGo's own ConvGeneral runs these convolutions slowly (one
// output element at a time) and its batch grouping is wrong for this use, so other backends keep the taps.
type DirectDepthwiser interface {
	DirectDepthwise() bool
}

func directDepthwise(g *Graph) bool {
	d, ok := g.Backend().(DirectDepthwiser)
	return ok && d.DirectDepthwise()
}

// nhwcConvAxes is the axes configuration of an NHWC convolution with an HWIO kernel.
var nhwcConvAxes = backends.ConvolveAxesConfig{
	InputBatch: 0, InputChannels: 3, InputSpatial: []int{1, 2},
	KernelInputChannels: 2, KernelOutputChannels: 3, KernelSpatial: []int{0, 1},
	OutputBatch: 0, OutputChannels: 3, OutputSpatial: []int{1, 2},
}

// depthwiseFilterGradAxes computes a depthwise filter gradient as one ConvGeneral (as XLA's own depthwise
// backprop does): the input x [N,H,W,C] is read with C as its batch and N as its channels, the kernel is the
// adjoint v [N,Ho,Wo,C] with N as input and C as output channels, and batch groups = C pair channel c of x with
// output channel c. The output [1,k,k,C] is dW.
var depthwiseFilterGradAxes = backends.ConvolveAxesConfig{
	InputBatch: 3, InputChannels: 0, InputSpatial: []int{1, 2},
	KernelInputChannels: 0, KernelOutputChannels: 3, KernelSpatial: []int{1, 2},
	OutputBatch: 0, OutputChannels: 3, OutputSpatial: []int{1, 2},
}

// depthwiseConv is Depthwise (multiplicative, "same" padding k/2, stride s) as ConvGeneral ops, with its gradient:
//   - dX: the adjoint dilated by s (input dilation) correlated with the spatially flipped taps, padded so the result
//     is [N,H,W,C] (a transposed convolution);
//   - dW[i,j,c] = Σ_{n,ho,wo} v[n,ho,wo,c]·x[n, s·ho+i−p, s·wo+j−p, c]: the adjoint as a kernel dilated by s over x
//     (depthwiseFilterGradAxes).
func depthwiseConv(x, w *Node, k, c, s int) *Node {
	dims := x.Shape().Dimensions
	h, wd := dims[1], dims[2]
	p := k / 2
	ho, wo := outSize(h, k, s), outSize(wd, k, s)
	ones := []int{1, 1} // explicit: SimpleGo's grouped conv indexes nil kernel dilations
	xs, w4 := StopGradient(x), Reshape(StopGradient(w), k, k, 1, c)
	y := ConvGeneral(xs, w4, nhwcConvAxes, []int{s, s}, [][2]int{{p, p}, {p, p}}, nil, ones, c, 1)
	return CustomVJP([]*Node{x, w}, y, func(i int, v *Node) *Node {
		if i == 0 {
			flipped := Reverse(w4, 0, 1)
			pads := [][2]int{{k - 1 - p, h - (ho-1)*s - 1 + p}, {k - 1 - p, wd - (wo-1)*s - 1 + p}}
			return ConvGeneral(v, flipped, nhwcConvAxes, []int{1, 1}, pads, []int{s, s}, ones, c, 1)
		}
		pads := [][2]int{{p, k + (ho-1)*s - h - p}, {p, k + (wo-1)*s - wd - p}}
		dw := ConvGeneral(xs, v, depthwiseFilterGradAxes, []int{1, 1}, pads, nil, []int{s, s}, 1, c)
		return Reshape(dw, w.Shape().Dimensions...)
	})
}
