package train

import (
	"fmt"
	"math/rand/v2"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/shiftaddaug/shiftaddaug/datasets"
	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/kernels/norm"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/pkg/hybrid"
	"github.com/shiftaddaug/shiftaddaug/pkg/models"
)

// Method is a training method of the paper: what the target computes with, and whether it is trained inside a
// wider augmented network.
type Method struct {
	Name      string
	Deploy    arch.Method
	Augmented bool
}

// ParseMethod reads one of base, netaug, shift, augshift, add, augadd.
func ParseMethod(s string) (Method, error) {
	d, ok := arch.TargetMethod(s)
	if !ok {
		return Method{}, fmt.Errorf("unknown training method %q: want one of base, netaug, shift, augshift, add, augadd", s)
	}
	return Method{Name: s, Deploy: d, Augmented: s == "netaug" || s == "augshift" || s == "augadd"}, nil
}

// Session holds one model under training: its variables, compiled steps and the training position.
type Session struct {
	Cfg     Config
	Method  Method
	Net     *models.Net
	Backend backends.Backend
	Ctx     *context.Context
	// Step is the number of optimizer steps taken so far (it seeds each step's augmentation sample).
	Step int

	stepExec, evalExec *context.Exec
	recal              *norm.Recalibrator
	// deployed is the method's model; phase the block-mutation phase Net is built for, nets the networks of
	// the phases met so far (see mutation.go).
	deployed *arch.Model
	aug      models.Aug
	phase    int
	nets     map[int]*models.Net
	// daOut is how many depth-augmentation blocks the target pass skips now (Config.DepthAugOut).
	daOut int
	opsV  hybrid.Operators
	// unshared gives the augmented pass variables of its own (Sharing "none", Table 9's "w/o weight sharing").
	unshared bool
	// inputs holds one image tensor per batch shape, refilled for each batch (see images).
	inputs map[[4]int]*tensors.Tensor
}

// UnsharedScope is where the augmented pass keeps its own variables when weights are not shared.
const UnsharedScope = "unshared"

// NewSession builds the network of cfg for a dataset with the given class count.
func NewSession(backend backends.Backend, cfg Config, classes int) (*Session, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	method, err := ParseMethod(cfg.Method)
	if err != nil {
		return nil, err
	}
	m, err := arch.Get(cfg.Model, classes)
	if err != nil {
		return nil, err
	}
	if cfg.Segmentation() {
		if m, err = m.WithSegHead(classes, 0); err != nil {
			return nil, err
		}
	}
	if min := m.MinRes(); cfg.Res < min {
		return nil, fmt.Errorf("resolution %d is too small for %s: its strides need at least %d", cfg.Res, m.Name, min)
	}
	var aug models.Aug
	if method.Augmented {
		aug = models.DefaultAug(m)
		if cfg.AugWidth != nil {
			aug.Width = cfg.AugWidth
		}
		if cfg.AugExpand != nil {
			aug.Expand = cfg.AugExpand
		}
	}
	deployed := m
	if !cfg.KeepOps {
		deployed = m.WithMethod(method.Deploy)
	}
	if cfg.DepthAug {
		deployed = deployed.WithDepthAug()
	}
	s := &Session{Cfg: cfg, Method: method, Backend: backend, Ctx: context.New(), opsV: cfg.Ops,
		deployed: deployed, aug: aug, nets: map[int]*models.Net{}}
	s.phase = cfg.MutationPhase(deployed, 0, cfg.Schedule().TotalSteps)
	s.daOut = cfg.DepthAugOut(deployed.DepthAugBlocks(), 0, cfg.Schedule().TotalSteps)
	net, err := s.netFor(s.phase)
	if err != nil {
		return nil, err
	}
	s.Net = net
	if method.Deploy == arch.MethodAdd || cfg.KeepOps && hasAdd(deployed) {
		// The adder recipe (AdderRecipe); an η set in code through cfg.Ops wins over the recipe's.
		initStd, eta := cfg.adderParams()
		for _, n := range s.nets {
			n.AddInitStd = initStd
		}
		if s.opsV.Add.Eta == 0 || cfg.AdderEta > 0 {
			s.opsV.Add.Eta = eta
		}
		s.opsV.AdderStepScale = cfg.AdderScale == AdderScaleStep
	}
	s.opsV.ExactAugShift = s.opsV.ExactAugShift || cfg.ExactAugShift
	sharing, _ := hybrid.ParseSharing(cfg.Sharing)
	switch sharing {
	case hybrid.SharePlain, hybrid.ShareNone:
	case hybrid.SharePiecewise:
		s.opsV.MFWeightLayer = hybrid.ShiftAddNAS{Kernel: true, KLWeight: 10}.Layer
	case hybrid.ShareKL:
		s.opsV.MFWeightLayer = hybrid.ShiftAddNAS{KLWeight: 10}.Layer
	default:
		r := hybrid.DefaultRemap()
		r.Mode = sharing
		s.opsV.MFWeight = r.Func()
	}
	s.unshared = sharing == hybrid.ShareNone && method.Augmented
	// Seeded, so the piecewise kernel's initial scalars and the KL samples are reproducible (and checkpointed).
	if err := s.Ctx.SetRNGStateFromSeed(int64(cfg.Seed)); err != nil {
		return nil, err
	}
	s.opsV.AugMF = s.opsV.AugMF || cfg.AugMF
	s.build()
	return s, nil
}

