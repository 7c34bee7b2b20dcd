package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// bnRef is batch norm and its gradient in float64 from the definitions: y = γ(x−μ)/σ + β with the batch mean μ and
// biased variance, σ = √(var+ε); dβ = Σdy, dγ = Σdy·x̂, dx = γ/σ·(dy − dβ/n − x̂·dγ/n).
func bnRef(x, gamma, beta, dy []float64, c int, eps float64) (y, mean, variance, dx, dgamma, dbeta []float64) {
	n := float64(len(x) / c)
	mean, variance = make([]float64, c), make([]float64, c)
	for i, v := range x {
		mean[i%c] += v / n
	}
	for i, v := range x {
		d := v - mean[i%c]
		variance[i%c] += d * d / n
	}
	y, dx = make([]float64, len(x)), make([]float64, len(x))
	dgamma, dbeta = make([]float64, c), make([]float64, c)
	xhat := make([]float64, len(x))
	for i, v := range x {
		j := i % c
		xhat[i] = (v - mean[j]) / math.Sqrt(variance[j]+eps)
		y[i] = gamma[j]*xhat[i] + beta[j]
		dbeta[j] += dy[i]
		dgamma[j] += dy[i] * xhat[i]
	}
	for i := range x {
		j := i % c
		dx[i] = gamma[j] / math.Sqrt(variance[j]+eps) * (dy[i] - dbeta[j]/n - xhat[i]*dgamma[j]/n)
	}
	return
}

func toF64(v []float32) []float64 {
	r := make([]float64, len(v))
	for i, x := range v {
		r[i] = float64(x)
	}
	return r
}

// closeScaled checks |got−want| <= tol·max(1, max|want|) element by element.
func closeScaled(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	scale := 1.0
	for _, w := range want {
		scale = max(scale, math.Abs(w))
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); !(d <= tol*scale) {
			t.Fatalf("%s[%d] = %g, want %g (tolerance %g)", what, i, got[i], want[i], tol*scale)
		}
	}
}

// TestFusedBatchNormOps: the engine's BatchNormForTraining and BatchNormGradient against float64 loops, on random
// shapes (rank 2 and 4, channel counts with and without the 8-lane kernels, several row blocks) and on data whose
// mean is far from zero relative to its spread (adder layers' outputs), within float32's conditioning. (Bit-identity
// of the forward pass with kernels/norm's composed formulation is tested there.)
func TestFusedBatchNormOps(t *testing.T) {
	fast := newFastEngine(t)
	rng := rand.New(rand.NewPCG(3, 14))
	const eps = 1e-5
	for trial := range 14 {
		dims := []int{1 + rng.IntN(5), 1 + rng.IntN(7), 1 + rng.IntN(7), []int{1, 3, 8, 12, 16, 24, 40}[trial%7]}
		if trial%5 == 4 {
			dims = []int{2 + rng.IntN(40), dims[3]}
		}
		if trial == 0 {
			dims = []int{16, 24, 24, 16} // several row blocks, in parallel
		}
		c := dims[len(dims)-1]
		offset, spread := 0.0, 1.0
		if trial%3 == 1 {
			offset, spread = -1000, 5
		}
		size := 1
		for _, d := range dims {
			size *= d
		}
		xs, dys := make([]float32, size), make([]float32, size)
		for i := range xs {
			xs[i] = float32(offset + spread*rng.NormFloat64())
			dys[i] = float32(rng.NormFloat64())
		}
		gs, bs := make([]float32, c), make([]float32, c)
		for j := range gs {
			gs[j], bs[j] = float32(0.5+rng.Float64()), float32(rng.NormFloat64())
		}
		what := fmt.Sprintf("x %v (offset %g, spread %g)", dims, offset, spread)
		exec, err := NewExec(fast, func(x, gamma, beta, dy *Node) []*Node {
			y, mean, variance := InternalBatchNormForTraining(x, gamma, beta, eps, -1)
			dx, dgamma, dbeta := InternalBatchNormGradient(x, gamma, mean, variance, dy, eps, -1)
			return []*Node{y, mean, variance, dx, dgamma, dbeta}
		})
		if err != nil {
			t.Fatal(err)
		}
		before := fastExecRuns.Load()
		outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(xs, dims...), tensors.FromFlatDataAndDimensions(gs, c),
			tensors.FromFlatDataAndDimensions(bs, c), tensors.FromFlatDataAndDimensions(dys, dims...))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if fastExecRuns.Load()-before != 2 {
			t.Fatalf("%s: the fused executors did not run", what)
		}
		y, mean, variance, dx, dgamma, dbeta := bnRef(toF64(xs), toF64(gs), toF64(bs), toF64(dys), c, float64(float32(eps)))
		// float32 statistics (the composed formulation's, in row order) lose precision as |mean|/spread grows.
		tol := 2e-5 * (1 + math.Abs(offset)/spread)
		names := []string{"y", "mean", "variance", "dx", "dgamma", "dbeta"}
		for i, want := range [][]float64{y, mean, variance, dx, dgamma, dbeta} {
			closeScaled(t, what+" "+names[i], tensors.MustCopyFlatData[float32](outs[i]), want, tol)
		}
	}
}

