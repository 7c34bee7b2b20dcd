package arch

import "fmt"

// Depth augmentation (§3.4, Fig. 4b): blocks that only take part in training. The SubNet a NAS cuts is deeper
// than its TargetNet; the blocks it does not select for the target are depth augmentation: trained with the target
// through shared weights (Eq. 3), phased out of the target during training, never exported. A model's blocks
// with DepthAug set are those; WithoutDepthAug is the target that is deployed.

// WithoutDepthAug returns a copy without the depth-augmentation blocks: the network that is exported and costed.
func (m *Model) WithoutDepthAug() *Model {
	c := m.Clone()
	c.Blocks = c.Blocks[:0]
	for _, b := range m.Blocks {
		if !b.DepthAug {
			c.Blocks = append(c.Blocks, b)
		}
	}
	return c
}

// DepthAugBlocks is the number of depth-augmentation blocks.
func (m *Model) DepthAugBlocks() int {
	n := 0
	for _, b := range m.Blocks {
		if b.DepthAug {
			n++
		}
	}
	return n
}

// WithDepthAug returns a copy with one depth-augmentation block after the last block of each stage: a copy of
// that block (kernel, expand ratio of the stage's residual blocks, activation, SE) with stride 1 and an identity
// shortcut over the stage's width, so that skipping it leaves the target's function as it is. It is how
// `train --depth-aug` deepens a zoo model; a NAS SubNet marks its own.
func (m *Model) WithDepthAug() *Model {
	c := m.Clone()
	c.Blocks = c.Blocks[:0]
	for i, b := range m.Blocks {
		c.Blocks = append(c.Blocks, b)
		if b.DepthAug || (i+1 < len(m.Blocks) && !m.Blocks[i+1].FirstInStage) {
			continue
		}
		mid := b.Mid
		if !b.Residual {
			// The stage's first block expands from the previous stage's width; a residual block expands its own.
			mid = RoundHalfUp(float64(b.Mid) / float64(b.In) * float64(b.Out))
		}
		d := Block{Name: fmt.Sprintf("%s_da", b.Name), In: b.Out, Mid: mid, Out: b.Out, K: b.K, Stride: 1,
			Expand: b.Expand || mid != b.Out, SE: b.SE, Act: b.Act, Residual: true, Op: b.Op, DepthAug: true}
		if !d.Expand {
			d.Mid = d.In
		}
		c.Blocks = append(c.Blocks, d)
	}
	return c
}
