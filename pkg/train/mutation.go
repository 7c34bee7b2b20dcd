package train

import (
	"fmt"
	"math"

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
)

// Block mutation (§3.4, Fig. 4b): "the training process starts with all multiplications, and the layers of the
// target network become multiplication-free one by one from shallow to deep". The units that mutate are the
// layers the method makes multiplication-free, in execution order: the stem, each block, each head conv (the
// classifier keeps the method's operator throughout). Unit i of n turns at step round(T·(start + (stop−start)·i/(n−1)))
// of the T training steps, so the first mutates at MutationStart and the last at MutationStop.
//
// Each mutation phase is a network of its own (the operators are fixed in the graph), built over the same
// variables; the session switches networks, and recompiles its steps, when a step crosses a phase. The weights
// are created by the first phase's network, all multiplicative: an Add target starts from the multiplicative
// initialisation rather than the adder recipe's.

func (c Config) mutates() bool { return c.MutationStart != 0 || c.MutationStop != 0 }

func (c Config) validateMutation() error {
	if c.DepthAugStop != 0 && !c.DepthAug {
		return fmt.Errorf("depth-augmentation stop %g without depth augmentation (--depth-aug)", c.DepthAugStop)
	}
	if c.DepthAug {
		if c.DepthAugStop < 0 || c.DepthAugStop > 1 {
			return fmt.Errorf("depth-augmentation stop %g: want a fraction of training in (0, 1]", c.DepthAugStop)
		}
		if c.Method != "netaug" && c.Method != "augshift" && c.Method != "augadd" {
			return fmt.Errorf("depth augmentation trains extra blocks inside the augmented network: method %s has none (use netaug, augshift or augadd)", c.Method)
		}
	}
	if !c.mutates() {
		return nil
	}
	if c.MutationStart < 0 || c.MutationStop > 1 || c.MutationStart >= c.MutationStop {
		return fmt.Errorf("block mutation from %g to %g: want 0 <= --mutation-start < --mutation-stop <= 1 (fractions of training)",
			c.MutationStart, c.MutationStop)
	}
	if d, ok := arch.TargetMethod(c.Method); ok && d == arch.MethodBase && !c.KeepOps {
		return fmt.Errorf("block mutation turns layers multiplication-free: method %s has none (use shift, augshift, add or augadd)", c.Method)
	}
	return nil
}

// mutationUnits is the number of layers block mutation turns, one by one.
func mutationUnits(m *arch.Model) int { return 1 + len(m.Blocks) + len(m.Head) }

// MutationPhase is the number of units already multiplication-free before step step of a run of totalSteps:
// every unit when mutation is off.
func (c Config) MutationPhase(m *arch.Model, step, totalSteps int) int {
	n := mutationUnits(m)
	if !c.mutates() {
		return n
	}
	phase := 0
	for i := range n {
		frac := c.MutationStart
		if n > 1 {
			frac += (c.MutationStop - c.MutationStart) * float64(i) / float64(n-1)
		}
		if step >= int(math.Round(frac*float64(totalSteps))) {
			phase++
		}
	}
	return phase
}

// mutated returns m (the method's model) with the units from phase on still multiplicative.
func mutated(m *arch.Model, phase int) *arch.Model {
	if phase >= mutationUnits(m) {
		return m
	}
	c := m.Clone()
	unit := 0
	set := func(op *arch.Op) {
		if unit >= phase {
			*op = arch.Mult
		}
		unit++
	}
	set(&c.Stem.Op)
	for i := range c.Blocks {
		set(&c.Blocks[i].Op)
	}
	for i := range c.Head {
		set(&c.Head[i].Op)
	}
	return c
}

// DepthAugOut is the number of depth-augmentation blocks (of n) already phased out of the target before step
// step of a run of totalSteps: block i of n leaves at step round(T·stop·(i+1)/n), so all are gone at the stop.
func (c Config) DepthAugOut(n, step, totalSteps int) int {
	if !c.DepthAug {
		return n
	}
	stop := c.DepthAugStop
	if stop == 0 {
		stop = 0.5
	}
	out := 0
	for i := range n {
		if step >= int(math.Round(stop*float64(totalSteps)*float64(i+1)/float64(n))) {
			out++
		}
	}
	return out
}
