// Package norm implements a differentiable batch normalisation for channels-last (NHWC, or [N, C]) tensors
// that runs on any GoMLX backend, including the project's pure-Go engine.
//
// GoMLX's layers/batchnorm calls the backend's BatchNorm ops in training (SimpleGo has none), and its fallback
// puts StopGradient on the batch statistics, which gives a wrong gradient. Here the batch mean and variance are
// ordinary graph nodes, so the gradient flows through them, and only graph ops that have gradients are used
// (1/Sqrt, not Rsqrt).
//
// Semantics follow PyTorch's nn.BatchNorm2d: in training, normalise with the batch mean and biased variance and
// update running_mean ← (1-m)·running_mean + m·mean, running_var ← (1-m)·running_var + m·unbiased_var
// (m = 0.1, eps = 1e-5); in evaluation, normalise with the running statistics.
//
// Variables, created in the scope of the ctx passed (use ctx.In("bn1") per layer):
//
//	gamma, beta                  [C] trainable (initialised to 1 and 0)
//	running_mean, running_var    [C] not trainable (0 and 1); with Stats("aug"): running_mean_aug, running_var_aug
//	recal_count[_<stats>]        scalar, not trainable, only created by recalibration (see Recalibrator)
//
// Augmented training (ShiftAddAug/NetAug) needs: separate running statistics per pass (Stats), the target pass
// using the first channels of wider shared parameters (Channels), and excluding channels (Mask). The
// running-statistics variables are created with ctx.Checked(false), so a second pass built with ctx.Reuse()
// can introduce its own statistics set.
package norm

import (
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/pkg/errors"
)

// Defaults, as PyTorch's BatchNorm.
const (
	DefaultMomentum = 0.1
	DefaultEpsilon  = 1e-5
)

// Variable names (in the layer's scope).
const (
	GammaName       = "gamma"
	BetaName        = "beta"
	RunningMeanName = "running_mean"
	RunningVarName  = "running_var"
	RecalCountName  = "recal_count"
)

// Config configures one batch-norm layer; create it with BatchNorm and finish with Done.
type Config struct {
	ctx       *context.Context
	x         *Node
	momentum  float64
	epsilon   float64
	stats     string
	mask      *Node
	channels  int
	training  *bool
	noUpdate  bool
	affine    bool
	gammaNode *Node
	betaNode  *Node
}

// BatchNorm starts configuring a batch norm of x over its last axis (channels-last: x is [..., C], rank >= 2).
// Variables live in ctx's current scope.
func BatchNorm(ctx *context.Context, x *Node) *Config {
	return &Config{ctx: ctx, x: x, momentum: DefaultMomentum, epsilon: DefaultEpsilon, affine: true}
}

// Momentum sets the running statistics' momentum (PyTorch convention: weight of the new batch). Default 0.1.
func (c *Config) Momentum(m float64) *Config { c.momentum = m; return c }

// Epsilon sets the value added to the variance. Default 1e-5.
func (c *Config) Epsilon(eps float64) *Config { c.epsilon = eps; return c }

// Stats selects which named set of running statistics this call reads and updates: "" (default) uses
// running_mean/running_var, "aug" uses running_mean_aug/running_var_aug, and so on. gamma and beta are shared.
func (c *Config) Stats(name string) *Config { c.stats = name; return c }

// Channels sets the size of the layer's variables when it is larger than x's channel count C: the layer then
// uses (and updates) the first C entries only, as NetAug's dynamic batch norm does for a narrow pass over wide
// shared parameters. Default: C.
func (c *Config) Channels(total int) *Config { c.channels = total; return c }

// Mask sets an optional per-channel 0/1 mask of shape [C] (x's dtype): masked (0) channels are output as zero and
// their running statistics are left unchanged.
func (c *Config) Mask(mask *Node) *Config { c.mask = mask; return c }

// Training forces training (batch statistics, running statistics updated) or evaluation mode.
// By default the mode is ctx.IsTraining(g).
func (c *Config) Training(training bool) *Config { c.training = &training; return c }

// FrozenStats keeps the running statistics unchanged in training mode (the output still uses batch statistics).
func (c *Config) FrozenStats() *Config { c.noUpdate = true; return c }

// Affine replaces the layer's own gamma and beta variables with the given [C] nodes (e.g. slices of wider shared
// parameters computed by the caller); nil for either disables it (scale 1 / offset 0).
func (c *Config) Affine(gamma, beta *Node) *Config {
	c.gammaNode, c.betaNode, c.affine = gamma, beta, false
	return c
}

