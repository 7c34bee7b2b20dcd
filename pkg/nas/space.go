// Package nas is ShiftAddAug's two-stage search (paper §3.4, Table 2, Fig. 4a): a multiplicative SuperNet in the
// tinyNAS style, a deep SubNet cut from it (the depth-augmented network, Stage 1), a TargetNet chosen inside the
// SubNet under an energy and latency budget from sim (Stage 2), the augmentation choices of Table 2, and an
// evolutionary search over all of them whose fitness the caller supplies (a short proxy training in the CLI).
//
// Every network here is a pkg/arch model: sim costs it, pkg/arch counts it, pkg/models builds it.
package nas

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strings"

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
)

// StageSpec is one stage of the SuperNet: its output channels at width 1, the stride of its first block, and
// the most blocks it may have.
type StageSpec struct {
	Channels, Stride, MaxDepth int
}

// Space is the search space: the SuperNet's architecture choices (tinyNAS / MCUNet: per stage depth, kernel and
// expand ratio; a width multiplier; the input resolution) and the augmentation choices of Table 2.
type Space struct {
	Classes int
	// Deploy is what the exported target computes with: its stem, head and classifier use Deploy's operators, and
	// its energy and latency are sim's for them.
	Deploy arch.Method
	Act    arch.Act

	Resolutions []int
	Widths      []float64
	Kernels     []int
	Expands     []int
	// Stem, First (the depthwise-separable first block) and Head are channel counts at width 1; Head 0: none.
	Stem, First, Head int
	Stages            []StageSpec

	// Table 2: the operator of each target block, the largest width and expand augmentation multiples, and the
	// fractions of training at which block mutation starts and stops.
	BlockTypes     []arch.Op
	AugWidths      []float64
	AugExpands     []float64
	MutationStarts []float64
	MutationStops  []float64
}

// DefaultSpace is a MobileNetV2-style SuperNet (MCUNet's backbone: MBV2's stage layout at width 1 before the
// multiplier, a 448-wide head as MobileNetV2-Tiny) at the resolutions tinyNAS searches, with Table 2's
// augmentation space. Block types default to the deployed operator alone, so that every target is
// multiplication-free; add arch.Mult (and the other operator) for Table 6's hybrid models.
func DefaultSpace(classes int, deploy arch.Method) Space {
	return Space{
		Classes: classes, Deploy: deploy, Act: arch.ActReLU6,
		Resolutions: []int{96, 128, 160},
		Widths:      []float64{0.25, 0.35, 0.5},
		Kernels:     []int{3, 5, 7},
		Expands:     []int{3, 4, 6},
		Stem:        32, First: 16, Head: 448,
		Stages: []StageSpec{{24, 2, 4}, {32, 2, 4}, {64, 2, 4}, {96, 1, 4}, {160, 2, 4}, {320, 1, 1}},

		BlockTypes:     []arch.Op{deploy.BlockOp()},
		AugWidths:      []float64{2.2, 2.4, 2.8, 3.2},
		AugExpands:     []float64{2.2, 2.4, 2.8, 3.2},
		MutationStarts: []float64{0.05, 0.10, 0.15, 0.20},
		MutationStops:  []float64{0.5, 0.6, 0.7},
	}
}

// Validate checks that every choice list is non-empty and meaningful.
func (s Space) Validate() error {
	switch {
	case s.Classes < 2:
		return fmt.Errorf("search space: %d classes, need at least 2", s.Classes)
	case len(s.Resolutions) == 0 || len(s.Widths) == 0 || len(s.Kernels) == 0 || len(s.Expands) == 0 || len(s.Stages) == 0 ||
		len(s.BlockTypes) == 0 || len(s.AugWidths) == 0 || len(s.AugExpands) == 0 || len(s.MutationStarts) == 0 || len(s.MutationStops) == 0:
		return fmt.Errorf("search space: every choice list needs at least one entry")
	case s.Stem <= 0 || s.First <= 0 || s.Head < 0:
		return fmt.Errorf("search space: stem %d, first block %d, head %d channels", s.Stem, s.First, s.Head)
	}
	if _, ok := arch.TargetMethod(string(s.Deploy)); !ok {
		return fmt.Errorf("search space: unknown deployment method %q", s.Deploy)
	}
	for _, k := range s.Kernels {
		if k != 3 && k != 5 && k != 7 {
			return fmt.Errorf("search space: kernel %d, want 3, 5 or 7", k)
		}
	}
	for _, st := range s.Stages {
		if st.Channels <= 0 || st.MaxDepth < 1 || (st.Stride != 1 && st.Stride != 2) {
			return fmt.Errorf("search space: stage %+v", st)
		}
	}
	for _, f := range append(append([]float64(nil), s.AugWidths...), s.AugExpands...) {
		if f <= 1 {
			return fmt.Errorf("search space: augmentation multiple %g must exceed 1", f)
		}
	}
	for _, a := range s.MutationStarts {
		for _, b := range s.MutationStops {
			if err := CheckMutation(a, b); err != nil {
				return fmt.Errorf("search space: %w", err)
			}
		}
	}
	return nil
}

