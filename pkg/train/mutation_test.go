package train

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/datasets"
	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/pkg/models"
	"github.com/shiftaddaug/shiftaddaug/pkg/models/export"
)

// unitOps lists the operators of the units block mutation turns (stem, blocks, head convs) in execution order.
func unitOps(m *arch.Model) []arch.Op {
	ops := []arch.Op{m.Stem.Op}
	for _, b := range m.Blocks {
		ops = append(ops, b.Op)
	}
	for _, h := range m.Head {
		ops = append(ops, h.Op)
	}
	return ops
}

// TestMutationSchedule: no unit is multiplication-free before the start, one more turns at a time, shallow to
// deep, the first at the start and the last at the stop; without mutation every unit is the method's from step 0.
func TestMutationSchedule(t *testing.T) {
	m, _ := arch.Get("mbv2-w0.35", 10)
	n := mutationUnits(m)
	cfg := DefaultConfig("mbv2-w0.35", "shift")
	if got := cfg.MutationPhase(m, 0, 1000); got != n {
		t.Fatalf("without mutation: phase %d at step 0, want all %d units", got, n)
	}
	cfg.MutationStart, cfg.MutationStop = 0.1, 0.6
	const total = 1000
	prev := 0
	for step := range total + 1 {
		p := cfg.MutationPhase(m, step, total)
		switch {
		case step < 100 && p != 0:
			t.Fatalf("step %d (before the start): phase %d, want 0", step, p)
		case step == 100 && p != 1:
			t.Fatalf("step 100 (the start): phase %d, want 1", p)
		case step >= 600 && p != n:
			t.Fatalf("step %d (from the stop): phase %d, want %d", step, p, n)
		case p < prev || p > prev+1:
			t.Fatalf("step %d: phase %d after %d: units must turn one at a time", step, p, prev)
		}
		prev = p
	}
	if prev != n {
		t.Fatalf("final phase %d, want %d", prev, n)
	}
	shift := m.WithMethod(arch.MethodShift)
	for phase := 0; phase <= n; phase++ {
		for i, op := range unitOps(mutated(shift, phase)) {
			if want := map[bool]arch.Op{true: arch.Shift, false: arch.Mult}[i < phase]; op != want {
				t.Fatalf("phase %d: unit %d is %s, want %s", phase, i, op, want)
			}
		}
	}
}

// TestMutationTrains: a session with block mutation switches its network as steps cross the schedule (the
// target's units turn multiplication-free in order), keeps training (finite, falling loss on the quadrant task),
// and ends with the method's own model, every unit Shift.
func TestMutationTrains(t *testing.T) {
	if testing.Short() {
		t.Skip("trains")
	}
	cfg := DefaultConfig("mbv2-tiny", "augshift")
	cfg.Res, cfg.Batch, cfg.Epochs, cfg.WarmupEpochs, cfg.LR = 32, 16, 1, 0, 0.05
	const steps = 24
	cfg.StepsPerEpoch = steps
	cfg.MutationStart, cfg.MutationStop = 0.2, 0.7
	s, err := NewSession(engine.MustNew(), cfg, 4)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	batches := make([]*datasets.Batch, 4)
	for i := range batches {
		batches[i] = quadrantBatch(rng, cfg.Batch, cfg.Res)
	}
	var losses []float64
	for i := range steps {
		r, err := s.TrainStep(batches[i%len(batches)], models.SampleRandom)
		if err != nil {
			t.Fatal(err)
		}
		if math.IsNaN(r.LossTarget) || math.IsInf(r.LossTarget, 0) {
			t.Fatalf("step %d: loss %v", i, r.LossTarget)
		}
		losses = append(losses, r.LossTarget)
		want := cfg.MutationPhase(s.deployed, i, steps)
		if s.MutationPhase() != want {
			t.Fatalf("step %d ran at phase %d, want %d", i, s.MutationPhase(), want)
		}
		for u, op := range unitOps(s.Net.Arch) {
			if (u < want) != (op == arch.Shift) {
				t.Fatalf("step %d (phase %d): unit %d is %s", i, want, u, op)
			}
		}
	}
	if err := s.syncPhase(); err != nil {
		t.Fatal(err)
	}
	for u, op := range unitOps(s.Net.Arch) {
		if op != arch.Shift {
			t.Fatalf("after training: unit %d is %s, want shift", u, op)
		}
	}
	first := (losses[0] + losses[1] + losses[2] + losses[3]) / 4
	last := (losses[steps-4] + losses[steps-3] + losses[steps-2] + losses[steps-1]) / 4
	if !(last < first-0.1) {
		t.Fatalf("loss did not fall: first steps %.3f, last steps %.3f (%v)", first, last, losses)
	}
}

func TestMutationRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		method      string
		start, stop float64
		want        string
	}{{"shift", 0.5, 0.5, "mutation-start"}, {"shift", 0.7, 0.5, "mutation-start"}, {"shift", -0.1, 0.5, "mutation-start"},
		{"shift", 0.1, 1.5, "mutation-stop"}, {"base", 0.1, 0.5, "multiplication-free"}, {"shift", math.NaN(), 0.5, "finite"}} {
		cfg := DefaultConfig("mbv2-w0.35", tc.method)
		cfg.MutationStart, cfg.MutationStop = tc.start, tc.stop
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s from %v to %v: error %v, want one mentioning %q", tc.method, tc.start, tc.stop, err, tc.want)
		}
	}
}

