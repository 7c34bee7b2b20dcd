package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/shiftaddaug/shiftaddaug/kernels"
)

// TestFusedAdderMatchesChunked: kernels.AddMatMul runs as the two fused adder kernels on the engine and agrees with
// its chunked elementwise formulation ("nofusedadder") within float32 rounding, value and both gradients, on
// shapes with and without whole vector tiles; also with the activation fusion off ("nofusedact"), which must then
// leave the clip of the adder gradient's pattern unfused.
func TestFusedAdderMatchesChunked(t *testing.T) {
	fused := newFastEngine(t)
	noAct, err := NewEngine("nofusedact")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(noAct.Finalize)
	chunked, err := NewEngine("nofusedadder")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(chunked.Finalize)
	rng := rand.New(rand.NewPCG(31, 32))
	for _, d := range [][3]int{{4, 8, 16}, {37, 27, 24}, {6, 5, 3}, {130, 72, 40}, {64, 144, 9}} {
		m, k, o := d[0], d[1], d[2]
		p, w, r := randTensor(rng, []int{m, k}), randTensor(rng, []int{k, o}), randTensor(rng, []int{m, o})
		tensors.MutableFlatData(w, func(flat []float32) { // some differences beyond the clip
			for i := range flat {
				flat[i] *= 1.5
			}
		})
		f := func(xs []*Node) []*Node {
			y := kernels.AddMatMul(xs[0], xs[1], 64)
			return append([]*Node{y}, Gradient(ReduceAllSum(Mul(y, xs[2])), xs[0], xs[1])...)
		}
		run := func(be *Backend) [][]float32 {
			exec, err := NewExec(be, func(a, b, c *Node) []*Node { return f([]*Node{a, b, c}) })
			if err != nil {
				t.Fatal(err)
			}
			var args []any
			for _, x := range []*tensors.Tensor{p, w, r} {
				c, err := x.LocalClone()
				if err != nil {
					t.Fatal(err)
				}
				args = append(args, c)
			}
			outs, err := exec.Exec(args...)
			if err != nil {
				t.Fatal(err)
			}
			var res [][]float32
			for _, o := range outs {
				res = append(res, tensors.MustCopyFlatData[float32](o))
			}
			return res
		}
		what := fmt.Sprintf("p [%d,%d] w [%d,%d]", m, k, k, o)
		want := run(chunked)
		for _, be := range []*Backend{fused, noAct} {
			dist, grads, clips := adderRuns[0].Load(), adderRuns[1].Load(), fusedActRuns[0].Load()
			got := run(be)
			if adderRuns[0].Load() == dist || adderRuns[1].Load() == grads {
				t.Fatalf("%s (%s): the fused adder kernels did not run", what, be.Label())
			}
			if be == noAct && fusedActRuns[0].Load() != clips {
				t.Fatalf("%s (%s): a fused clip ran with activation fusion off", what, be.Label())
			}
			compareAdder(t, what+" "+be.Label(), got, want)
		}
	}
}

func compareAdder(t *testing.T, what string, got, want [][]float32) {
	t.Helper()
	for i, name := range []string{"y", "dp", "dw"} {
		scale := 1.0
		for _, v := range want[i] {
			scale = max(scale, math.Abs(float64(v)))
		}
		for j := range want[i] {
			if diff := math.Abs(float64(got[i][j] - want[i][j])); !(diff <= 1e-5*scale) {
				t.Fatalf("%s %s[%d]: fused %g, chunked %g", what, name, j, got[i][j], want[i][j])
			}
		}
	}
}

// TestAdderKernelsMatchGo: the AVX adder kernels (AVX2, and AVX-512 where the CPU has it) give the bits of the Go
// loops, NaN and infinities included.
func TestAdderKernelsMatchGo(t *testing.T) {
	if !hasVec {
		t.Skip("no AVX2 on this CPU")
	}
	defer func() { noVec, noVec512 = false, false }()
	rng := rand.New(rand.NewPCG(33, 34))
	for _, d := range [][3]int{{4, 8, 16}, {9, 13, 40}, {17, 24, 8}, {5, 7, 3}, {64, 30, 33}, {9, 40, 72},
		{12, 35, 100}, {8, 16, 32}} {
		m, k, o := d[0], d[1], d[2]
		rnd := func(n int) []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(rng.NormFloat64())
				if rng.IntN(60) == 0 {
					v[i] = []float32{float32(math.Inf(1)), float32(math.NaN()), 0, float32(math.Copysign(0, -1))}[rng.IntN(4)]
				}
			}
			return v
		}
		p, w, v := rnd(m*k), rnd(k*o), rnd(m*o)
		var s, dp [3][]float32
		for i, off := range [][2]bool{{false, false}, {false, true}, {true, true}} { // noVec, noVec512
			noVec, noVec512 = off[0], off[1]
			s[i], dp[i] = make([]float32, m*o), make([]float32, m*k)
			adderDistance(s[i], p, w, m, k, o)
			adderGradient(dp[i], p, w, v, m, k, o, -1, 1)
		}
		what := fmt.Sprintf("m=%d k=%d o=%d", m, k, o)
		bitIdentical(t, what+" distance (AVX2 alone)", s[1], s[0])
		bitIdentical(t, what+" gradient (AVX2 alone)", dp[1], dp[0])
		bitIdentical(t, what+" distance", s[0], s[2])
		bitIdentical(t, what+" gradient", dp[0], dp[2])
	}
}

// BenchmarkAdder times the fused adder distance and gradient on a 1×1 layer of the res-32 Add step (batch 128),
// with the AVX-512 kernels and with AVX2 alone.
func BenchmarkAdder(b *testing.B) {
	m, k, o := 128*16*16, 48, 96
	rng := rand.New(rand.NewPCG(35, 36))
	rnd := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	p, w, v := rnd(m*k), rnd(k*o), rnd(m*o)
	s, dp := make([]float32, m*o), make([]float32, m*k)
	defer func() { noVec512 = false }()
	for _, avx2 := range []bool{false, true} {
		noVec512 = avx2
		name := "avx512"
		if avx2 {
			name = "avx2"
		}
		b.Run("distance/"+name, func(b *testing.B) {
			for range b.N {
				adderDistance(s, p, w, m, k, o)
			}
		})
		b.Run("gradient/"+name, func(b *testing.B) {
			for range b.N {
				adderGradient(dp, p, w, v, m, k, o, -1, 1)
			}
		})
	}
}