// hasAdd reports whether any layer of m computes with adders.
func hasAdd(m *arch.Model) bool {
	ls, err := m.Layers(max(m.MinRes(), 32))
	if err != nil {
		return false
	}
	for _, l := range ls {
		if l.Op == arch.Add {
			return true
		}
	}
	return false
}

// netFor returns the network of a block-mutation phase, building it on first use.
func (s *Session) netFor(phase int) (*models.Net, error) {
	if n, ok := s.nets[phase]; ok {
		return n, nil
	}
	n, err := models.New(mutated(s.deployed, phase), s.aug, s.Cfg.Seed)
	if err != nil {
		return nil, err
	}
	if s.Net != nil {
		n.AddInitStd = s.Net.AddInitStd
	}
	s.nets[phase] = n
	return n, nil
}

// syncPhase switches to the network of the block-mutation phase the next step is in, rebuilding the compiled
// steps, when it changed.
func (s *Session) syncPhase() error {
	total := s.Cfg.Schedule().TotalSteps
	phase := s.Cfg.MutationPhase(s.deployed, s.Step, total)
	daOut := s.Cfg.DepthAugOut(s.deployed.DepthAugBlocks(), s.Step, total)
	if phase == s.phase && daOut == s.daOut {
		return nil
	}
	n, err := s.netFor(phase)
	if err != nil {
		return err
	}
	s.Net, s.phase, s.daOut, s.recal = n, phase, daOut, nil
	s.build()
	return nil
}

// TargetNet is the network that is exported and costed: the current phase's, without depth augmentation.
func (s *Session) TargetNet() (*models.Net, error) {
	if s.deployed.DepthAugBlocks() == 0 {
		return s.Net, nil
	}
	n, err := models.New(s.Net.Arch.WithoutDepthAug(), s.aug, s.Cfg.Seed)
	if err != nil {
		return nil, err
	}
	n.AddInitStd = s.Net.AddInitStd
	return n, nil
}

// MutationPhase is the number of the target's layers that are multiplication-free now (all of them without
// block mutation).
func (s *Session) MutationPhase() int { return s.phase }

// Ops is the operator configuration both passes use (kernels, weight remap, augmented operator).
func (s *Session) Ops() hybrid.Operators { return s.opsV }

func (s *Session) ops() hybrid.Operators { return s.opsV }

