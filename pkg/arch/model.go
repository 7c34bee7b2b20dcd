// Package arch describes the paper's tiny networks as data: typed layers with channels, kernels, strides, the
// operator each uses and its augmentation multipliers. One description drives everything else: the simulator
// costs it, this package counts its parameters and operations (Table 3's left half), pkg/models builds the GoMLX
// graph from it, and NAS mutates it.
package arch

import (
	"fmt"
	"math"
)

// Model is a network before it is a graph: stem, blocks, head, classifier.
type Model struct {
	Name    string
	Classes int
	// Res is the input resolution the model is usually described at (the paper's Table 3: 160).
	Res  int
	Stem Conv
	// Blocks are inverted-residual (or depthwise-separable) blocks in execution order; the head block of
	// MobileNetV2-style models is the last of them.
	Blocks []Block
	// Head are the 1x1 convolutions after the blocks. Those with OnPooled run after global average pooling.
	Head       []Conv
	Classifier Linear
	// Seg, when set, makes the model a segmentation network (seg.go): its head replaces Head and Classifier,
	// which are then empty.
	Seg *SegHead
	// AugWidth and AugExpand are the augmentation multipliers (NetAug): candidate widths are base×each factor,
	// candidate expand ratios base×each factor. The first factor (1.0) is the target.
	AugWidth  []float64
	AugExpand []float64
}

// Conv is a standalone convolution (stem, head) followed by batch norm (unless !BN) and an activation.
type Conv struct {
	Name      string
	In, Out   int
	K, Stride int
	Act       Act
	BN        bool
	Bias      bool
	OnPooled  bool // applied to the 1x1 map after global average pooling (MBV3's last head conv)
	Op        Op
}

// Block is an inverted residual block: expand 1x1 (absent when Mid == In and !Expand), depthwise kxk with
// stride, optional squeeze-excitation, project 1x1. Every conv has batch norm; the project conv has no activation.
type Block struct {
	Name         string
	In, Mid, Out int
	K, Stride    int
	Expand       bool // has a 1x1 expand conv (false for the depthwise-separable first block)
	SE           int  // squeeze-excitation hidden channels, 0 for none
	Act          Act
	Residual     bool // identity shortcut (stride 1, In == Out, not first in its stage)
	FirstInStage bool
	Op           Op // the block's operator; depthwise convs under Add stay Mult (EffectiveOp)
	// DepthAug marks a depth-augmentation block (depthaug.go): residual, trained, never exported.
	DepthAug bool
}

// Linear is the classifier: a fully connected layer with bias.
type Linear struct {
	Name    string
	In, Out int
	Op      Op
}

// Kind is what a flattened layer computes.
type Kind int

const (
	KindConv   Kind = iota // dense kxk convolution (groups 1), including 1x1 pointwise and SE convs
	KindDWConv             // depthwise convolution (groups = channels)
	KindLinear             // fully connected classifier
)

func (k Kind) String() string {
	return [...]string{"conv", "dwconv", "linear"}[k]
}

// Layer is one weighted layer of a model at a given input resolution, flattened in execution order.
type Layer struct {
	Name              string
	Kind              Kind
	Cin, Cout, Groups int
	K, Stride         int
	Hin, Hout         int // square feature maps
	Op                Op  // effective operator
	BN, Bias          bool
	Act               Act
	OnPooled          bool // runs on the 1x1 pooled map (SE convs, MBV3 head conv)
}

// MACs is the number of multiply-accumulates (or shift-accumulates, or abs-diff-accumulates) of the layer.
func (l Layer) MACs() int64 {
	return int64(l.Hout) * int64(l.Hout) * int64(l.Cout) * int64(l.K*l.K) * int64(l.Cin/l.Groups)
}

// Outputs is the number of output elements.
func (l Layer) Outputs() int64 { return int64(l.Hout) * int64(l.Hout) * int64(l.Cout) }

// Params counts weights, bias and batch-norm affine parameters (γ, β), as PyTorch's parameter count does.
func (l Layer) Params() int64 {
	p := int64(l.K*l.K) * int64(l.Cin/l.Groups) * int64(l.Cout)
	if l.Bias {
		p += int64(l.Cout)
	}
	if l.BN {
		p += 2 * int64(l.Cout)
	}
	return p
}

// OutSize is the output size of a "same"-padded convolution: floor((h + 2·⌊k/2⌋ − k)/s) + 1.
func OutSize(h, k, s int) int {
	return (h+2*(k/2)-k)/s + 1
}

// MinRes is the smallest input resolution the model accepts: the product of its strides, so that every
// downsampling halves a real pixel grid.
func (m *Model) MinRes() int {
	r := m.Stem.Stride
	for _, b := range m.Blocks {
		r *= b.Stride
	}
	for _, c := range m.Head {
		r *= c.Stride
	}
	return r
}

