package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// reference is C = op(A)·op(B) in float64.
func reference(m, n, k int, a, b Matrix) []float64 {
	c := make([]float64, m*n)
	for i := range m {
		for j := range n {
			s := 0.0
			for p := range k {
				av := a.Data[i*k+p]
				if a.Trans {
					av = a.Data[p*m+i]
				}
				bv := b.Data[p*n+j]
				if b.Trans {
					bv = b.Data[j*k+p]
				}
				s += float64(av) * float64(bv)
			}
			c[i*n+j] = s
		}
	}
	return c
}

func randSlice(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// TestMul: every transposition, shapes around the tile and block sizes (edges in rows, columns and depth, several
// depth blocks, several workers), both micro-kernels, against float64; and the same bits whatever the number of
// workers would be (rows or columns are split, never depth), whether the operands are packed or not, and whether
// the AVX-512 tiles are used.
func TestMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	shapes := [][3]int{{1, 1, 1}, {4, 16, 8}, {5, 17, 3}, {3, 15, 300}, {67, 33, 257}, {130, 40, 600},
		{1000, 24, 144}, {144, 24, 2000}, {2, 300, 70}, {9, 1, 513}, {24, 144, 3000}, {7, 70, 2000},
		{150, 96, 27}, {45, 77, 300}, {8, 32, 5}, {71, 64, 16}}
	for _, goKernel := range []bool{false, true} {
		if !goKernel && !hasAsm {
			continue
		}
		useGo = goKernel
		for _, s := range shapes {
			m, n, k := s[0], s[1], s[2]
			for _, ta := range []bool{false, true} {
				for _, tb := range []bool{false, true} {
					a, b := Matrix{randSlice(rng, m*k), ta}, Matrix{randSlice(rng, k*n), tb}
					c := randSlice(rng, m*n) // overwritten
					Mul(m, n, k, a, b, c)
					want := reference(m, n, k, a, b)
					what := fmt.Sprintf("m%d n%d k%d transA=%v transB=%v goKernel=%v", m, n, k, ta, tb, goKernel)
					for i := range want {
						if d := math.Abs(float64(c[i]) - want[i]); d > 1e-5*math.Sqrt(float64(k))*(1+math.Abs(want[i])) {
							t.Fatalf("%s: c[%d] = %v, float64 reference %v", what, i, c[i], want[i])
						}
					}
					// The single-worker path gives the same bits.
					c1 := make([]float32, m*n)
					product{k: k, a: a, b: b, lda: storedCols(a.Trans, m, k), ldb: storedCols(!b.Trans, n, k), c: c1, ldc: n}.block(0, m, 0, n)
					for i := range c {
						if math.Float32bits(c[i]) != math.Float32bits(c1[i]) {
							t.Fatalf("%s: c[%d] = %v in parallel, %v on one worker", what, i, c[i], c1[i])
						}
					}
					// Packing every operand (the unpacked path off) gives the same bits too, and so do the AVX2
					// tiles alone.
					for _, variant := range []struct {
						name string
						flag *bool
					}{{"with every operand packed", &alwaysPack}, {"without the AVX-512 tiles", &narrowOnly}} {
						*variant.flag = true
						Mul(m, n, k, a, b, c1)
						*variant.flag = false
						for i := range c {
							if math.Float32bits(c[i]) != math.Float32bits(c1[i]) {
								t.Fatalf("%s: c[%d] = %v, %v %s", what, i, c[i], c1[i], variant.name)
							}
						}
					}
				}
			}
		}
	}
	useGo = false
}

func BenchmarkMul(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, s := range [][3]int{{147456, 144, 24}, {147456, 24, 144}, {24, 144, 147456}} {
		m, n, k := s[0], s[1], s[2]
		a, bb := Matrix{randSlice(rng, m*k), false}, Matrix{randSlice(rng, k*n), false}
		if m < k {
			a.Trans = true
		}
		c := make([]float32, m*n)
		b.Run(fmt.Sprintf("m%d_n%d_k%d", m, n, k), func(b *testing.B) {
			for range b.N {
				Mul(m, n, k, a, bb, c)
			}
			b.ReportMetric(float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}