// TestBatchNormKernelsMatchGo: the AVX batch-norm kernels give the same bits as the Go loops they replace.
func TestBatchNormKernelsMatchGo(t *testing.T) {
	if !hasVec {
		t.Skip("no AVX2 on this CPU")
	}
	defer func() { noVec = false }()
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []int{8, 16, 24, 40, 12, 3, 32, 72, 99} { // 32 and more: four strips at once
		rows := 1 + rng.IntN(3000)
		x, dy := make([]float32, rows*c), make([]float32, rows*c)
		for i := range x {
			x[i], dy[i] = float32(rng.NormFloat64()*3+1), float32(rng.NormFloat64())
		}
		k, a, m, e, b := make([]float32, c), make([]float32, c), make([]float32, c), make([]float32, c), make([]float32, c)
		for j := range c {
			k[j], a[j], m[j], e[j], b[j] = x[j], float32(rng.NormFloat64()), float32(rng.NormFloat64()),
				float32(rng.NormFloat64()), float32(rng.NormFloat64())
		}
		var cs [2][2][]float32 // column sums, and of squared deviations, AVX and Go
		type result struct{ g1, g2 []float64 }
		var res [2]result
		var z1, z2 [2][]float32
		for v, off := range []bool{false, true} {
			noVec = off
			cs[v][0], cs[v][1] = make([]float32, c), make([]float32, c)
			columnSums(cs[v][0], x, nil, rows, len(cs[v][0]))
			columnSums(cs[v][1], x, m, rows, len(cs[v][1]))
			res[v].g1, res[v].g2 = gradientSums(x, dy, k, len(k))
			z1[v], z2[v] = make([]float32, len(x)), append([]float32(nil), dy...)
			affineRows(z1[v], x, nil, a, m, nil, b, len(a))
			affineRows(z2[v], x, z2[v], a, m, e, b, len(a)) // aliasing y, as the gradient does
		}
		what := fmt.Sprintf("C=%d rows=%d", c, rows)
		for i, pair := range [][2][]float64{{res[0].g1, res[1].g1}, {res[0].g2, res[1].g2}} {
			for j := range pair[0] {
				if pair[0][j] != pair[1][j] {
					t.Fatalf("%s: sums %d channel %d: AVX %v, Go %v", what, i, j, pair[0][j], pair[1][j])
				}
			}
		}
		bitIdentical(t, what+" column sums", cs[0][0], cs[1][0])
		bitIdentical(t, what+" column sums of squared deviations", cs[0][1], cs[1][1])
		bitIdentical(t, what+" affine", z1[0], z1[1])
		bitIdentical(t, what+" affine with a second operand", z2[0], z2[1])
	}
}