// Layers flattens the model at input resolution res (square images), in execution order.
func (m *Model) Layers(res int) ([]Layer, error) {
	if res <= 0 {
		return nil, fmt.Errorf("resolution %d: must be a positive integer", res)
	}
	if min := m.MinRes(); res < min {
		return nil, fmt.Errorf("resolution %d is too small for %s: its strides need at least %d", res, m.Name, min)
	}
	var ls []Layer
	h := res
	conv := func(c Conv) {
		hin := h
		if c.OnPooled {
			hin = 1
		}
		hout := OutSize(hin, c.K, c.Stride)
		ls = append(ls, Layer{Name: c.Name, Kind: KindConv, Cin: c.In, Cout: c.Out, Groups: 1, K: c.K, Stride: c.Stride,
			Hin: hin, Hout: hout, Op: EffectiveOp(c.Op, KindConv), BN: c.BN, Bias: c.Bias, Act: c.Act, OnPooled: c.OnPooled})
		if !c.OnPooled {
			h = hout
		}
	}
	conv(m.Stem)
	hSkip := 0
	for _, b := range m.Blocks {
		if b.Expand {
			ls = append(ls, Layer{Name: b.Name + ".expand", Kind: KindConv, Cin: b.In, Cout: b.Mid, Groups: 1, K: 1, Stride: 1,
				Hin: h, Hout: h, Op: EffectiveOp(b.Op, KindConv), BN: true, Act: b.Act})
		}
		hout := OutSize(h, b.K, b.Stride)
		ls = append(ls, Layer{Name: b.Name + ".dw", Kind: KindDWConv, Cin: b.Mid, Cout: b.Mid, Groups: b.Mid, K: b.K, Stride: b.Stride,
			Hin: h, Hout: hout, Op: EffectiveOp(b.Op, KindDWConv), BN: true, Act: b.Act})
		h = hout
		if b.SE > 0 {
			ls = append(ls,
				Layer{Name: b.Name + ".se.reduce", Kind: KindConv, Cin: b.Mid, Cout: b.SE, Groups: 1, K: 1, Stride: 1,
					Hin: 1, Hout: 1, Op: EffectiveOp(b.Op, KindConv), Bias: true, Act: ActReLU, OnPooled: true},
				Layer{Name: b.Name + ".se.expand", Kind: KindConv, Cin: b.SE, Cout: b.Mid, Groups: 1, K: 1, Stride: 1,
					Hin: 1, Hout: 1, Op: EffectiveOp(b.Op, KindConv), Bias: true, Act: ActHSigmoid, OnPooled: true})
		}
		ls = append(ls, Layer{Name: b.Name + ".project", Kind: KindConv, Cin: b.Mid, Cout: b.Out, Groups: 1, K: 1, Stride: 1,
			Hin: h, Hout: h, Op: EffectiveOp(b.Op, KindConv), BN: true, Act: ActNone})
		if m.Seg != nil && b.Name == m.Seg.Skip {
			hSkip = h
		}
	}
	if m.Seg != nil {
		return append(ls, m.Seg.layers(h, hSkip)...), nil
	}
	for _, c := range m.Head {
		conv(c)
	}
	ls = append(ls, Layer{Name: m.Classifier.Name, Kind: KindLinear, Cin: m.Classifier.In, Cout: m.Classifier.Out, Groups: 1,
		K: 1, Stride: 1, Hin: 1, Hout: 1, Op: m.Classifier.Op, Bias: true})
	return ls, nil
}

// WithMethod returns a copy of the model whose operators follow a deployment method: base all Mult, shift all
// Shift, add every conv but depthwise as Add with the classifier Mult (sim.md §3.4).
func (m *Model) WithMethod(method Method) *Model {
	c := m.Clone()
	op := method.BlockOp()
	c.Stem.Op = op
	for i := range c.Blocks {
		c.Blocks[i].Op = op
	}
	for i := range c.Head {
		c.Head[i].Op = op
	}
	if c.Seg == nil {
		c.Classifier.Op = method.ClassifierOp()
	}
	if s := c.Seg; s != nil {
		s.Inner.Op, s.Gate.Op = op, op
		s.Out.Op, s.SkipOut.Op = method.ClassifierOp(), method.ClassifierOp()
	}
	return c
}

// WithClasses returns a copy with a classifier for n classes.
func (m *Model) WithClasses(n int) *Model {
	c := m.Clone()
	c.Classes = n
	if c.Seg != nil {
		c.Seg.Out.Out, c.Seg.SkipOut.Out = n, n
		return c
	}
	c.Classifier.Out = n
	return c
}

// Clone deep-copies the model so mutations (NAS, methods) never alias.
func (m *Model) Clone() *Model {
	c := *m
	c.Blocks = append([]Block(nil), m.Blocks...)
	c.Head = append([]Conv(nil), m.Head...)
	c.AugWidth = append([]float64(nil), m.AugWidth...)
	c.AugExpand = append([]float64(nil), m.AugExpand...)
	if m.Seg != nil {
		s := *m.Seg
		c.Seg = &s
	}
	return &c
}

// MakeDivisible rounds v to the nearest multiple of divisor, never below minValue (divisor if 0) and never more
// than 10% below v: TensorFlow's rule, used by MobileNet widths and NetAug.
func MakeDivisible(v float64, divisor, minValue int) int {
	if minValue == 0 {
		minValue = divisor
	}
	n := int(v+float64(divisor)/2) / divisor * divisor
	if n < minValue {
		n = minValue
	}
	if float64(n) < 0.9*v {
		n += divisor
	}
	return n
}

// RoundHalfUp rounds like Python's int(v + 0.5) for positive v, which NetAug's make_divisible(v, 1) amounts to.
func RoundHalfUp(v float64) int { return int(math.Floor(v + 0.5)) }