// CheckMutation checks a block-mutation window: fractions of training with 0 <= start < stop <= 1.
func CheckMutation(start, stop float64) error {
	switch {
	case math.IsNaN(start) || math.IsNaN(stop) || start < 0 || stop > 1:
		return fmt.Errorf("mutation start %g / stop %g: must be fractions of training in [0, 1]", start, stop)
	case start >= stop:
		return fmt.Errorf("mutation start %g >= stop %g: blocks must start mutating before they stop", start, stop)
	}
	return nil
}

// Genome is one point of the search space: the SubNet and TargetNet (architecture) and the augmentation.
// Values are the chosen values themselves, not indices, so that a state file reads on its own.
type Genome struct {
	Res    int         `json:"res"`
	Width  float64     `json:"width"`
	Stages []StageGene `json:"stages"`
	Aug    AugGene     `json:"aug"`
}

// StageGene is one stage: its kernel and expand ratio (shared by its blocks), the SubNet's depth (Stage 1) and
// the TargetNet's: the target keeps the first TargetDepth of the stage's SubDepth blocks (Stage 2), and the others
// are depth augmentation. Types holds a block type per block slot of the stage (MaxDepth of them), so that a
// depth mutation never shifts the types of the other blocks.
type StageGene struct {
	Kernel      int      `json:"kernel"`
	Expand      int      `json:"expand"`
	SubDepth    int      `json:"sub_depth"`
	TargetDepth int      `json:"target_depth"`
	Types       []string `json:"types"`
}

// AugGene is Table 2's augmentation: the largest width and expand multiples and the block-mutation window.
type AugGene struct {
	Width         float64 `json:"width"`
	Expand        float64 `json:"expand"`
	MutationStart float64 `json:"mutation_start"`
	MutationStop  float64 `json:"mutation_stop"`
}

// Clone deep-copies the genome.
func (g Genome) Clone() Genome {
	c := g
	c.Stages = make([]StageGene, len(g.Stages))
	for i, st := range g.Stages {
		c.Stages[i] = st
		c.Stages[i].Types = append([]string(nil), st.Types...)
	}
	return c
}

// Key is the genome's canonical text: equal genomes have equal keys (the fitness cache's key).
func (g Genome) Key() string {
	b, err := json.Marshal(g)
	if err != nil {
		panic(err) // plain values only: cannot fail
	}
	return string(b)
}

// ID is a short stable name for the genome (a hash of its key), used in model names.
func (g Genome) ID() string {
	h := fnv.New32a()
	h.Write([]byte(g.Key()))
	return fmt.Sprintf("%08x", h.Sum32())
}

func oneOf[T comparable](what string, v T, choices []T) error {
	if !slices.Contains(choices, v) {
		return fmt.Errorf("%s %v: want one of %v", what, v, choices)
	}
	return nil
}

// Validate checks every gene against the space: a one-line error names the first that is not a choice of it.
func (g Genome) Validate(s Space) error {
	if err := oneOf("resolution", g.Res, s.Resolutions); err != nil {
		return err
	}
	if err := oneOf("width multiplier", g.Width, s.Widths); err != nil {
		return err
	}
	if len(g.Stages) != len(s.Stages) {
		return fmt.Errorf("%d stages, the space has %d", len(g.Stages), len(s.Stages))
	}
	for i, st := range g.Stages {
		spec := s.Stages[i]
		if err := oneOf(fmt.Sprintf("stage %d kernel", i+1), st.Kernel, s.Kernels); err != nil {
			return err
		}
		if err := oneOf(fmt.Sprintf("stage %d expand ratio", i+1), st.Expand, s.Expands); err != nil {
			return err
		}
		if st.TargetDepth < 1 || st.TargetDepth > st.SubDepth || st.SubDepth > spec.MaxDepth {
			return fmt.Errorf("stage %d: target depth %d, SubNet depth %d: want 1 <= target <= SubNet <= %d",
				i+1, st.TargetDepth, st.SubDepth, spec.MaxDepth)
		}
		if len(st.Types) != spec.MaxDepth {
			return fmt.Errorf("stage %d: %d block types for %d block slots", i+1, len(st.Types), spec.MaxDepth)
		}
		for _, t := range st.Types {
			op, err := arch.ParseOp(t)
			if err != nil {
				return fmt.Errorf("stage %d: %w", i+1, err)
			}
			if !slices.Contains(s.BlockTypes, op) {
				return fmt.Errorf("stage %d: block type %s is not in the search space (%v)", i+1, op, s.BlockTypes)
			}
		}
	}
	a := g.Aug
	if err := oneOf("width augmentation multiple", a.Width, s.AugWidths); err != nil {
		return err
	}
	if err := oneOf("expand augmentation multiple", a.Expand, s.AugExpands); err != nil {
		return err
	}
	if err := CheckMutation(a.MutationStart, a.MutationStop); err != nil {
		return err
	}
	if err := oneOf("mutation start", a.MutationStart, s.MutationStarts); err != nil {
		return err
	}
	return oneOf("mutation stop", a.MutationStop, s.MutationStops)
}