// TestDepthAugmentationTrains: with --depth-aug the session trains the deepened model, phases its
// depth-augmentation blocks out of the target one by one until the stop, and exports the target without them.
func TestDepthAugmentationTrains(t *testing.T) {
	if testing.Short() {
		t.Skip("trains")
	}
	cfg := DefaultConfig("mbv2-tiny", "netaug")
	cfg.Res, cfg.Batch, cfg.Epochs, cfg.WarmupEpochs, cfg.LR = 32, 16, 1, 0, 0.05
	const steps = 12
	cfg.StepsPerEpoch = steps
	cfg.DepthAug, cfg.DepthAugStop = true, 0.5
	s, err := NewSession(engine.MustNew(), cfg, 4)
	if err != nil {
		t.Fatal(err)
	}
	n := s.deployed.DepthAugBlocks()
	if n == 0 {
		t.Fatal("no depth-augmentation blocks")
	}
	batches := []*datasets.Batch{quadrantBatch(rand.New(rand.NewPCG(5, 6)), cfg.Batch, cfg.Res)}
	for i := range steps {
		if _, err := s.TrainStep(batches[0], models.SampleRandom); err != nil {
			t.Fatal(err)
		}
		if want := cfg.DepthAugOut(n, i, steps); s.daOut != want {
			t.Fatalf("step %d: %d blocks out of the target, want %d", i, s.daOut, want)
		}
		if i == 0 && s.daOut != 0 || i >= steps/2 && s.daOut != n {
			t.Fatalf("step %d: %d of %d depth-augmentation blocks out", i, s.daOut, n)
		}
	}
	target, err := s.TargetNet()
	if err != nil {
		t.Fatal(err)
	}
	if target.Arch.DepthAugBlocks() != 0 || len(target.Arch.Blocks) != len(s.deployed.Blocks)-n {
		t.Fatalf("exported target has %d blocks, %d of them depth augmentation", len(target.Arch.Blocks), target.Arch.DepthAugBlocks())
	}
	if _, err := s.ExportTarget(t.TempDir()+"/target.json", export.Input{Res: cfg.Res, Mean: []float32{0, 0, 0}, Std: []float32{1, 1, 1}}); err != nil {
		t.Fatalf("exporting the target: %v", err)
	}
	bad := DefaultConfig("mbv2-tiny", "shift")
	bad.DepthAug = true
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "augmented network") {
		t.Fatalf("depth augmentation on shift: %v", err)
	}
}

// TestKeepOpsTrainsHybridTarget: a model whose blocks use different operators (a searched hybrid target, Table 6)
// trains with its own operators under KeepOps, augmented, and exports as a mixed target whose counts hold
// multiplications, shifts and additions.
func TestKeepOpsTrainsHybridTarget(t *testing.T) {
	if testing.Short() {
		t.Skip("trains")
	}
	m, _ := arch.Get("mbv2-tiny", 4)
	m = m.WithMethod(arch.MethodShift)
	m.Name = "hybrid-test"
	ops := []arch.Op{arch.Shift, arch.Add, arch.Mult}
	for i := range m.Blocks {
		m.Blocks[i].Op = ops[i%3]
	}
	if err := arch.Register(m); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig("hybrid-test", "augshift")
	cfg.Res, cfg.Batch, cfg.Epochs, cfg.WarmupEpochs, cfg.LR, cfg.KeepOps = 32, 16, 1, 0, 0.05, true
	cfg.StepsPerEpoch = 4
	s, err := NewSession(engine.MustNew(), cfg, 4)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range s.Net.Arch.Blocks {
		if b.Op != ops[i%3] {
			t.Fatalf("block %d trains as %s, want its own %s", i, b.Op, ops[i%3])
		}
	}
	if s.Net.AddInitStd == 0 {
		t.Error("the Add blocks did not get the adder recipe's initialisation")
	}
	batch := quadrantBatch(rand.New(rand.NewPCG(1, 2)), cfg.Batch, cfg.Res)
	for range 4 {
		r, err := s.TrainStep(batch, models.SampleRandom)
		if err != nil {
			t.Fatal(err)
		}
		if math.IsNaN(r.LossTarget) || math.IsNaN(r.LossAug) {
			t.Fatalf("loss %v / %v", r.LossTarget, r.LossAug)
		}
	}
	e, err := s.ExportTarget(t.TempDir()+"/hybrid.json", export.Input{Res: cfg.Res, Mean: []float32{0, 0, 0}, Std: []float32{1, 1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	if got := export.MethodOf(s.Net.Arch); got != "mixed" {
		t.Errorf("exported method %q, want mixed (%v)", got, e != nil)
	}
	c, err := s.Net.Arch.Count(cfg.Res)
	if err != nil || c.Mult == 0 || c.Shift == 0 || c.Add == 0 {
		t.Errorf("hybrid target counts mult %d shift %d add %d (%v)", c.Mult, c.Shift, c.Add, err)
	}
}