func (s *Session) build() {
	cfg := s.Cfg
	opt := &SGD{Momentum: cfg.Momentum, WeightDecay: cfg.WeightDecay, Schedule: cfg.Schedule()}
	targetPass := models.Pass{Ops: s.ops(), DepthAugOut: s.daOut}
	augPass := func(masks *Node) models.Pass {
		return models.Pass{Augmented: true, Masks: masks, Ops: s.ops(), BNScope: models.AugStats}
	}
	// One training step (Eq. 3): L(target) + α·L(augmented), one optimizer update.
	s.stepExec = context.MustNewExec(s.Backend, s.Ctx, func(ctx *context.Context, inputs []*Node) []*Node {
		x, labels := inputs[0], inputs[1]
		g := x.Graph()
		ctx.SetTraining(g, true)
		logits := s.forward(ctx, x, targetPass)
		lossT := s.loss(logits, labels)
		total, lossA := lossT, ScalarZero(g, lossT.DType())
		// Loss terms the weight maps added (ShiftAddNAS's KL penalty), counted once: from the target pass, whose
		// multiplication-free weights are the same slices the augmented pass maps again.
		penalty := hybrid.Penalty(ctx, g)
		if penalty != nil {
			total = Add(total, penalty)
		} else {
			penalty = ScalarZero(g, lossT.DType())
		}
		if s.Method.Augmented {
			actx := ctx
			if s.unshared {
				actx = ctx.In(UnsharedScope)
			}
			logitsA := s.forward(actx, x, augPass(inputs[2]))
			lossA = s.loss(logitsA, labels)
			total = Add(total, MulScalar(lossA, cfg.Alpha))
		}
		opt.UpdateGraph(ctx, g, total)
		right, seen := correct(logits, labels), ScalarZero(g, lossT.DType())
		if cfg.Segmentation() {
			right, seen = segCorrect(logits, labels)
		}
		return []*Node{lossT, lossA, right, ConvertDType(penalty, lossT.DType()), seen}
	})
	if s.Method.Augmented && cfg.ArenaStep() {
		s.stepExec.WithName(engine.UseArena(s.stepExec.Name()))
	}
	if cfg.Segmentation() {
		s.evalExec = s.buildSegEval(targetPass)
		return
	}
	s.evalExec = context.MustNewExec(s.Backend, s.Ctx, func(ctx *context.Context, x, labels *Node) (*Node, *Node) {
		logits := s.Net.Logits(ctx, x, targetPass)
		return correct(logits, labels), SmoothedCrossEntropy(logits, labels, 0)
	})
}

// images returns a tensor holding the batch's images. It reuses one tensor per batch shape, shared with the
// backend where it can be, and copies the images into it: a new tensor per batch was memory fresh from the system
// every step, and faulting it in cost 5% of a res-96 training step (the copy itself is a small part of that). The
// tensor is valid until the next call with the same shape; the executables only read it.
func (s *Session) images(b *datasets.Batch) *tensors.Tensor {
	t, ok := s.inputs[b.Shape]
	if !ok {
		t = tensors.FromShape(shapes.Make(dtypes.Float32, b.Shape[:]...))
		_ = t.MaterializeOnDevice(s.Backend, true, 0) // a backend that cannot share takes a copy at each run
		if s.inputs == nil {
			s.inputs = make(map[[4]int]*tensors.Tensor)
		}
		s.inputs[b.Shape] = t
	}
	tensors.MustMutableFlatData(t, func(flat []float32) { copy(flat, b.Images) })
	return t
}

// StepResult is what one training step reports.
type StepResult struct {
	LossTarget, LossAug float64
	// Penalty is the loss terms the weight maps added (ShiftAddNAS's KL penalty), not in LossTarget.
	Penalty float64
	Correct int
	// Seen is what Correct counts out of: the batch's labelled pixels for segmentation, 0 (the batch size)
	// for classification.
	Seen int
}

