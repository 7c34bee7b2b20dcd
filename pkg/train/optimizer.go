// Package train is ShiftAddAug's training recipe on GoMLX: the joint step of Eq. 3 (target pass plus augmented
// pass, one optimizer step), NetAug's schedule, Nesterov SGD with weight decay, cosine learning rate with warm-up,
// label smoothing, channel reordering, batch-norm recalibration, checkpoints and a metrics log.
package train

import (
	"fmt"
	"math"
	"strings"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

// SGD is stochastic gradient descent with Nesterov momentum and decoupled-from-bias weight decay, the optimizer of
// NetAug and of the peer benchmark (PyTorch's SGD(momentum=0.9, nesterov=True, weight_decay=wd)):
//
//	g ← ∇ + wd·w (weights only)    b ← μ·b + g    w ← w − lr·(g + μ·b)
//
// The learning rate follows Schedule at every step. GoMLX's own SGD has no momentum or weight decay.
type SGD struct {
	Momentum    float64
	WeightDecay float64
	Schedule    Schedule
	// DecayFilter says which variables get weight decay; nil means those named "weights" (not biases or
	// batch-norm parameters, as NetAug's no_wd_keys).
	DecayFilter func(v *context.Variable) bool
}

// Schedule is a per-step learning rate: linear warm-up from WarmupStart to Base over WarmupSteps, then cosine
// decay to zero at TotalSteps: 0.5·Base·(1 + cos(π·t/T)).
type Schedule struct {
	Base        float64
	WarmupStart float64
	WarmupSteps int
	TotalSteps  int
}

// At returns the learning rate at step (0-based).
func (s Schedule) At(step int) float64 {
	if step < s.WarmupSteps {
		return s.WarmupStart + (s.Base-s.WarmupStart)*float64(step)/float64(s.WarmupSteps)
	}
	t, T := float64(step-s.WarmupSteps), float64(s.TotalSteps-s.WarmupSteps)
	if T <= 0 || t >= T {
		return 0
	}
	return 0.5 * s.Base * (1 + math.Cos(math.Pi*t/T))
}

// atGraph is At on a graph node holding the step (float).
func (s Schedule) atGraph(step *Node) *Node {
	g := step.Graph()
	dt := step.DType()
	warm := float64(s.WarmupSteps)
	T := float64(s.TotalSteps - s.WarmupSteps)
	if T <= 0 {
		T = 1
	}
	warmLR := AddScalar(MulScalar(step, (s.Base-s.WarmupStart)/math.Max(warm, 1)), s.WarmupStart)
	t := ClipScalar(DivScalar(AddScalar(step, -warm), T), 0, 1)
	cosLR := MulScalar(AddScalar(Cos(MulScalar(t, math.Pi)), 1), 0.5*s.Base)
	return Where(LessThan(step, Scalar(g, dt, warm)), warmLR, cosLR)
}

func defaultDecayFilter(v *context.Variable) bool {
	return v.Name() == "weights" && !strings.Contains(v.Scope(), "norm")
}

// UpdateGraph implements optimizers.Interface.
func (o *SGD) UpdateGraph(ctx *context.Context, g *Graph, loss *Node) {
	if !loss.Shape().IsScalar() {
		panic(fmt.Errorf("SGD: loss must be a scalar, got %s", loss.Shape()))
	}
	grads := ctx.BuildTrainableVariablesGradientsGraph(loss)
	dt := loss.DType()
	step := optimizers.IncrementGlobalStepGraph(ctx, g, dt) // 1 on the first step
	lr := o.Schedule.atGraph(AddScalar(step, -1))
	optimizers.LearningRateVar(ctx, dt, o.Schedule.Base).SetValueGraph(lr) // exposed for the metrics log
	decay := o.DecayFilter
	if decay == nil {
		decay = defaultDecayFilter
	}
	octx := ctx.In("optimizer").Checked(false).WithInitializer(initializers.Zero)
	var vars []*context.Variable // collected first: momentum buffers are created below
	for v := range ctx.IterVariables() {
		if v.Trainable && v.InUseByGraph(g) {
			vars = append(vars, v)
		}
	}
	for i, v := range vars {
		grad := grads[i]
		w := v.ValueGraph(g)
		if o.WeightDecay != 0 && decay(v) {
			grad = Add(grad, MulScalar(w, o.WeightDecay))
		}
		lrv := ConvertDType(lr, w.DType())
		if o.Momentum == 0 {
			v.SetValueGraph(Sub(w, Mul(grad, lrv)))
			continue
		}
		bufVar := octx.InAbsPath(octx.Scope()+v.Scope()).VariableWithShape(v.Name()+"_momentum", w.Shape())
		bufVar.SetTrainable(false)
		buf := Add(MulScalar(bufVar.ValueGraph(g), o.Momentum), grad)
		bufVar.SetValueGraph(buf)
		v.SetValueGraph(Sub(w, Mul(Add(grad, MulScalar(buf, o.Momentum)), lrv)))
	}
}

// Clear implements optimizers.Interface: it deletes the momentum buffers.
func (o *SGD) Clear(ctx *context.Context) error {
	return ctx.In("optimizer").DeleteVariablesInScope()
}
