package engine

import (
	"fmt"
	"reflect"
	"slices"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Direct depthwise convolutions for SimpleGo's ConvGeneral (see kernels.DirectDepthwiser).
//
// SimpleGo computes ConvGeneral one output element at a time with multi-axis index iterators, and its batch grouping
// pairs the wrong batch with each output channel when the groups hold one channel each (outputChannel/batchGroupCount
// where XLA uses outputChannel/(channels/batchGroupCount)), so kernels.Depthwise used k² tap windows instead (about
// 30 graph ops over the activations per layer). This executor runs the two convolutions a depthwise layer needs,
// float32 and float64, on all cores:
//   - depthwise: NHWC input (any input dilation), HWIO kernel [kh,kw,1,C], channel groups = C, any strides and
//     paddings, no kernel dilation: the forward pass and (input dilation = stride) the input gradient. Each output
//     element sums its taps in SimpleGo's order (kernel rows, then columns) from zero, so results are bit-identical
//     to SimpleGo's.
//   - depthwise filter gradient (kernels.depthwiseFilterGradAxes): input x [N,H,W,C] with C as batch and N as
//     channels, kernel v [N,Ho,Wo,C], batch groups = C, stride 1, any kernel dilation and paddings; output
//     [1,kh,kw,C]. Summed in the order n, ho, wo (SimpleGo's own result is wrong here, so there is no order to keep;
//     the tests compare with a float64 reference).
// Any other ConvGeneral goes to SimpleGo's executor.

// convLayout mirrors simplego.convNode, the data of a ConvGeneral node.
type convLayout struct {
	axes              backends.ConvolveAxesConfig
	strides           []int
	paddings          [][2]int
	inputDilations    []int
	kernelDilations   []int
	channelGroupCount int
	batchGroupCount   int

	hasInputDilations, hasKernelDilations            bool
	inputStrides, inputSpatialStrides, kernelStrides []int

	dilatedInputSpatialDims []int
}

// convNodeType is the dynamic type of a ConvGeneral node's data, learnt from a probe graph.
var convNodeType reflect.Type

// probeConvData checks the layout of a ConvGeneral node's data.
func probeConvData() error {
	data, t, err := probeNodeData("ConvGeneral", reflect.TypeFor[convLayout](), [][]int{{1, 5, 5, 4}, {3, 3, 1, 4}},
		func(b backends.Builder, p []backends.Op) (backends.Op, error) {
			return b.ConvGeneral(p[0], p[1], nhwcAxes, []int{2, 1}, [][2]int{{1, 2}, {0, 1}}, []int{1, 3}, nil, 4, 1)
		})
	if err != nil {
		return err
	}
	cv := convOf(data)
	if got := fmt.Sprint(cv.strides, cv.paddings, cv.inputDilations, cv.channelGroupCount, cv.batchGroupCount,
		cv.axes.KernelSpatial); got != "[2 1] [[1 2] [0 1]] [1 3] 4 1 [0 1]" {
		return fmt.Errorf("SimpleGo's ConvGeneral node data reads as %s", got)
	}
	convNodeType = t
	return nil
}

// nhwcAxes is the NHWC input, HWIO kernel, NHWC output configuration (kernels.nhwcConvAxes), and filterGradAxes is
// kernels.depthwiseFilterGradAxes: the two configurations kernels.Depthwise emits on this engine. They are repeated
// here because kernels' tests import this package; TestDirectDepthwiseMatchesTaps fails if they drift apart (the
// executor would not run).
var nhwcAxes = backends.ConvolveAxesConfig{
	InputBatch: 0, InputChannels: 3, InputSpatial: []int{1, 2},
	KernelInputChannels: 2, KernelOutputChannels: 3, KernelSpatial: []int{0, 1},
	OutputBatch: 0, OutputChannels: 3, OutputSpatial: []int{1, 2},
}

var filterGradAxes = backends.ConvolveAxesConfig{
	InputBatch: 3, InputChannels: 0, InputSpatial: []int{1, 2},
	KernelInputChannels: 0, KernelOutputChannels: 3, KernelSpatial: []int{1, 2},
	OutputBatch: 0, OutputChannels: 3, OutputSpatial: []int{1, 2},
}

func sameAxes(a, b backends.ConvolveAxesConfig) bool {
	return a.InputBatch == b.InputBatch && a.InputChannels == b.InputChannels &&
		slices.Equal(a.InputSpatial, b.InputSpatial) && a.KernelInputChannels == b.KernelInputChannels &&
		a.KernelOutputChannels == b.KernelOutputChannels && slices.Equal(a.KernelSpatial, b.KernelSpatial) &&
		a.OutputBatch == b.OutputBatch && a.OutputChannels == b.OutputChannels &&
		slices.Equal(a.OutputSpatial, b.OutputSpatial)
}

func convOf(data any) *convLayout {
	return (*convLayout)((*[2]unsafe.Pointer)(unsafe.Pointer(&data))[1])
}

// convPlan is one depthwise convolution in NHWC terms.
type convPlan struct {
	n, h, w, c     int // input (undilated)
	ho, wo         int // output
	kh, kw         int // kernel
	sh, sw         int // strides (forward) or kernel dilations (filter gradient)
	dh, dw         int // input dilations (forward)
	padTop, padLft int
	// cu: channels past cu are zero in an operand (see usedChannels), so are the output's, and are not computed.
	cu int
}

func convExecutor(stock nodeExecutor) nodeExecutor {
	return func(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (
		*simplego.Buffer, error) {
		n := nodeOf(node)
		if !isFast(backend) || reflect.TypeOf(n.data) != convNodeType {
			return stock(backend, node, inputs, owned)
		}
		dt := n.shape.DType
		if dt != dtypes.Float32 && dt != dtypes.Float64 {
			return stock(backend, node, inputs, owned)
		}
		cv := convOf(n.data)
		in, ker := bufferOf(inputs[0]), bufferOf(inputs[1])
		if plan, ok := depthwisePlan(cv, in.shape, ker.shape, n.shape); ok {
			fastExecRuns.Add(1)
			out := simplegoGetBufferForShape(backend, n.shape)
			plan.cu = usedByBoth(plan.c, in, ker)
			if dt == dtypes.Float32 {
				depthwiseForward(plan, in.flat.([]float32), ker.flat.([]float32), bufferOf(out).flat.([]float32))
			} else {
				depthwiseForward(plan, in.flat.([]float64), ker.flat.([]float64), bufferOf(out).flat.([]float64))
			}
			return out, nil
		}
		if plan, ok := filterGradPlan(cv, in.shape, ker.shape, n.shape); ok {
			fastExecRuns.Add(1)
			out := simplegoGetBufferForShape(backend, n.shape)
			plan.cu = usedByBoth(plan.c, in, ker)
			if dt == dtypes.Float32 {
				depthwiseFilterGrad(plan, in.flat.([]float32), ker.flat.([]float32), bufferOf(out).flat.([]float32))
			} else {
				depthwiseFilterGrad(plan, in.flat.([]float64), ker.flat.([]float64), bufferOf(out).flat.([]float64))
			}
			return out, nil
		}
		return stock(backend, node, inputs, owned)
	}
}

// usedByBoth is the number of leading channels (the last axis, c) outside which one of the two operands of a
// channel-wise product is all zero: there the product is zero. The augmented pass's inactive channels are zero in
// the activations and (pkg/models' maskWeight) in the depthwise weights. b is scanned first (a depthwise weight is
// small), then a only below b's extent.
func usedByBoth(c int, a, b *bufferLayout) int {
	if noZeroTails {
		return c
	}
	if a.shape.DType == dtypes.Float32 {
		x, y := a.flat.([]float32), b.flat.([]float32)
		return usedBelow(x, c, usedBelow(y, c, c))
	}
	x, y := a.flat.([]float64), b.flat.([]float64)
	return usedBelow(x, c, usedBelow(y, c, c))
}

func allOnes(xs []int) bool {
	for _, x := range xs {
		if x != 1 {
			return false
		}
	}
	return true
}

// depthwisePlan matches a depthwise NHWC convolution (forward or input gradient).
func depthwisePlan(cv *convLayout, in, ker, out shapes.Shape) (convPlan, bool) {
	if in.Rank() != 4 || !sameAxes(cv.axes, nhwcAxes) || cv.batchGroupCount != 1 || !allOnes(cv.kernelDilations) {
		return convPlan{}, false
	}
	c := in.Dimensions[3]
	if cv.channelGroupCount != c || ker.Dimensions[2] != 1 || ker.Dimensions[3] != c || out.Dimensions[3] != c {
		return convPlan{}, false
	}
	return convPlan{
		n: in.Dimensions[0], h: in.Dimensions[1], w: in.Dimensions[2], c: c,
		ho: out.Dimensions[1], wo: out.Dimensions[2], kh: ker.Dimensions[0], kw: ker.Dimensions[1],
		sh: cv.strides[0], sw: cv.strides[1], dh: cv.inputDilations[0], dw: cv.inputDilations[1],
		padTop: cv.paddings[0][0], padLft: cv.paddings[1][0], cu: c,
	}, true
}

// filterGradPlan matches a depthwise filter gradient (filterGradAxes).
func filterGradPlan(cv *convLayout, in, ker, out shapes.Shape) (convPlan, bool) {
	if in.Rank() != 4 || !sameAxes(cv.axes, filterGradAxes) || cv.channelGroupCount != 1 ||
		!allOnes(cv.strides) || !allOnes(cv.inputDilations) {
		return convPlan{}, false
	}
	c := in.Dimensions[3]
	if cv.batchGroupCount != c || ker.Dimensions[0] != in.Dimensions[0] || ker.Dimensions[3] != c ||
		out.Dimensions[0] != 1 || out.Dimensions[3] != c {
		return convPlan{}, false
	}
	return convPlan{
		n: in.Dimensions[0], h: in.Dimensions[1], w: in.Dimensions[2], c: c,
		ho: ker.Dimensions[1], wo: ker.Dimensions[2], kh: out.Dimensions[1], kw: out.Dimensions[2],
		sh: cv.kernelDilations[0], sw: cv.kernelDilations[1],
		padTop: cv.paddings[0][0], padLft: cv.paddings[1][0], cu: c,
	}, true
}

// tapInput maps output position o and tap t to the input index along one axis, or -1 where the tap reads padding
// or a hole of the input dilation.
func tapInput(o, stride, t, pad, dil, size int) int {
	q := o*stride + t - pad
	if q < 0 || q > (size-1)*dil || q%dil != 0 {
		return -1
	}
	return q / dil
}

// depthwiseForward: z[b,oh,ow,c] = Σ_{i,j} x[b, ih(oh,i), iw(ow,j), c]·k[i,j,c], taps in row-major order.
func depthwiseForward[T float32 | float64](p convPlan, x, k, z []T) {
	c, cu := p.c, p.cu
	if x32, ok := any(x).([]float32); ok && hasVec && !noVec {
		depthwiseForwardTaps(p, x32, any(k).([]float32), any(z).([]float32))
		return
	}
	mulAdd := mulAddFunc[T]()
	parallelFor(p.n*p.ho, p.n*p.ho*p.wo*c*p.kh*p.kw/4, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			b, oh := r/p.ho, r%p.ho
			zrow := z[r*p.wo*c : (r+1)*p.wo*c]
			clear(zrow)
			for i := range p.kh {
				ih := tapInput(oh, p.sh, i, p.padTop, p.dh, p.h)
				if ih < 0 {
					continue
				}
				xrow := x[(b*p.h+ih)*p.w*c : (b*p.h+ih+1)*p.w*c]
				for ow := range p.wo {
					zp := zrow[ow*c : ow*c+cu]
					for j := range p.kw {
						iw := tapInput(ow, p.sw, j, p.padLft, p.dw, p.w)
						if iw < 0 {
							continue
						}
						xp := xrow[iw*c : (iw+1)*c]
						mulAdd(zp, xp, k[(i*p.kw+j)*c:(i*p.kw+j+1)*c])
					}
				}
			}
		}
	})
}