// TrainStep runs one optimizer step on a batch (NHWC images).
func (s *Session) TrainStep(b *datasets.Batch, mode models.SampleMode) (StepResult, error) {
	if b.Layout != datasets.NHWC {
		return StepResult{}, fmt.Errorf("train: batches must be NHWC")
	}
	if err := s.syncPhase(); err != nil {
		return StepResult{}, err
	}
	x := s.images(b)
	y, err := s.batchLabels(b)
	if err != nil {
		return StepResult{}, err
	}
	args := []any{x, y}
	if s.Method.Augmented {
		rng := rand.New(rand.NewPCG(s.Cfg.Seed, 0x6d61736b^uint64(s.Step)))
		args = append(args, tensors.FromFlatDataAndDimensions(s.Net.SampleMasks(rng, mode), s.Net.MaskLen()))
	}
	var outs []*tensors.Tensor
	err = tryCatch(func() { outs = s.stepExec.MustExec(args...) })
	if err != nil {
		return StepResult{}, fmt.Errorf("training step %d: %w", s.Step, err)
	}
	s.Step++
	return StepResult{LossTarget: scalar(outs[0]), LossAug: scalar(outs[1]), Correct: int(scalar(outs[2])), Penalty: scalar(outs[3]),
		Seen: int(scalar(outs[4]))}, nil
}

// Evaluate returns the target's top-1 accuracy and mean loss over every batch of the loader (inference mode,
// running statistics).
func (s *Session) Evaluate(l *datasets.Loader) (acc, loss float64, err error) {
	if s.Cfg.Segmentation() {
		return 0, 0, fmt.Errorf("evaluating: %s/%s is a segmentation run: use EvaluateSeg", s.Cfg.Model, s.Cfg.Method)
	}
	if err := s.syncPhase(); err != nil {
		return 0, 0, err
	}
	it := l.Epoch(0)
	defer it.Close()
	var n, right int
	var lossSum float64
	for {
		b, err := it.Next()
		if err != nil {
			if isEOF(err) {
				break
			}
			return 0, 0, err
		}
		x := s.images(b)
		y := tensors.FromFlatDataAndDimensions(b.Labels, len(b.Labels))
		var outs []*tensors.Tensor
		if err := tryCatch(func() { outs = s.evalExec.MustExec(x, y) }); err != nil {
			return 0, 0, fmt.Errorf("evaluating: %w", err)
		}
		right += int(scalar(outs[0]))
		lossSum += scalar(outs[1]) * float64(b.Size())
		n += b.Size()
	}
	if n == 0 {
		return 0, 0, fmt.Errorf("evaluating: no samples")
	}
	return float64(right) / float64(n), lossSum / float64(n), nil
}

// Recalibrate resets the target's batch-norm running statistics to their average over the loader's batches
// (NetAug's reset_bn on a fixed training subset): the augmented passes polluted them during training.
func (s *Session) Recalibrate(l *datasets.Loader) error {
	if err := s.syncPhase(); err != nil {
		return err
	}
	if s.recal == nil {
		r, err := norm.NewRecalibrator(s.Backend, s.Ctx, func(ctx *context.Context, inputs []*Node) *Node {
			return s.forward(ctx, inputs[0], models.Pass{Ops: s.ops(), DepthAugOut: s.daOut})
		})
		if err != nil {
			return err
		}
		s.recal = r
	}
	if err := s.recal.Reset(); err != nil {
		return err
	}
	it := l.Epoch(0)
	defer it.Close()
	for {
		b, err := it.Next()
		if err != nil {
			if isEOF(err) {
				return nil
			}
			return err
		}
		if err := s.recal.Feed(s.images(b)); err != nil {
			return fmt.Errorf("recalibrating batch norm: %w", err)
		}
	}
}

func scalar(t *tensors.Tensor) float64 {
	switch v := t.Value().(type) {
	case float32:
		return float64(v)
	case float64:
		return v
	case int32:
		return float64(v)
	case int64:
		return float64(v)
	}
	panic(fmt.Sprintf("train: unexpected scalar %T", t.Value()))
}
