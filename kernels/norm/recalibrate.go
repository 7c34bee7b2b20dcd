package norm

import (
	"strings"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/pkg/errors"
)

// graphParamRecalibrate is the graph parameter (set at the root scope) that puts every BatchNorm of a graph in
// recalibration mode.
const graphParamRecalibrate = "norm_recalibrate"

// SetRecalibrating marks graph g so that every BatchNorm built in it (in any scope of ctx) recalibrates:
// it normalises with batch statistics and sets its running statistics to the running average of the batch mean
// and biased batch variance over the batches seen since the last reset (NetAug's reset_bn). Used by Recalibrator;
// call it directly only to build a custom recalibration graph.
func SetRecalibrating(ctx *context.Context, g *Graph) {
	ctx.InAbsPath(context.RootScope).SetGraphParam(g, graphParamRecalibrate, true)
}

// IsRecalibrating reports whether g was marked with SetRecalibrating.
func IsRecalibrating(ctx *context.Context, g *Graph) bool {
	return context.GetGraphParamOr(ctx, g, graphParamRecalibrate, false)
}

// recalibrate makes the running statistics the cumulative average of the batch statistics: with k the number of
// batches since the last reset (recal_count), stat ← stat + (batch − stat)/k, and the first batch after a reset
// replaces the old value exactly (old + (batch − old) would keep its rounding: the result would depend on the
// statistics before the reset). Masked channels keep theirs (the count is per layer, so a mask should stay fixed
// during one recalibration).
func (c *Config) recalibrate(statsCtx *context.Context, meanVar, varVar *context.Variable,
	first func(*Node) *Node, mean, variance *Node) {
	g := c.x.Graph()
	countVar := statsCtx.WithInitializer(initializers.Zero).
		VariableWithShape(RecalCountName+c.suffix(), shapes.Make(c.x.DType())).SetTrainable(false)
	count := OnePlus(countVar.ValueGraph(g))
	countVar.SetValueGraph(count)
	w := Inverse(count)
	isFirst := Equal(count, OnesLike(count))
	average := func(batch *Node) func(old *Node) *Node {
		return func(old *Node) *Node {
			batch := StopGradient(batch)
			return Where(BroadcastToShape(isFirst, old.Shape()), batch, Add(old, Mul(Sub(batch, old), w)))
		}
	}
	c.update(meanVar, first, average(mean))
	c.update(varVar, first, average(variance))
}

// Recalibrator resets the running statistics of every BatchNorm in a model to the average of per-batch
// statistics over batches the caller feeds (NetAug's reset_bn, used after each epoch's channel reorder and
// before evaluating a sub-network):
//
//	r, err := norm.NewRecalibrator(backend, ctx, func(ctx *context.Context, in []*graph.Node) {
//		model(ctx, in[0]) // the forward pass; its output is not needed
//	})
//	r.Reset()
//	for each of a few batches { err = r.Feed(images) }
//
// The forward is built with ctx marked as training and recalibrating; BatchNorm calls with Stats(name) update
// that named set, so one Recalibrator per pass recalibrates per-pass statistics.
type Recalibrator struct {
	ctx     *context.Context
	exec    *context.Exec
	batches int
}

// NewRecalibrator compiles (lazily, on the first Feed) forward as a recalibration graph.
//
// forward should return the model's output (or nil). The graph outputs it, reduced to a scalar, because
// SimpleGo (v0.26.0) sizes its execution buffers by the highest-numbered output node: a parameter created after
// the last output (the classifier's weights, when only the running statistics are outputs) would index past
// them and crash the execution.
func NewRecalibrator(backend backends.Backend, ctx *context.Context,
	forward func(ctx *context.Context, inputs []*Node) *Node) (*Recalibrator, error) {
	exec, err := context.NewExec(backend, ctx, func(ctx *context.Context, inputs []*Node) *Node {
		g := inputs[0].Graph()
		ctx.SetTraining(g, true)
		SetRecalibrating(ctx, g)
		if out := forward(ctx, inputs); out != nil {
			return ReduceAllSum(out)
		}
		return ScalarZero(g, inputs[0].DType())
	})
	if err != nil {
		return nil, errors.WithMessage(err, "norm: creating the batch-norm recalibration graph")
	}
	return &Recalibrator{ctx: ctx, exec: exec}, nil
}

// Reset zeroes the batch counters of every BatchNorm in the context, so that the next Feed starts a new average.
func (r *Recalibrator) Reset() error {
	r.batches = 0
	return ResetRecalibration(r.ctx)
}

// Feed runs one batch (the forward's inputs) and folds its statistics into the running averages.
func (r *Recalibrator) Feed(inputs ...any) error {
	if _, err := r.exec.Exec(inputs...); err != nil {
		return errors.WithMessagef(err, "norm: recalibration batch %d", r.batches+1)
	}
	r.batches++
	return nil
}

// Batches returns the number of batches fed since the last Reset.
func (r *Recalibrator) Batches() int { return r.batches }

// ResetRecalibration zeroes every BatchNorm recalibration counter (recal_count*) in ctx.
func ResetRecalibration(ctx *context.Context) error {
	for v := range ctx.IterVariables() {
		if !strings.HasPrefix(v.Name(), RecalCountName) {
			continue
		}
		if err := v.SetValue(tensors.FromShape(v.Shape())); err != nil {
			return errors.WithMessagef(err, "norm: resetting %s", v.ScopeAndName())
		}
	}
	return nil
}