// depthwiseForwardTaps is depthwiseForward for float32 on AVX2, with the same bits: each output pixel's taps (in
// the order i, j) are summed by vecTapsMulAddRun in registers, 32 or 8 channels at a time, instead of a pass over
// the pixel's channels per tap. Without input dilation the pixels of a row whose taps are all inside the input
// share one tap list and run as one call; the others (borders, input dilation) are one call each.
func depthwiseForwardTaps(p convPlan, x, k, z []float32) {
	c, cu := p.c, p.cu
	c8 := cu &^ 7
	// Interior columns [in0, in1): every j < kw lands inside the row (no input dilation).
	in0, in1 := 0, 0
	if p.dw == 1 {
		in0 = (p.padLft + p.sw - 1) / p.sw
		if d := p.w - p.kw + p.padLft; d >= 0 {
			in1 = min(p.wo, d/p.sw+1)
		}
		in1 = max(in0, in1)
	}
	wide := hasVec512 && !noVec512
	parallelFor(p.n*p.ho, p.n*p.ho*p.wo*c*p.kh*p.kw/4, func(lo, hi int) {
		xoff, koff := make([]int, 0, p.kh*p.kw), make([]int, 0, p.kh*p.kw)
		// pixels sums the taps in xoff/koff for n output pixels of row r from column ow (x one stride further per
		// pixel): channels below c8 by the kernel, the tail up to cu in Go; the channels from cu are zeroed.
		pixels := func(r, ow, n int) {
			zp := z[(r*p.wo+ow)*c : (r*p.wo+ow+n)*c]
			if len(xoff) > 0 && c8 > 0 && wide {
				vecTapsMulAddRunW(zp, x, k, xoff, koff, c8, n, 4*p.sw*c, 4*c)
			} else if len(xoff) > 0 && c8 > 0 {
				vecTapsMulAddRun(zp, x, k, xoff, koff, c8, n, 4*p.sw*c, 4*c)
			} else {
				for q := range n {
					clear(zp[q*c : q*c+c8])
				}
			}
			for q := range n {
				for ch := c8; ch < cu; ch++ {
					var s float32
					for t := range xoff {
						s += x[xoff[t]+q*p.sw*c+ch] * k[koff[t]+ch]
					}
					zp[q*c+ch] = s
				}
				clear(zp[q*c+cu : (q+1)*c])
			}
		}
		for r := lo; r < hi; r++ {
			b, oh := r/p.ho, r%p.ho
			taps := func(ow int) {
				xoff, koff = xoff[:0], koff[:0]
				for i := range p.kh {
					ih := tapInput(oh, p.sh, i, p.padTop, p.dh, p.h)
					if ih < 0 {
						continue
					}
					for j := range p.kw {
						if iw := tapInput(ow, p.sw, j, p.padLft, p.dw, p.w); iw >= 0 {
							xoff = append(xoff, ((b*p.h+ih)*p.w+iw)*c)
							koff = append(koff, (i*p.kw+j)*c)
						}
					}
				}
			}
			for ow := 0; ow < p.wo; ow++ {
				if ow == in0 && in1 > in0 {
					taps(ow)
					pixels(r, ow, in1-in0)
					ow = in1 - 1
					continue
				}
				taps(ow)
				pixels(r, ow, 1)
			}
		}
	})
}

