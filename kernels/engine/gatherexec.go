package engine

import (
	"math"
	"reflect"
	"sync/atomic"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Fused tap gathers (im2col). The builder recognises a float32 Concatenate along the last axis of strided Slices of
// one [N, H, W, C] tensor, each keeping its first and last axes whole, and emits one node that writes every output
// row's taps in one pass. Where that tensor is a zero Pad of x on the two middle axes (built by this builder), the
// node reads x itself and writes zeros for the padding, so the padded copy is never built. kernels.Im2Col builds
// this pattern for a k×k convolution's patches (the models' stems): without the fusion the res-96 step ran two
// padding concatenations, nine strided slices and a concatenation of 3-channel blocks, a tenth of its CPU time.
//
// The values are copies, so they are those of the ops replaced, bit for bit. The Slice and Pad nodes stay in the
// graph, and SimpleGo runs them only if something else uses them.

// tapGather is the data of a fused tap-gather node, whose input is x [N, H, W, C]: output [N, Ho, Wo, T·C] holds at
// [b, oh, ow, t·C + c] the padded source's element [b, starts[t][0] + oh·stride[0], starts[t][1] + ow·stride[1], c],
// the padded source being x with padLo[0] zero rows above and padLo[1] zero columns to the left (and enough zeros
// below and to the right).
type tapGather struct {
	starts [][2]int
	stride [2]int
	padLo  [2]int
}

// zeroPad is a zero Pad of x on axes 1 and 2 of a rank-4 tensor, remembered by Builder.Pad.
type zeroPad struct {
	x  backends.Op
	lo [2]int
}

// rememberZeroPad records out = Pad(x, fill, axes...) if fill is +0 and only axes 1 and 2 of a rank-4 float32 x get
// edge padding (no interior padding, no cropping).
func (b *Builder) rememberZeroPad(out, x, fill backends.Op, axes []backends.PadAxis) {
	if b.acts == nil || !b.fuseGather || out == x || len(axes) > 4 {
		return
	}
	if v, ok := b.scalarOf(fill); !ok || math.Float32bits(v) != 0 {
		return
	}
	if s, err := b.OpShape(x); err != nil || s.Rank() != 4 || s.DType != dtypes.Float32 {
		return
	}
	var lo [2]int
	for axis, cfg := range axes {
		if cfg.Interior != 0 || cfg.Start < 0 || cfg.End < 0 || (axis == 0 || axis == 3) && (cfg.Start != 0 || cfg.End != 0) {
			return
		}
		if axis == 1 || axis == 2 {
			lo[axis-1] = cfg.Start
		}
	}
	b.acts.pads[out] = zeroPad{x: x, lo: lo}
}

// Concatenate implements backends.Builder: a fused tap gather where the operands form one (see above), SimpleGo's
// otherwise.
func (b *Builder) Concatenate(axis int, operands ...backends.Op) (backends.Op, error) {
	if op, ok := b.fusedTapGather(axis, operands); ok {
		return op, nil
	}
	return b.Builder.Concatenate(axis, operands...)
}

// fusedTapGather returns the fused node for Concatenate(axis, operands) if the operands are taps of one tensor.
func (b *Builder) fusedTapGather(axis int, operands []backends.Op) (backends.Op, bool) {
	if b.acts == nil || !b.fuseGather || sliceNodeType == nil || len(operands) < 2 || axis != 3 {
		return nil, false
	}
	g := &tapGather{}
	var src *simplego.Node
	var tap shapes.Shape
	for i, op := range operands {
		n, ok := op.(*simplego.Node)
		if !ok {
			return nil, false
		}
		l := nodeOf(n)
		if l.opType != backends.OpTypeSlice || reflect.TypeOf(l.data) != sliceNodeType || len(l.inputs) != 1 {
			return nil, false
		}
		in := nodeOf(l.inputs[0]).shape
		if i == 0 {
			src, tap = l.inputs[0], l.shape
		}
		p := sliceOf(l.data)
		if l.inputs[0] != src || !l.shape.Equal(tap) || in.Rank() != 4 || in.DType != dtypes.Float32 ||
			len(p.starts) != 4 || len(p.strides) != 4 || len(p.limits) != 4 {
			return nil, false
		}
		for _, a := range []int{0, 3} { // whole batch and channel axes
			if p.starts[a] != 0 || p.strides[a] != 1 || p.limits[a] != in.Dimensions[a] {
				return nil, false
			}
		}
		stride := [2]int{p.strides[1], p.strides[2]}
		if i == 0 {
			g.stride = stride
		} else if stride != g.stride {
			return nil, false
		}
		g.starts = append(g.starts, [2]int{p.starts[1], p.starts[2]})
	}
	x := backends.Op(src)
	if pad, ok := b.acts.pads[x]; ok {
		x, g.padLo = pad.x, pad.lo
	}
	d := tap.Dimensions
	out := shapes.Make(dtypes.Float32, d[0], d[1], d[2], d[3]*len(operands))
	return b.newFusedNode(out, g, x), true
}

// tapGatherRuns counts the fused tap gathers run (the tests check they are reached).
var tapGatherRuns atomic.Int64

// tapGatherExec runs a fused tap gather, output rows (b, oh) split between the cores.
func tapGatherExec(backend *simplego.Backend, n *nodeLayout, g *tapGather, inputs []*simplego.Buffer) *simplego.Buffer {
	tapGatherRuns.Add(1)
	fastExecRuns.Add(1)
	out := simplegoGetBufferForShape(backend, n.shape)
	z := bufferOf(out).flat.([]float32)
	xb := bufferOf(inputs[0])
	x := xb.flat.([]float32)
	h, w, c := xb.shape.Dimensions[1], xb.shape.Dimensions[2], xb.shape.Dimensions[3]
	od := n.shape.Dimensions
	ho, wo, tc := od[1], od[2], od[3]
	parallelFor(od[0]*ho, len(z), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			b, oh := r/ho, r%ho
			row := z[r*wo*tc : (r+1)*wo*tc]
			for t, st := range g.starts {
				ih := st[0] + oh*g.stride[0] - g.padLo[0]
				if ih < 0 || ih >= h {
					for ow := range wo {
						clear(row[ow*tc+t*c : ow*tc+(t+1)*c])
					}
					continue
				}
				xrow := x[(b*h+ih)*w*c : (b*h+ih+1)*w*c]
				for ow := range wo {
					dst := row[ow*tc+t*c : ow*tc+(t+1)*c]
					iw := st[1] + ow*g.stride[1] - g.padLo[1]
					if iw < 0 || iw >= w {
						clear(dst)
						continue
					}
					src := xrow[iw*c : (iw+1)*c]
					if c < 16 { // a few channels (an image's): a loop, not a memmove call
						for i := range dst {
							dst[i] = src[i]
						}
					} else {
						copy(dst, src)
					}
				}
			}
		}
	})
	return out
}
