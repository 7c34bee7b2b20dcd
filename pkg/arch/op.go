package arch

import (
	"fmt"
	"strings"
)

// Op is the arithmetic a layer computes with.
type Op int

const (
	// Mult is ordinary multiply-accumulate convolution or matmul.
	Mult Op = iota
	// Shift is DeepShift-Q: weights rounded to ±2^p, so each product is a bit shift and a sign flip.
	Shift
	// Add is AdderNet: the negative L1 distance between input patch and weights, additions only.
	Add
)

func (o Op) String() string {
	switch o {
	case Mult:
		return "mult"
	case Shift:
		return "shift"
	case Add:
		return "add"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Method is what the deployed (target) network computes with: the sim methods of the paper's Table 3.
// Training methods (netaug, augshift, augadd) deploy the same target as base, shift and add; see TargetMethod.
type Method string

const (
	MethodBase  Method = "base"
	MethodShift Method = "shift"
	MethodAdd   Method = "add"
)

// Methods lists the deployment methods in Table 3's order.
var Methods = []Method{MethodBase, MethodShift, MethodAdd}

// ParseMethod accepts a deployment method or a training method and returns the deployment method of its target.
func ParseMethod(s string) (Method, error) {
	m, ok := TargetMethod(s)
	if !ok {
		return "", fmt.Errorf("unknown method %q: want one of base, shift, add (or the training methods netaug, augshift, augadd)", s)
	}
	return m, nil
}

// TrainingMethods lists the six training methods of the paper, multiplicative and multiplication-free, direct and augmented.
var TrainingMethods = []string{"base", "netaug", "shift", "augshift", "add", "augadd"}

// TargetMethod maps a training method to the method its exported target computes with.
func TargetMethod(training string) (Method, bool) {
	switch strings.ToLower(training) {
	case "base", "netaug":
		return MethodBase, true
	case "shift", "augshift":
		return MethodShift, true
	case "add", "augadd":
		return MethodAdd, true
	}
	return "", false
}

// BlockOp is the operator a block's convolutions use under a deployment method.
func (m Method) BlockOp() Op {
	switch m {
	case MethodShift:
		return Shift
	case MethodAdd:
		return Add
	}
	return Mult
}

// ClassifierOp is the operator of the final linear layer under a method. DeepShift shifts every layer; AdderNet
// keeps the classifier multiplicative (its authors' choice, issues #7 and #60 of huawei-noah/AdderNet).
func (m Method) ClassifierOp() Op {
	if m == MethodShift {
		return Shift
	}
	return Mult
}

// EffectiveOp is the operator a layer of the given kind actually runs when its block asks for op.
// AdderNet is not applied to depthwise convolutions (sim.md §3.4, confirmed by Table 3's counts): they stay Mult.
func EffectiveOp(op Op, kind Kind) Op {
	if op == Add && kind == KindDWConv {
		return Mult
	}
	return op
}

// Act is an activation function.
type Act int

const (
	ActNone Act = iota
	ActReLU
	ActReLU6
	ActHSwish
	ActHSigmoid
)

func (a Act) String() string {
	return [...]string{"none", "relu", "relu6", "hswish", "hsigmoid"}[a]
}