// depthwiseFilterGrad: z[0,i,j,c] = Σ_{b,ho,wo} x[b, ho·sh+i−padTop, wo·sw+j−padLft, c]·v[b,ho,wo,c], summed in
// the order b, ho, wo; the channels are split between the workers, so the result does not depend on their number.
func depthwiseFilterGrad[T float32 | float64](p convPlan, x, v, z []T) {
	c := p.c
	mulAdd := mulAddFunc[T]()
	for t := range p.kh * p.kw {
		clear(z[t*c+p.cu : (t+1)*c])
	}
	// Kernel rows of three taps (the models' 3x3 depthwise convs) run the output columns whose taps are all inside
	// the input through vecTapRowGrad3, the three taps' sums in registers; the rest tap by tap. Either way each
	// tap sums its products in increasing (b, oh, ow), so the bits are the same.
	x32, isF32 := any(x).([]float32)
	v32, _ := any(v).([]float32)
	rows3 := p.kw == 3 && isF32 && hasVec && !noVec
	owLo, owHi := 0, 0
	if rows3 {
		owLo = (p.padLft + p.sw - 1) / p.sw
		if last := p.w - 3 + p.padLft; last >= 0 {
			owHi = min(p.wo, last/p.sw+1)
		}
		owHi = max(owHi, owLo)
	}
	parallelFor(p.cu, p.n*p.ho*p.wo*c*p.kh*p.kw/4, func(c0, c1 int) {
		cw := c1 - c0
		acc := make([]T, p.kh*p.kw*cw)
		acc32, _ := any(acc).([]float32)
		taps := func(vrow, xrow []T, i, ow0, ow1 int) {
			for ow := ow0; ow < ow1; ow++ {
				vp := vrow[ow*c+c0 : ow*c+c1]
				for j := range p.kw {
					iw := tapInput(ow, p.sw, j, p.padLft, 1, p.w)
					if iw < 0 {
						continue
					}
					xp := xrow[iw*c+c0 : iw*c+c1]
					mulAdd(acc[(i*p.kw+j)*cw:(i*p.kw+j+1)*cw], xp, vp)
				}
			}
		}
		for b := range p.n {
			for oh := range p.ho {
				vo := (b*p.ho + oh) * p.wo * c
				vrow := v[vo : vo+p.wo*c]
				for i := range p.kh {
					ih := tapInput(oh, p.sh, i, p.padTop, 1, p.h)
					if ih < 0 {
						continue
					}
					xo := (b*p.h + ih) * p.w * c
					xrow := x[xo : xo+p.w*c]
					if !rows3 || owLo == owHi {
						taps(vrow, xrow, i, 0, p.wo)
						continue
					}
					taps(vrow, xrow, i, 0, owLo)
					n := owHi - owLo
					v0, x0 := vo+owLo*c+c0, xo+(owLo*p.sw-p.padLft)*c+c0
					_ = v32[v0+(n-1)*c+cw-1]
					_ = x32[x0+(n-1)*p.sw*c+2*c+cw-1]
					ch := 0
					for ; ch+8 <= cw; ch += 16 {
						blocks := min(2, (cw-ch)/8)
						vecTapRowGrad3(&acc32[i*3*cw+ch], cw*4, &v32[v0+ch], c*4, &x32[x0+ch], p.sw*c*4, c*4, n, blocks)
						if blocks == 1 {
							ch -= 8
						}
					}
					if ch < cw { // the last channels, fewer than 8
						for ow := owLo; ow < owHi; ow++ {
							vp := v32[vo+ow*c+c0+ch : vo+ow*c+c1]
							for j := range 3 {
								xp := x32[xo+(ow*p.sw+j-p.padLft)*c+c0+ch : xo+(ow*p.sw+j-p.padLft)*c+c1]
								a := acc32[(i*3+j)*cw+ch : (i*3+j+1)*cw]
								for q := range a {
									a[q] += xp[q] * vp[q]
								}
							}
						}
					}
					taps(vrow, xrow, i, owHi, p.wo)
				}
			}
		}
		for t := range p.kh * p.kw {
			copy(z[t*c+c0:t*c+c1], acc[t*cw:(t+1)*cw])
		}
	})
}

// mulAddFunc returns z[i] += x[i]·y[i] for i < len(z) (x and y at least as long): the AVX kernel for float32 where
// there is one (same bits: the product is rounded before the add), a Go loop otherwise. Chosen once per op, since
// the kernels call it per output pixel and tap.
func mulAddFunc[T float32 | float64]() func(z, x, y []T) {
	if f, ok := any(vecMulAdd).(func(z, x, y []T)); ok && hasVec && !noVec {
		return f
	}
	return func(z, x, y []T) {
		x, y = x[:len(z)], y[:len(z)]
		for i := range z {
			z[i] += x[i] * y[i]
		}
	}
}
