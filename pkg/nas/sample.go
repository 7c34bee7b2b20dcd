package nas

import (
	"math/rand/v2"
)

func pick[T any](rng *rand.Rand, choices []T) T { return choices[rng.IntN(len(choices))] }

// depths draws a stage's TargetNet depth, then a SubNet depth at least as deep: the SubNet is the deep one.
func depths(rng *rand.Rand, max int) (target, sub int) {
	target = 1 + rng.IntN(max)
	return target, target + rng.IntN(max-target+1)
}

// Sample draws a genome uniformly from the space (depths as depths does). The same rng state gives the same genome.
func (s Space) Sample(rng *rand.Rand) Genome {
	g := Genome{Res: pick(rng, s.Resolutions), Width: pick(rng, s.Widths)}
	for _, spec := range s.Stages {
		st := StageGene{Kernel: pick(rng, s.Kernels), Expand: pick(rng, s.Expands)}
		st.TargetDepth, st.SubDepth = depths(rng, spec.MaxDepth)
		for range spec.MaxDepth {
			st.Types = append(st.Types, pick(rng, s.BlockTypes).String())
		}
		g.Stages = append(g.Stages, st)
	}
	g.Aug = AugGene{Width: pick(rng, s.AugWidths), Expand: pick(rng, s.AugExpands),
		MutationStart: pick(rng, s.MutationStarts), MutationStop: pick(rng, s.MutationStops)}
	return g
}

// Smallest is the cheapest genome of the space: lowest resolution, width, kernel, expand ratio and depths.
func (s Space) Smallest() Genome {
	g := Genome{Res: minOf(s.Resolutions), Width: minOf(s.Widths)}
	for _, spec := range s.Stages {
		st := StageGene{Kernel: minOf(s.Kernels), Expand: minOf(s.Expands), TargetDepth: 1, SubDepth: 1}
		for range spec.MaxDepth {
			st.Types = append(st.Types, s.BlockTypes[0].String())
		}
		g.Stages = append(g.Stages, st)
	}
	g.Aug = AugGene{Width: s.AugWidths[0], Expand: s.AugExpands[0], MutationStart: s.MutationStarts[0], MutationStop: s.MutationStops[0]}
	return g
}

func minOf[T int | float64](xs []T) T {
	m := xs[0]
	for _, x := range xs {
		m = min(m, x)
	}
	return m
}

// Mutate returns a copy of g with each gene redrawn from the space with probability p. A stage's two depths are
// one gene, redrawn together, so that the target never outgrows its SubNet.
func (s Space) Mutate(rng *rand.Rand, g Genome, p float64) Genome {
	c := g.Clone()
	hit := func() bool { return rng.Float64() < p }
	if hit() {
		c.Res = pick(rng, s.Resolutions)
	}
	if hit() {
		c.Width = pick(rng, s.Widths)
	}
	for i := range c.Stages {
		st := &c.Stages[i]
		if hit() {
			st.Kernel = pick(rng, s.Kernels)
		}
		if hit() {
			st.Expand = pick(rng, s.Expands)
		}
		if hit() {
			st.TargetDepth, st.SubDepth = depths(rng, s.Stages[i].MaxDepth)
		}
		for j := range st.Types {
			if hit() {
				st.Types[j] = pick(rng, s.BlockTypes).String()
			}
		}
	}
	a := &c.Aug
	if hit() {
		a.Width = pick(rng, s.AugWidths)
	}
	if hit() {
		a.Expand = pick(rng, s.AugExpands)
	}
	if hit() {
		a.MutationStart = pick(rng, s.MutationStarts)
	}
	if hit() {
		a.MutationStop = pick(rng, s.MutationStops)
	}
	return c
}

// Crossover takes each gene from a or b with equal chance (a stage's depths together, as in Mutate).
func Crossover(rng *rand.Rand, a, b Genome) Genome {
	c := a.Clone()
	fromB := func() bool { return rng.IntN(2) == 1 }
	if fromB() {
		c.Res = b.Res
	}
	if fromB() {
		c.Width = b.Width
	}
	for i := range c.Stages {
		st, o := &c.Stages[i], b.Stages[i]
		if fromB() {
			st.Kernel = o.Kernel
		}
		if fromB() {
			st.Expand = o.Expand
		}
		if fromB() {
			st.TargetDepth, st.SubDepth = o.TargetDepth, o.SubDepth
		}
		for j := range st.Types {
			if fromB() {
				st.Types[j] = o.Types[j]
			}
		}
	}
	if fromB() {
		c.Aug.Width = b.Aug.Width
	}
	if fromB() {
		c.Aug.Expand = b.Aug.Expand
	}
	if fromB() {
		c.Aug.MutationStart = b.Aug.MutationStart
	}
	if fromB() {
		c.Aug.MutationStop = b.Aug.MutationStop
	}
	return c
}
