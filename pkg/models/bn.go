package models

import (
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/shiftaddaug/shiftaddaug/kernels/norm"
)

// AugStats names the running statistics the augmented pass keeps, apart from the target's: the target's are
// the ones evaluation and export use, and they are recalibrated on training images before each evaluation.
const AugStats = "aug"

// batchNorm normalises x's channels; γ and β are wide variables whose leading slice the target uses.
func batchNorm(ctx *context.Context, x *Node, c channels, p Pass) *Node {
	return norm.BatchNorm(ctx, x).Channels(c.Wide).Stats(p.BNScope).Done()
}