func (c *Config) suffix() string {
	if c.stats == "" {
		return ""
	}
	return "_" + c.stats
}

// Done builds the layer and returns the normalised x.
func (c *Config) Done() *Node {
	x := c.x
	g := x.Graph()
	if x.Rank() < 2 {
		panic(errors.Errorf("norm.BatchNorm: x must be [..., C] with rank >= 2, got %s", x.Shape()))
	}
	dtype := x.DType()
	numC := x.Shape().Dimensions[x.Rank()-1]
	total := c.channels
	if total == 0 {
		total = numC
	}
	if total < numC {
		panic(errors.Errorf("norm.BatchNorm: Channels(%d) is smaller than x's %d channels", total, numC))
	}
	if c.mask != nil && (c.mask.Rank() != 1 || c.mask.Shape().Dimensions[0] != numC || c.mask.DType() != dtype) {
		panic(errors.Errorf("norm.BatchNorm: mask must be [%d] %s, got %s", numC, dtype, c.mask.Shape()))
	}
	varShape := shapes.Make(dtype, total)
	first := func(v *Node) *Node { // the first numC entries of a [total] node
		if total == numC {
			return v
		}
		return Slice(v, AxisRange(0, numC))
	}

	var gamma, beta *Node
	if c.affine {
		gamma = first(c.ctx.WithInitializer(initializers.One).VariableWithShape(GammaName, varShape).
			SetTrainable(true).ValueGraph(g))
		beta = first(c.ctx.WithInitializer(initializers.Zero).VariableWithShape(BetaName, varShape).
			SetTrainable(true).ValueGraph(g))
	} else {
		gamma, beta = c.gammaNode, c.betaNode
	}

	statsCtx := c.ctx.Checked(false)
	meanVar := statsCtx.WithInitializer(initializers.Zero).
		VariableWithShape(RunningMeanName+c.suffix(), varShape).SetTrainable(false)
	varVar := statsCtx.WithInitializer(initializers.One).
		VariableWithShape(RunningVarName+c.suffix(), varShape).SetTrainable(false)

	training := c.ctx.IsTraining(g)
	if c.training != nil {
		training = *c.training
	}
	recalibrating := IsRecalibrating(c.ctx, g)
	var y *Node
	masked := false // whether y already has the mask applied
	if training || recalibrating {
		var mean, variance *Node
		if fusedBatchNorm(x) {
			y, mean, variance = fusedNormalize(x, gamma, beta, c.mask, c.epsilon)
			masked = true
		} else {
			y, mean, variance = Normalize(x, gamma, beta, c.epsilon)
		}
		switch {
		case recalibrating:
			c.recalibrate(statsCtx, meanVar, varVar, first, mean, variance)
		case !c.noUpdate:
			n := x.Shape().Size() / numC
			unbiased := variance
			if n > 1 {
				unbiased = MulScalar(variance, float64(n)/float64(n-1))
			}
			m := c.momentum
			c.update(meanVar, first, func(old *Node) *Node {
				return Add(MulScalar(old, 1-m), MulScalar(StopGradient(mean), m))
			})
			c.update(varVar, first, func(old *Node) *Node {
				return Add(MulScalar(old, 1-m), MulScalar(StopGradient(unbiased), m))
			})
		}
	} else {
		y = NormalizeWith(x, first(meanVar.ValueGraph(g)), first(varVar.ValueGraph(g)), gamma, beta, c.epsilon)
	}
	if c.mask != nil && !masked {
		y = Mul(y, expand(y, c.mask))
	}
	return y
}

// update sets v's first numC entries to newFn(old), keeping masked channels (and entries beyond numC) unchanged.
func (c *Config) update(v *context.Variable, first func(*Node) *Node, newFn func(old *Node) *Node) {
	g := c.x.Graph()
	full := v.ValueGraph(g)
	old := first(full)
	updated := newFn(old)
	if c.mask != nil {
		updated = Add(Mul(c.mask, updated), Mul(OneMinus(c.mask), old))
	}
	if n, total := old.Shape().Dimensions[0], full.Shape().Dimensions[0]; n < total {
		updated = Concatenate([]*Node{updated, Slice(full, AxisRange(n, total))}, 0)
	}
	v.SetValueGraph(updated)
}

