package export

import (
	"fmt"

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
)

// LayerSpec is one weighted layer of the target network as pkg/models builds it: its variable scope, what it
// computes and the target shapes of its parameters.
type LayerSpec struct {
	// Scope is the layer's variable scope relative to the network's context, e.g. "stem", "blocks.3/expand",
	// "blocks.5/se/reduce", "head.conv", "classifier".
	Scope string
	// Kind is conv (k×k, including 1×1 and SE convs), depthwise or linear (the classifier).
	Kind arch.Kind
	// Op is the operator the layer runs in the target (arch.EffectiveOp applied: depthwise under Add is Mult).
	Op arch.Op
	// K and Stride are the kernel size and stride (1 for linear layers).
	K, Stride int
	// In and Out are the target channel counts (depthwise: In == Out).
	In, Out int
	// Bias and BN say whether the layer has a bias [Out] and a batch norm over its Out channels.
	Bias, BN bool
}

// WeightDims are the target weight's dimensions: [k,k,In,Out] (conv), [k,k,C] (depthwise), [In,Out] (linear).
func (s LayerSpec) WeightDims() []int {
	switch s.Kind {
	case arch.KindDWConv:
		return []int{s.K, s.K, s.Out}
	case arch.KindLinear:
		return []int{s.In, s.Out}
	}
	return []int{s.K, s.K, s.In, s.Out}
}

// Specs lists the weighted layers of m's target network in execution order, with the scopes pkg/models uses
// for their variables.
func Specs(m *arch.Model) []LayerSpec {
	var ls []LayerSpec
	conv := func(scope string, op arch.Op, k, stride, in, out int, bias, bn bool) {
		ls = append(ls, LayerSpec{Scope: scope, Kind: arch.KindConv, Op: arch.EffectiveOp(op, arch.KindConv), K: k,
			Stride: stride, In: in, Out: out, Bias: bias, BN: bn})
	}
	c := m.Stem
	conv(c.Name, c.Op, c.K, c.Stride, c.In, c.Out, c.Bias, c.BN)
	for _, b := range m.Blocks {
		if b.Expand {
			conv(b.Name+"/expand", b.Op, 1, 1, b.In, b.Mid, false, true)
		}
		ls = append(ls, LayerSpec{Scope: b.Name + "/dw", Kind: arch.KindDWConv, Op: arch.EffectiveOp(b.Op, arch.KindDWConv),
			K: b.K, Stride: b.Stride, In: b.Mid, Out: b.Mid, BN: true})
		if b.SE > 0 {
			conv(b.Name+"/se/reduce", b.Op, 1, 1, b.Mid, b.SE, true, false)
			conv(b.Name+"/se/expand", b.Op, 1, 1, b.SE, b.Mid, true, false)
		}
		conv(b.Name+"/project", b.Op, 1, 1, b.Mid, b.Out, false, true)
	}
	for _, c := range m.Head {
		conv(c.Name, c.Op, c.K, c.Stride, c.In, c.Out, c.Bias, c.BN)
	}
	if m.Seg != nil { // the segmentation head replaces head convs and classifier
		for _, c := range m.Seg.Convs() {
			conv(c.Name, c.Op, c.K, c.Stride, c.In, c.Out, c.Bias, c.BN)
		}
		return ls
	}
	cl := m.Classifier
	ls = append(ls, LayerSpec{Scope: cl.Name, Kind: arch.KindLinear, Op: cl.Op, K: 1, Stride: 1, In: cl.In, Out: cl.Out, Bias: true})
	return ls
}

// Tensor names inside a layer scope, as pkg/models and kernels/norm name the variables.
const (
	nameWeights = "weights"
	nameSign    = "weights.sign" // Shift layers: int8 sign ∈ {−1, 0, +1}
	nameExp     = "weights.exp"  // Shift layers: int8 exponent ∈ [ShiftMinExponent(bits), 0]
	nameBias    = "bias"
	nameGamma   = "gamma"
	nameBeta    = "beta"
	nameMean    = "running_mean"
	nameVar     = "running_var"
)

type dtype string

const (
	dtFloat32 dtype = "float32"
	dtInt8    dtype = "int8"
)

// tensorSpec is one tensor the file must hold for a layer.
type tensorSpec struct {
	name  string // scope/name
	dtype dtype
	dims  []int
}

// tensorSpecs lists the tensors a layer of spec s is stored as, in file order.
func (s LayerSpec) tensorSpecs() []tensorSpec {
	var ts []tensorSpec
	add := func(n string, dt dtype, dims ...int) {
		ts = append(ts, tensorSpec{name: s.Scope + "/" + n, dtype: dt, dims: dims})
	}
	if s.Op == arch.Shift {
		add(nameSign, dtInt8, s.WeightDims()...)
		add(nameExp, dtInt8, s.WeightDims()...)
	} else {
		add(nameWeights, dtFloat32, s.WeightDims()...)
	}
	if s.Bias {
		add(nameBias, dtFloat32, s.Out)
	}
	if s.BN {
		for _, n := range []string{nameGamma, nameBeta, nameMean, nameVar} {
			add(n, dtFloat32, s.Out)
		}
	}
	return ts
}

// Layer holds one layer's target parameters.
type Layer struct {
	LayerSpec
	// Weights are the float32 weights of Mult and Add layers (nil for Shift), flat in WeightDims order.
	Weights []float32
	// Sign and Exp are a Shift layer's weights, value = Sign·2^Exp (nil otherwise), flat in WeightDims order.
	Sign, Exp []int8
	// Bias is the layer's bias [Out], nil if it has none.
	Bias []float32
	// BN is the layer's batch norm, nil if it has none.
	BN *BatchNorm
}

// BatchNorm holds a batch norm's parameters and running statistics ([Out] each). In inference it computes
// y = (x − Mean)·Gamma/√(Var + ε) + Beta with ε = Model.BNEpsilon.
type BatchNorm struct {
	Gamma, Beta, Mean, Var []float32
}

// f32 returns the float32 tensor of the named kind in l (and whether l has it).
func (l *Layer) f32(name string) *[]float32 {
	switch name {
	case nameWeights:
		return &l.Weights
	case nameBias:
		return &l.Bias
	}
	if l.BN == nil {
		return nil
	}
	switch name {
	case nameGamma:
		return &l.BN.Gamma
	case nameBeta:
		return &l.BN.Beta
	case nameMean:
		return &l.BN.Mean
	case nameVar:
		return &l.BN.Var
	}
	return nil
}

func (l *Layer) i8(name string) *[]int8 {
	switch name {
	case nameSign:
		return &l.Sign
	case nameExp:
		return &l.Exp
	}
	return nil
}

func numel(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

func dimsEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// splitName splits "blocks.3/se/reduce/bias" into scope and tensor name at the last '/', accepting the dotted
// Shift names.
func splitName(full string) (scope, name string, err error) {
	for i := len(full) - 1; i >= 0; i-- {
		if full[i] == '/' {
			return full[:i], full[i+1:], nil
		}
	}
	return "", "", fmt.Errorf("tensor name %q has no layer scope", full)
}