// Net is a decoded genome: the SubNet (Stage 1, the depth-augmented network) and which of its blocks are depth
// augmentation rather than TargetNet (Stage 2).
type Net struct {
	Genome Genome
	SubNet *arch.Model
	// DepthAug[i] is true when SubNet.Blocks[i] is depth augmentation: trained with the target through shared
	// weights, phased out of it during training, never exported.
	DepthAug []bool
}

// Target is the TargetNet alone: the SubNet without its depth-augmentation blocks. Its blocks keep the SubNet's
// names, so the variables they are trained with in the SubNet are the target's by name.
func (n *Net) Target() *arch.Model {
	t := n.SubNet.Clone()
	t.Name = strings.TrimSuffix(n.SubNet.Name, "-sub")
	t.Blocks = t.Blocks[:0]
	for i, b := range n.SubNet.Blocks {
		if !n.DepthAug[i] {
			t.Blocks = append(t.Blocks, b)
		}
	}
	return t
}

// augList spreads n multipliers evenly from 1 (the target) to top, as NetAug's lists are spread.
func augList(top float64, n int) []float64 {
	l := make([]float64, n)
	for i := range l {
		l[i] = math.Round((1+(top-1)*float64(i)/float64(n-1))*1000) / 1000
	}
	return l
}

// Decode builds the SubNet of a genome. The SuperNet is multiplicative: depth-augmentation blocks are Mult, and
// target blocks take their genome's block type; the stem, head and classifier take the deployed method's
// operators.
func (s Space) Decode(g Genome) (*Net, error) {
	if err := g.Validate(s); err != nil {
		return nil, err
	}
	ch := func(c int) int { return arch.MakeDivisible(float64(c)*g.Width, 8, 0) }
	op, clsOp := s.Deploy.BlockOp(), s.Deploy.ClassifierOp()
	name := "nas-" + g.ID()
	m := &arch.Model{Name: name + "-sub", Classes: s.Classes, Res: g.Res,
		Stem:      arch.Conv{Name: "stem", In: 3, Out: ch(s.Stem), K: 3, Stride: 2, Act: s.Act, BN: true, Op: op},
		AugWidth:  augList(g.Aug.Width, 3),
		AugExpand: augList(g.Aug.Expand, 4),
	}
	n := &Net{Genome: g.Clone(), SubNet: m}
	in := m.Stem.Out
	first := ch(s.First)
	m.Blocks = append(m.Blocks, arch.Block{Name: "blocks.0", In: in, Mid: in, Out: first, K: 3, Stride: 1, Act: s.Act,
		FirstInStage: true, Residual: in == first, Op: op})
	n.DepthAug = append(n.DepthAug, false)
	in = first
	for si, st := range g.Stages {
		spec := s.Stages[si]
		out := ch(spec.Channels)
		for j := 0; j < st.SubDepth; j++ {
			stride := 1
			if j == 0 {
				stride = spec.Stride
			}
			b := arch.Block{Name: fmt.Sprintf("blocks.%d", len(m.Blocks)), In: in, Mid: arch.MakeDivisible(float64(in*st.Expand), 8, 0),
				Out: out, K: st.Kernel, Stride: stride, Expand: true, Act: s.Act, FirstInStage: j == 0,
				Residual: j > 0 && in == out, Op: arch.Mult}
			aug := j >= st.TargetDepth
			if !aug {
				b.Op, _ = arch.ParseOp(st.Types[j])
			}
			b.DepthAug = aug // so that train's depth augmentation phases it out of the target
			m.Blocks = append(m.Blocks, b)
			n.DepthAug = append(n.DepthAug, aug)
			in = out
		}
	}
	if s.Head > 0 {
		m.Head = []arch.Conv{{Name: "head.conv", In: in, Out: s.Head, K: 1, Stride: 1, Act: s.Act, BN: true, Op: op}}
		in = s.Head
	}
	m.Classifier = arch.Linear{Name: "classifier", In: in, Out: s.Classes, Op: clsOp}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("decoding genome %s: %w", g.ID(), err)
	}
	return n, nil
}