// Normalize returns the batch-normalised x (channels on the last axis) with batch mean and biased variance
// over all other axes, and those statistics ([C]). The gradient flows through the statistics.
// gamma and beta ([C]) may be nil.
func Normalize(x, gamma, beta *Node, epsilon float64) (y, mean, variance *Node) {
	axes := make([]int, x.Rank()-1)
	for i := range axes {
		axes[i] = i
	}
	meanK := ReduceAndKeep(x, ReduceMean, axes...)
	centered := Sub(x, meanK)
	variance = ReduceMean(Square(centered), axes...)
	mean = Reshape(meanK, variance.Shape().Dimensions...)
	return scaleShift(centered, variance, gamma, beta, epsilon), mean, variance
}

// FusedBatchNormer is implemented by backends with fast fused BatchNormForTraining and BatchNormGradient ops for
// float32/float64 tensors with the channels last: the project's engine (kernels/engine) when its fast executors
// are on. On such a backend a training-mode BatchNorm is those two ops (two passes over the activations forward,
// two backward) instead of about 40 elementwise ops and broadcasts. Other backends (SimpleGo has neither op; XLA is
// not tested with them here) use Normalize.
type FusedBatchNormer interface {
	FusedBatchNorm() bool
}

// fusedBatchNorm reports whether x's backend runs the fused batch norm for x's dtype.
func fusedBatchNorm(x *Node) bool {
	f, ok := x.Graph().Backend().(FusedBatchNormer)
	return ok && f.FusedBatchNorm() && x.DType().IsFloat() && (x.DType().Size() == 4 || x.DType().Size() == 8)
}

// fusedNormalize is Normalize as the backend's BatchNormForTraining op, whose gradient (GoMLX's, BatchNormGradient)
// includes the paths through the batch statistics. The gradient does not flow back from the returned mean and
// variance, which Done only reads under StopGradient. A mask ([C] of 0/1) is folded into gamma and beta: masked
// channels come out as zero, as with Mul(y, mask), and get zero gradients.
func fusedNormalize(x, gamma, beta, mask *Node, epsilon float64) (y, mean, variance *Node) {
	g, dtype := x.Graph(), x.DType()
	numC := x.Shape().Dimensions[x.Rank()-1]
	if gamma == nil {
		gamma = Ones(g, shapes.Make(dtype, numC))
	}
	if beta == nil {
		beta = Zeros(g, shapes.Make(dtype, numC))
	}
	if mask != nil {
		gamma, beta = Mul(gamma, mask), Mul(beta, mask)
	}
	return InternalBatchNormForTraining(x, gamma, beta, float32(epsilon), -1)
}

// NormalizeWith normalises x (channels last) with the given mean and variance ([C]), e.g. running statistics. On a
// backend with the fused batch norm it is one BatchNormForInference op, which has no gradient: the running
// statistics normalise only in evaluation.
func NormalizeWith(x, mean, variance, gamma, beta *Node, epsilon float64) *Node {
	if fusedBatchNorm(x) {
		g, dtype := x.Graph(), x.DType()
		numC := x.Shape().Dimensions[x.Rank()-1]
		if gamma == nil {
			gamma = Ones(g, shapes.Make(dtype, numC))
		}
		if beta == nil { // −0, not +0: x + (−0) is x for every x, −0 included
			beta = Neg(Zeros(g, shapes.Make(dtype, numC)))
		}
		return InternalBatchNormForInference(x, gamma, beta, mean, variance, float32(epsilon), -1)
	}
	return scaleShift(Sub(x, expand(x, mean)), variance, gamma, beta, epsilon)
}

// scaleShift computes centered·gamma/√(variance+ε) + beta, folding the per-channel factors first so that only
// one multiply and one add touch the full tensor.
func scaleShift(centered, variance, gamma, beta *Node, epsilon float64) *Node {
	// Inverse(Sqrt(·)) rather than Rsqrt: Rsqrt has no gradient in GoMLX v0.26.0.
	scale := Inverse(Sqrt(AddScalar(variance, epsilon)))
	if gamma != nil {
		scale = Mul(scale, gamma)
	}
	y := Mul(centered, expand(centered, scale))
	if beta != nil {
		y = Add(y, expand(centered, beta))
	}
	return y
}

// expand reshapes a [C] node to broadcast against x ([..., C]).
func expand(x, v *Node) *Node {
	dims := make([]int, x.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[len(dims)-1] = v.Shape().Dimensions[0]
	return Reshape(v, dims...)
}
