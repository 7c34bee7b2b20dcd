package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// maskedTail draws [rows, c] float32 data whose channels from active on are zero, as the augmented pass's
// inactive channels are.
func maskedTail(rng *rand.Rand, rows, c, active int) []float32 {
	x := make([]float32, rows*c)
	for i := range x {
		if i%c < active {
			x[i] = float32(rng.NormFloat64())
		}
	}
	return x
}

func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] == 0 && want[i] == 0) {
			t.Fatalf("%s: [%d] = %v skipping zero channels, %v computing them", what, i, got[i], want[i])
		}
	}
}

// TestZeroTailsSameBits: batch norm (forward and gradient) and the depthwise kernels (forward and filter gradient)
// skip channels that are zero in their operands (usedChannels); the results are the bits of computing every
// channel, for tails inside and at the edge of the 8-channel vector strips, none, and all.
func TestZeroTailsSameBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	run := func(skip bool, f func()) {
		noZeroTails = !skip
		defer func() { noZeroTails = false }()
		f()
	}
	// dyActive below active: the gradient flows into fewer channels than the forward used (the gradient scans dy
	// only).
	for _, tc := range []struct{ c, active, dyActive int }{{40, 13, 13}, {40, 16, 16}, {40, 40, 40}, {24, 0, 0},
		{7, 3, 3}, {40, 40, 9}, {40, 21, 0}} {
		c, active := tc.c, tc.active
		what := fmt.Sprintf("c=%d active=%d dy active=%d", c, active, tc.dyActive)
		rows := 300
		x, dy := maskedTail(rng, rows, c, active), maskedTail(rng, rows, c, tc.dyActive)
		scale, offset := maskedTail(rng, 1, c, c), maskedTail(rng, 1, c, c)
		for j := active; j < c; j++ { // masked γ and β, as norm's Mask folds them; one channel keeps a β
			scale[j], offset[j] = 0, 0
		}
		if active < c {
			offset[c-1] = 0.5
		}
		type bn struct{ y, mean, variance, dx, dscale, doffset []float32 }
		res := [2]bn{}
		for v, skip := range []bool{false, true} {
			r := bn{make([]float32, len(x)), make([]float32, c), make([]float32, c),
				make([]float32, len(x)), make([]float32, c), make([]float32, c)}
			run(skip, func() {
				batchNormTraining(x, scale, offset, 1e-5, r.y, r.mean, r.variance)
				batchNormGradient(x, scale, r.mean, r.variance, dy, 1e-5, r.dx, r.dscale, r.doffset)
			})
			res[v] = r
		}
		sameBits(t, what+" y", res[1].y, res[0].y)
		sameBits(t, what+" mean", res[1].mean, res[0].mean)
		sameBits(t, what+" variance", res[1].variance, res[0].variance)
		sameBits(t, what+" dx", res[1].dx, res[0].dx)
		sameBits(t, what+" dscale", res[1].dscale, res[0].dscale)
		sameBits(t, what+" doffset", res[1].doffset, res[0].doffset)

		// Depthwise 3x3 stride 2 on [2,6,5,c], weights masked like the activations.
		p := convPlan{n: 2, h: 6, w: 5, c: c, ho: 3, wo: 3, kh: 3, kw: 3, sh: 2, sw: 2, dh: 1, dw: 1,
			padTop: 1, padLft: 1}
		img, ker := maskedTail(rng, 2*6*5, c, active), maskedTail(rng, 9, c, active)
		grad := maskedTail(rng, 2*3*3, c, active)
		var z, fg [2][]float32
		for v, skip := range []bool{false, true} {
			z[v], fg[v] = randSlice32(rng, 2*3*3*c), randSlice32(rng, 9*c) // overwritten
			run(skip, func() {
				q := p
				q.cu = c
				if skip {
					q.cu = usedByBoth(c, &bufferLayout{flat: img, shape: f32Shape(2, 6, 5, c)},
						&bufferLayout{flat: ker, shape: f32Shape(3, 3, 1, c)})
				}
				depthwiseForward(q, img, ker, z[v])
				g := convPlan{n: 2, h: 6, w: 5, c: c, ho: 3, wo: 3, kh: 3, kw: 3, sh: 2, sw: 2, padTop: 1, padLft: 1, cu: c}
				if skip {
					g.cu = usedByBoth(c, &bufferLayout{flat: img, shape: f32Shape(2, 6, 5, c)},
						&bufferLayout{flat: grad, shape: f32Shape(2, 3, 3, c)})
				}
				depthwiseFilterGrad(g, img, grad, fg[v])
			})
		}
		sameBits(t, what+" depthwise", z[1], z[0])
		sameBits(t, what+" depthwise filter gradient", fg[1], fg[0])
	}
}

func randSlice32(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

func f32Shape(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }
