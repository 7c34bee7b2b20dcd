package nas

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/pkg/models"
	"github.com/shiftaddaug/shiftaddaug/sim"
)

func testSpace() Space {
	s := DefaultSpace(10, arch.MethodShift)
	s.Resolutions = []int{32, 64}
	return s
}

// TestDecodeSubNetAndTarget: sampled genomes decode to valid SubNets whose targets are the SubNet without its
// depth-augmentation blocks, with consistent counts and sim costs.
func TestDecodeSubNetAndTarget(t *testing.T) {
	s := testSpace()
	rng := rand.New(rand.NewPCG(3, 0))
	sawAug := false
	for range 20 {
		g := s.Sample(rng)
		n, err := s.Decode(g)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.SubNet.Layers(g.Res); err != nil {
			t.Fatal(err)
		}
		tg := n.Target()
		if err := tg.Validate(); err != nil {
			t.Fatalf("target: %v", err)
		}
		var keep []string
		wantTarget := 1 // blocks.0
		for i, b := range n.SubNet.Blocks {
			if n.DepthAug[i] {
				sawAug = true
				if b.Op != arch.Mult {
					t.Errorf("depth-augmentation block %s runs %v, want mult", b.Name, b.Op)
				}
				continue
			}
			keep = append(keep, b.Name)
		}
		for _, st := range g.Stages {
			wantTarget += st.TargetDepth
		}
		var got []string
		for _, b := range tg.Blocks {
			got = append(got, b.Name)
		}
		if !slices.Equal(got, keep) || len(got) != wantTarget {
			t.Fatalf("target blocks %v, want the SubNet's non-augmentation blocks %v (%d)", got, keep, wantTarget)
		}
		cs, _ := n.SubNet.Count(g.Res)
		ct, err := tg.Count(g.Res)
		if err != nil {
			t.Fatal(err)
		}
		if len(tg.Blocks) < len(n.SubNet.Blocks) && (ct.MACs >= cs.MACs || ct.Params >= cs.Params) {
			t.Errorf("target (%d MACs, %d params) not smaller than its SubNet (%d, %d)", ct.MACs, ct.Params, cs.MACs, cs.Params)
		}
		if ct.Mult != 0 && ct.Mult != int64(0) {
			t.Errorf("a shift target counts %d multiplications", ct.Mult)
		}
		// All blocks on the deployed operator: our cost is sim.CostModel's.
		c, err := TargetCost(tg, g.Res)
		if err != nil {
			t.Fatal(err)
		}
		nc, err := sim.CostModel(sim.DefaultConfig(), tg, s.Deploy, g.Res, sim.ModelOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c.EnergyMJ <= 0 || math.Abs(c.EnergyMJ-nc.EnergyMJ) > 1e-12 || math.Abs(c.LatencyMS-nc.LatencyMS) > 1e-12 {
			t.Errorf("cost %+v, sim.CostModel %g mJ / %g ms", c, nc.EnergyMJ, nc.LatencyMS)
		}
	}
	if !sawAug {
		t.Error("no sample had depth augmentation")
	}
}

// TestSampleDeterministic: the same seed draws the same genomes.
func TestSampleDeterministic(t *testing.T) {
	s := testSpace()
	a, b := rand.New(rand.NewPCG(9, 1)), rand.New(rand.NewPCG(9, 1))
	for range 10 {
		if ga, gb := s.Sample(a), s.Sample(b); ga.Key() != gb.Key() {
			t.Fatalf("%s != %s", ga.Key(), gb.Key())
		}
	}
}

// TestHybridBlockTypes: with Table 2's three block types, target blocks take their genes' operators, and the
// cost of a target with Mult blocks exceeds that of the same target all Shift.
func TestHybridBlockTypes(t *testing.T) {
	s := testSpace()
	s.BlockTypes = []arch.Op{arch.Mult, arch.Shift, arch.Add}
	g := s.Smallest()
	for i := range g.Stages {
		for j := range g.Stages[i].Types {
			g.Stages[i].Types[j] = "shift"
		}
	}
	g.Stages[2].Types[0] = "mult"
	g.Stages[3].Types[0] = "add"
	n, err := s.Decode(g)
	if err != nil {
		t.Fatal(err)
	}
	ops := map[arch.Op]int{}
	for _, b := range n.Target().Blocks {
		ops[b.Op]++
	}
	if ops[arch.Mult] != 1 || ops[arch.Add] != 1 || ops[arch.Shift] != len(n.Target().Blocks)-2 {
		t.Errorf("block operators %v", ops)
	}
	hybrid, _ := TargetCost(n.Target(), g.Res)
	allShift, _ := TargetCost(n.Target().WithMethod(arch.MethodShift), g.Res)
	if hybrid.EnergyMJ == allShift.EnergyMJ {
		t.Errorf("per-block types did not change the cost: %+v", hybrid)
	}
}

// TestGenomeValidate: genes outside the space are one-line errors naming them.
func TestGenomeValidate(t *testing.T) {
	s := testSpace()
	base := s.Smallest()
	cases := []struct {
		edit func(g *Genome)
		want string
	}{
		{func(g *Genome) { g.Stages[1].Types[0] = "mul" }, `unknown block type "mul"`},
		{func(g *Genome) { g.Stages[1].Types[0] = "add" }, "block type add is not in the search space"},
		{func(g *Genome) { g.Aug.MutationStart, g.Aug.MutationStop = 0.7, 0.5 }, "mutation start 0.7 >= stop 0.5"},
		{func(g *Genome) { g.Aug.MutationStart = 0.5 }, "mutation start 0.5 >= stop 0.5"},
		{func(g *Genome) { g.Aug.Width = 2.0 }, "width augmentation multiple 2"},
		{func(g *Genome) { g.Stages[0].Kernel = 9 }, "stage 1 kernel 9"},
		{func(g *Genome) { g.Stages[0].TargetDepth = 2 }, "target depth 2, SubNet depth 1"},
		{func(g *Genome) { g.Res = 33 }, "resolution 33"},
	}
	for i, c := range cases {
		g := base.Clone()
		c.edit(&g)
		_, err := s.Decode(g)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("case %d: want a one-line error with %q, got %v", i, c.want, err)
		}
	}
	if base.Stages[1].Types[0] != "shift" {
		t.Error("Clone aliased the block types")
	}
	if err := CheckMutation(0.2, 0.1); err == nil {
		t.Error("start > stop accepted")
	}
}

