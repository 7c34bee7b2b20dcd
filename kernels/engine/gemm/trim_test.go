package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// zeroTail zeroes the stored rows from r and the stored columns from col of a row-major [rows, cols] matrix.
func zeroTail(x []float32, rows, cols, r, col int) {
	for i := range rows {
		for j := range cols {
			if i >= r || j >= col {
				x[i*cols+j] = 0
			}
		}
	}
}

// TestMulTrimmed: operands with zero tails in every stored dimension (as masked channels give), every
// transposition, tails inside and across tiles and depth blocks: the same bits as Mul, and every element the
// tails determine exactly zero.
func TestMulTrimmed(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, s := range [][3]int{{5, 17, 3}, {67, 33, 257}, {130, 40, 600}, {1000, 24, 144}, {9, 1, 513}} {
		m, n, k := s[0], s[1], s[2]
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				for trial := range 6 {
					a, b := Matrix{Data: randSlice(rng, m*k), Trans: ta}, Matrix{Data: randSlice(rng, k*n), Trans: tb}
					// Stored shapes: a [m,k] or [k,m]; b [k,n] or [n,k]. Trial 0 keeps them dense, trial 5 zeroes a.
					ar, ac := m, k
					if ta {
						ar, ac = k, m
					}
					br, bc := k, n
					if tb {
						br, bc = n, k
					}
					if trial > 0 {
						zeroTail(a.Data, ar, ac, rng.IntN(ar+1), rng.IntN(ac+1))
						zeroTail(b.Data, br, bc, rng.IntN(br+1), rng.IntN(bc+1))
					}
					if trial == 5 {
						clear(a.Data)
					}
					want, got := make([]float32, m*n), randSlice(rng, m*n)
					Mul(m, n, k, a, b, want)
					MulTrimmed(m, n, k, a, b, got)
					what := fmt.Sprintf("m%d n%d k%d transA=%v transB=%v trial %d", m, n, k, ta, tb, trial)
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] == 0 && want[i] == 0) {
							t.Fatalf("%s: c[%d] = %v, Mul gives %v", what, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

func TestUsedExtent(t *testing.T) {
	x := []float32{
		1, 0, 0, 0,
		0, 0, 2, 0,
		0, 0, 0, 0,
	}
	if r, c := usedExtent(x, 3, 4, 4); r != 2 || c != 3 {
		t.Fatalf("usedExtent = %d rows, %d columns, want 2, 3", r, c)
	}
	if r, c := usedExtent(make([]float32, 12), 3, 4, 4); r != 0 || c != 0 {
		t.Fatalf("usedExtent of zeros = %d, %d, want 0, 0", r, c)
	}
	if r, c := usedExtent(x, 3, 4, 2); r != 1 || c != 1 {
		t.Fatalf("usedExtent within 2 columns = %d, %d, want 1, 1", r, c)
	}
	x[11] = float32(math.NaN()) // NaN is not zero
	if r, c := usedExtent(x, 3, 4, 4); r != 3 || c != 4 {
		t.Fatalf("usedExtent with a NaN = %d, %d, want 3, 4", r, c)
	}
}

// TestAnyNonzero: the assembly and Go scans agree with a plain loop on lengths around the 32-float chunks, with
// ±0 everywhere and one value other than ±0 (the smallest denormal, NaN, -Inf, a normal number) anywhere.
func TestAnyNonzero(t *testing.T) {
	defer func() { useGo = false }()
	rng := rand.New(rand.NewPCG(3, 4))
	specials := []float32{math.Float32frombits(1), float32(math.NaN()), float32(math.Inf(-1)), -2.5}
	for _, goScan := range []bool{false, true} {
		useGo = goScan
		for n := range 200 {
			x := make([]float32, n+1)[1:] // not 32-byte aligned
			for i := range x {
				if rng.IntN(2) == 0 {
					x[i] = float32(math.Copysign(0, -1))
				}
			}
			if anyNonzero(x) {
				t.Fatalf("go=%v n=%d: zeros reported as nonzero", goScan, n)
			}
			for _, pos := range []int{0, n / 2, n - 1} {
				if n == 0 {
					break
				}
				v := specials[rng.IntN(len(specials))]
				x[pos] = v
				if !anyNonzero(x) {
					t.Fatalf("go=%v n=%d: %v at %d not seen", goScan, n, v, pos)
				}
				x[pos] = 0
			}
		}
	}
}
