package models

import (
	"math"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
)

// TestDepthAugmentationSkips: with every depth-augmentation block phased out, the target pass of the deepened
// model is the target network itself (same variables, same logits); with them in, it differs; the augmented pass
// runs them.
func TestDepthAugmentationSkips(t *testing.T) {
	backend := engine.MustNew()
	m, _ := arch.Get("mbv2-tiny", 10)
	deep := m.WithDepthAug()
	n := deep.DepthAugBlocks()
	if n == 0 || len(deep.Blocks) != len(m.Blocks)+n {
		t.Fatalf("WithDepthAug added %d blocks (%d -> %d)", n, len(m.Blocks), len(deep.Blocks))
	}
	if got := deep.WithoutDepthAug(); len(got.Blocks) != len(m.Blocks) {
		t.Fatalf("WithoutDepthAug kept %d blocks, want %d", len(got.Blocks), len(m.Blocks))
	}
	deepNet, err := New(deep, Aug{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	targetNet, _ := New(m, Aug{}, 3)
	const batch, res = 2, 32
	x := tensors.FromFlatDataAndDimensions(randomImages(batch*res*res*3, 7), batch, res, res, 3)
	ctx := context.New()
	logits := func(net *Net, out int) []float32 {
		e := context.MustNewExec(backend, ctx, func(ctx *context.Context, x *Node) *Node {
			return net.Logits(ctx, x, Pass{DepthAugOut: out})
		})
		v, _ := tensors.CopyFlatData[float32](e.MustExec(x)[0])
		return v
	}
	full := logits(deepNet, 0) // creates every variable, depth augmentation included
	skipped := logits(deepNet, n)
	target := logits(targetNet, 0)
	same, differs := true, false
	for i := range target {
		same = same && math.Float32bits(skipped[i]) == math.Float32bits(target[i])
		differs = differs || full[i] != target[i]
	}
	if !same {
		t.Fatalf("target pass with all %d depth-augmentation blocks out: %v, the target network gives %v", n, skipped, target)
	}
	if !differs {
		t.Fatalf("with the depth-augmentation blocks in, the target pass gives the target's logits: the blocks did nothing")
	}
}