// TestTargetAndSubNetBuild: pkg/models builds the sampled SubNet (augmented, as training will) and its target,
// and the target graph has pkg/arch's parameter count.
func TestTargetAndSubNetBuild(t *testing.T) {
	s := testSpace()
	g := s.Sample(rand.New(rand.NewPCG(5, 0)))
	g.Res = 32
	n, err := s.Decode(g)
	if err != nil {
		t.Fatal(err)
	}
	backend := engine.MustNew()
	x := tensors.FromShape(shapes.Make(dtypes.Float32, 2, 32, 32, 3))
	for _, m := range []*arch.Model{n.Target(), n.SubNet} {
		net, err := models.New(m, models.Aug{}, 1)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.New()
		out := context.MustExecOnce(backend, ctx, func(ctx *context.Context, x *Node) *Node {
			return net.Logits(ctx, x, models.Pass{})
		}, x)
		if d := out.Shape().Dimensions; d[0] != 2 || d[1] != 10 {
			t.Errorf("%s: logits %v", m.Name, d)
		}
		var params int64
		for v := range ctx.IterVariables() {
			if v.Trainable {
				params += int64(v.Shape().Size())
			}
		}
		if c, _ := m.Count(32); params != c.Params {
			t.Errorf("%s: %d trainable parameters, arch counts %d", m.Name, params, c.Params)
		}
	}
	// The augmented SubNet (Table 2's width and expand multiples) builds too.
	sub := n.SubNet
	net, err := models.New(sub, models.DefaultAug(sub), 1)
	if err != nil {
		t.Fatal(err)
	}
	masks := tensors.FromFlatDataAndDimensions(net.SampleMasks(rand.New(rand.NewPCG(1, 1)), models.SampleMode(0)), net.MaskLen())
	out := context.MustExecOnceN(backend, context.New(), func(ctx *context.Context, x, mk *Node) []*Node {
		return []*Node{net.Logits(ctx, x, models.Pass{Augmented: true, Masks: mk, BNScope: models.AugStats})}
	}, x, masks)
	if d := out[0].Shape().Dimensions; d[1] != 10 {
		t.Errorf("augmented SubNet logits %v", d)
	}
}
