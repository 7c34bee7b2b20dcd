package models

import (
	"fmt"
	"math/rand/v2"

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
)

// Aug is NetAug's augmentation setting: width and expand multipliers. The first entry of each list must be 1.0
// (the target). Nil lists mean no augmentation of that kind.
type Aug struct {
	Width  []float64
	Expand []float64
}

// DefaultAug is the model's own NetAug lists (method.md §1.6).
func DefaultAug(m *arch.Model) Aug {
	return Aug{Width: append([]float64(nil), m.AugWidth...), Expand: append([]float64(nil), m.AugExpand...)}
}

func (a Aug) maxWidth() float64  { return maxOf(a.Width) }
func (a Aug) maxExpand() float64 { return maxOf(a.Expand) }

func maxOf(xs []float64) float64 {
	m := 1.0
	for _, x := range xs {
		if x > m {
			m = x
		}
	}
	return m
}

func (a Aug) validate() error {
	for _, l := range [][]float64{a.Width, a.Expand} {
		if len(l) > 0 && l[0] != 1.0 {
			return fmt.Errorf("augmentation multipliers %v: the first must be 1.0 (the target)", l)
		}
		for _, f := range l {
			if f < 1 {
				return fmt.Errorf("augmentation multiplier %v below 1", f)
			}
		}
	}
	return nil
}

// channels is a channel count in the target network and in the widest augmented one.
type channels struct{ Target, Wide int }

// blockDims are the channel counts of one block.
type blockDims struct {
	In, Mid, SE, Out channels
	expand           float64 // base expand ratio Mid/In
	inMask           int     // offset of the block input's mask in the mask vector
	midMask, seMask  int     // offsets of this block's masks in the mask vector (-1: none)
	outMask          int
}

// dims are every layer's channel counts, and where each layer's channel mask sits in the mask vector.
type dims struct {
	Stem     channels
	stemMask int
	Blocks   []blockDims
	Head     []channels
	headMask []int
	ClassIn  channels
	// segInner is the segmentation head's inner (and gate) width, segMask its mask offset.
	segInner channels
	segMask  int
	MaskLen  int
}

func wideOf(n int, f float64) int { return arch.RoundHalfUp(float64(n) * f) }

// computeDims derives the wide sizes from the model and augmentation lists, following NetAug: widths are
// base×factor rounded half up; identity-shortcut blocks keep their input width; mid = round(expand·in).
func computeDims(m *arch.Model, a Aug) dims {
	var d dims
	off := 0
	take := func(n int) int { o := off; off += n; return o }
	mw, me := a.maxWidth(), a.maxExpand()
	d.Stem = channels{m.Stem.Out, wideOf(m.Stem.Out, mw)}
	d.stemMask = take(d.Stem.Wide)
	in := d.Stem
	inMask := d.stemMask
	for _, b := range m.Blocks {
		bd := blockDims{In: in, expand: float64(b.Mid) / float64(b.In), inMask: inMask, midMask: -1, seMask: -1}
		if b.Expand {
			bd.Mid = channels{b.Mid, arch.RoundHalfUp(bd.expand * me * float64(in.Wide))}
			bd.midMask = take(bd.Mid.Wide)
		} else {
			bd.Mid = in // depthwise on the block input: it shares the input's mask
			bd.midMask = inMask
		}
		if b.SE > 0 {
			bd.SE = channels{b.SE, arch.SEWidth(bd.Mid.Wide)}
			bd.seMask = take(bd.SE.Wide)
		}
		if b.Residual {
			bd.Out = in
			bd.outMask = inMask
		} else {
			bd.Out = channels{b.Out, wideOf(b.Out, mw)}
			bd.outMask = take(bd.Out.Wide)
		}
		d.Blocks = append(d.Blocks, bd)
		in, inMask = bd.Out, bd.outMask
	}
	for _, h := range m.Head {
		c := channels{h.Out, wideOf(h.Out, mw)}
		d.Head = append(d.Head, c)
		d.headMask = append(d.headMask, take(c.Wide))
		in = c
	}
	d.ClassIn = in
	if s := m.Seg; s != nil {
		d.segInner = channels{s.Inner.Out, wideOf(s.Inner.Out, mw)}
		d.segMask = take(d.segInner.Wide)
	}
	d.MaskLen = off
	return d
}

// SampleMode says which multipliers an augmented pass draws (NetAug's set_active modes).
type SampleMode int

const (
	// SampleRandom draws width and expand multipliers independently per layer.
	SampleRandom SampleMode = iota
	// SampleMinWidth keeps target widths but draws expand ratios: NetAug's phase after width augmentation stops.
	SampleMinWidth
	// SampleMax uses the widest network.
	SampleMax
	// SampleMin is the target network inside the wide tensors (all masks cut at the target).
	SampleMin
)

// SampleMasks draws one augmented configuration and returns its channel masks (1 active, 0 inactive) as the
// flat vector the augmented pass takes. The target channels are always active.
func (n *Net) SampleMasks(rng *rand.Rand, mode SampleMode) []float32 {
	mask := make([]float32, n.dims.MaskLen)
	pick := func(l []float64, random bool) float64 {
		switch {
		case mode == SampleMax:
			return maxOf(l)
		case !random || len(l) == 0 || mode == SampleMin:
			return 1
		}
		return l[rng.IntN(len(l))]
	}
	set := func(off, active int) {
		for i := 0; i < active; i++ {
			mask[off+i] = 1
		}
	}
	randomW := mode == SampleRandom
	randomE := mode == SampleRandom || mode == SampleMinWidth
	d := n.dims
	act := arch.RoundHalfUp(float64(d.Stem.Target) * pick(n.Aug.Width, randomW))
	set(d.stemMask, act)
	for i, b := range n.Arch.Blocks {
		bd := d.Blocks[i]
		mid := act
		if b.Expand {
			mid = arch.RoundHalfUp(bd.expand * pick(n.Aug.Expand, randomE) * float64(act))
			mid = max(mid, bd.Mid.Target)
			set(bd.midMask, mid)
		}
		if b.SE > 0 {
			set(bd.seMask, arch.SEWidth(mid))
		}
		if !b.Residual {
			act = arch.RoundHalfUp(float64(b.Out) * pick(n.Aug.Width, randomW))
			set(bd.outMask, act)
		}
	}
	for i, h := range n.Arch.Head {
		set(d.headMask[i], arch.RoundHalfUp(float64(h.Out)*pick(n.Aug.Width, randomW)))
	}
	if s := n.Arch.Seg; s != nil {
		set(d.segMask, arch.RoundHalfUp(float64(s.Inner.Out)*pick(n.Aug.Width, randomW)))
	}
	return mask
}
