package arch

import (
	"errors"
	"fmt"
)

// SegHead is a light segmentation head in place of a classifier's head convs and linear layer: LR-ASPP, the
// head MobileNetV3 introduced for on-device segmentation (Howard et al. 2019, torchvision's lraspp), on the
// backbone's last two resolution stages. It is what a tiny MCU model would use: four 1x1 convs and two bilinear
// upsamplings, no atrous pyramid (DeepLab's ASPP costs more than these backbones). The paper does not say
// which head its Table 5 models had; this is our choice.
//
//	high = the last block's output (output stride 32), low = Skip's output (the last block at stride 8)
//	a    = ReLU(BN(Inner(high))) · h-sigmoid(Gate(avgpool(high)))      1x1 convs, Inner with BN, Gate with bias
//	y    = up(Out(a), low's size) + SkipOut(low)                         1x1 convs to classes, with bias
//	out  = up(y, input size)                                             bilinear, half-pixel centres
//
// Out runs before the upsampling, not after as in torchvision: a 1x1 conv commutes with bilinear upsampling
// (both are linear and the upsampling weights sum to 1), so it is the same function at a sixteenth of the
// operations. Gate uses h-sigmoid (MobileNetV3's, and what the integer runner has) and a bias (an adder's
// −Σ|x−w| would otherwise gate everything shut). Inner and Gate take the backbone's operator; Out and SkipOut
// produce the logits and take the classifier's (Method.ClassifierOp): Shift under shift, Mult under add, as
// AdderNet keeps its last layer multiplicative. The upsamplings have no weights and, like thop, are not
// counted.
type SegHead struct {
	// Skip names the block whose output is the low-resolution-stage input of SkipOut.
	Skip                      string
	Inner, Gate, Out, SkipOut Conv
}

// SegInnerWidth is the inner width of the head for backbones of width multiplier 0.35: LR-ASPP's 128 scaled as
// the backbones are, make_divisible(128·0.35, 8).
var SegInnerWidth = MakeDivisible(128*0.35, 8, 0)

// SegSkipStride is the output stride of the head's low-resolution branch (LR-ASPP's 1/8).
const SegSkipStride = 8

// Segmentation reports whether the model ends in a segmentation head.
func (m *Model) Segmentation() bool { return m.Seg != nil }

// WithSegHead returns a copy of the model for semantic segmentation into classes classes (background
// included): the head convs and classifier are dropped and an LR-ASPP head (SegHead) of inner width inner
// (SegInnerWidth if 0) reads the last block and the last block at output stride 8. Its operators follow the
// backbone's stem (use WithMethod afterwards to set a method).
func (m *Model) WithSegHead(classes, inner int) (*Model, error) {
	if classes < 2 || classes > 255 {
		return nil, fmt.Errorf("segmentation into %d classes: want 2..255 (masks are 8-bit, 255 is the ignore label)", classes)
	}
	if inner == 0 {
		inner = SegInnerWidth
	}
	if inner < 1 {
		return nil, fmt.Errorf("segmentation head inner width %d: must be positive", inner)
	}
	skip, skipOut := "", 0
	stride := m.Stem.Stride
	for _, b := range m.Blocks {
		stride *= b.Stride
		if stride == SegSkipStride && !b.DepthAug {
			skip, skipOut = b.Name, b.Out
		}
	}
	if skip == "" || stride <= SegSkipStride {
		return nil, fmt.Errorf("%s has no stage at output stride %d below a deeper one: the segmentation head needs both", m.Name, SegSkipStride)
	}
	last := m.Blocks[len(m.Blocks)-1].Out
	c := m.Clone()
	c.Head, c.Classifier, c.Classes = nil, Linear{}, classes
	op := m.Stem.Op
	c.Seg = &SegHead{Skip: skip,
		Inner:   Conv{Name: "seg.inner", In: last, Out: inner, K: 1, Stride: 1, Act: ActReLU, BN: true, Op: op},
		Gate:    Conv{Name: "seg.gate", In: last, Out: inner, K: 1, Stride: 1, Act: ActHSigmoid, Bias: true, OnPooled: true, Op: op},
		Out:     Conv{Name: "seg.out", In: inner, Out: classes, K: 1, Stride: 1, Bias: true, Op: op},
		SkipOut: Conv{Name: "seg.skip", In: skipOut, Out: classes, K: 1, Stride: 1, Bias: true, Op: op},
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Convs lists the head's convs in the order Layers flattens them.
func (s *SegHead) Convs() []Conv { return []Conv{s.Inner, s.Gate, s.Out, s.SkipOut} }

// layers flattens the head: Inner, Gate (on the pooled map) and Out at the last block's resolution h,
// SkipOut at the skip block's hSkip.
func (s *SegHead) layers(h, hSkip int) []Layer {
	var ls []Layer
	for _, c := range s.Convs() {
		hin := h
		switch {
		case c.OnPooled:
			hin = 1
		case c.Name == s.SkipOut.Name:
			hin = hSkip
		}
		ls = append(ls, Layer{Name: c.Name, Kind: KindConv, Cin: c.In, Cout: c.Out, Groups: 1, K: 1, Stride: 1,
			Hin: hin, Hout: hin, Op: EffectiveOp(c.Op, KindConv), BN: c.BN, Bias: c.Bias, Act: c.Act, OnPooled: c.OnPooled})
	}
	return ls
}

// validateSeg checks a segmentation model's head against its blocks: the skip block exists, channels chain,
// the class convs give Classes outputs, and no classifier head is left beside it.
func (m *Model) validateSeg(lastOut int, blockOut map[string]int) error {
	s := m.Seg
	switch {
	case len(m.Head) > 0 || m.Classifier.Name != "" || m.Classifier.In != 0 || m.Classifier.Out != 0:
		return errors.New("a segmentation model has no classification head or classifier")
	case blockOut[s.Skip] == 0:
		return fmt.Errorf("segmentation head: skip block %q is not one of the blocks", s.Skip)
	case s.Inner.In != lastOut || s.Gate.In != lastOut:
		return fmt.Errorf("segmentation head: %s and %s take %d and %d channels after a block that gives %d", s.Inner.Name, s.Gate.Name, s.Inner.In, s.Gate.In, lastOut)
	case s.Gate.Out != s.Inner.Out || !s.Gate.OnPooled || s.Inner.OnPooled:
		return fmt.Errorf("segmentation head: %s must run on the pooled map and gate %s's %d channels", s.Gate.Name, s.Inner.Name, s.Inner.Out)
	case s.Out.In != s.Inner.Out:
		return fmt.Errorf("segmentation head: %s takes %d channels after %s gives %d", s.Out.Name, s.Out.In, s.Inner.Name, s.Inner.Out)
	case s.SkipOut.In != blockOut[s.Skip]:
		return fmt.Errorf("segmentation head: %s takes %d channels after %s gives %d", s.SkipOut.Name, s.SkipOut.In, s.Skip, blockOut[s.Skip])
	case s.Out.Out != m.Classes || s.SkipOut.Out != m.Classes:
		return fmt.Errorf("segmentation head: %s and %s give %d and %d outputs for %d classes", s.Out.Name, s.SkipOut.Name, s.Out.Out, s.SkipOut.Out, m.Classes)
	case s.Out.OnPooled || s.SkipOut.OnPooled:
		return errors.New("segmentation head: the class convs run on feature maps, not the pooled map")
	}
	for _, c := range s.Convs() {
		if c.K != 1 || c.Stride != 1 {
			return fmt.Errorf("segmentation head: %s is %dx%d stride %d, want 1x1 stride 1", c.Name, c.K, c.K, c.Stride)
		}
	}
	return nil
}
