package gemm

import (
	"math"
	"runtime"
	"slices"
	"sync"
	"unsafe"
)

// MulTrimmed is Mul for operands whose trailing rows or columns may be zero, as the augmented pass's are: its
// channels are masked as prefixes (the first k of a layer's channels active, the rest exactly zero), so a 1x1 conv
// over the wide tensors multiplies zero input channels (forward), zero output gradients (input gradient) and both
// (weight gradient). It finds the zero tails at run time, multiplies only the rest and zero-fills the part of c
// they determine. The scan reads the zero tails once (and a few elements of a dense operand), far less than the
// product skipped.
//
// For finite operands the result is Mul's to the bit: a dropped product is an exact zero, whose sum with the
// element's partial sum leaves it unchanged. Where a zero meets an infinity or NaN in the other operand, Mul gives
// NaN and MulTrimmed 0.
func MulTrimmed(m, n, k int, a, b Matrix, c []float32) {
	if len(a.Data) < m*k || len(b.Data) < k*n || len(c) < m*n {
		panic("gemm.MulTrimmed: operand too short")
	}
	lda, ldb := storedCols(a.Trans, m, k), storedCols(!b.Trans, n, k)
	// op(a) is [m, k]: stored [m, k], or [k, m] when transposed; op(b) is [k, n]: stored [k, n], or [n, k]. b
	// first (in the engine's products it is usually the weight: small), then a only within the depth b uses, so a
	// zero tail b already cut is not read again.
	var me, ke, ne int
	if b.Trans {
		ne, ke = usedExtent(b.Data, n, k, k)
	} else {
		ke, ne = usedExtent(b.Data, k, n, n)
	}
	if a.Trans {
		ke, me = usedExtent(a.Data[:ke*m], ke, m, m)
	} else {
		me, ke = usedExtent(a.Data, m, k, ke)
	}
	if ke == 0 {
		me, ne = 0, 0
	}
	mul(me, ne, ke, a, b, lda, ldb, c, n)
	if ne < n {
		for i := range me {
			clear(c[i*n+ne : i*n+n])
		}
	}
	clear(c[me*n : m*n])
}

// usedExtent returns, for a row-major [rows, cols] matrix restricted to its first limit columns, the number of
// leading rows and of leading columns outside which every element is zero.
func usedExtent(data []float32, rows, cols, limit int) (usedRows, usedCols int) {
	usedRows = rows
	for usedRows > 0 && !anyNonzero(data[(usedRows-1)*cols:(usedRows-1)*cols+limit]) {
		usedRows--
	}
	return usedRows, UsedColumns(data[:usedRows*cols], cols, limit)
}

// UsedColumns is the number of leading columns, among the first limit, of the row-major data (rows of cols)
// outside which every element of those columns is zero. It guesses from the first row, then checks the other
// rows' tails with a branch-free scan, split between the cores for large data: the cost is about one read of the
// zero part.
func UsedColumns(data []float32, cols, limit int) int {
	rows := len(data) / max(1, cols)
	if rows == 0 || limit == 0 {
		return 0
	}
	guess := rowExtent(data[:limit], 0)
	if guess == limit {
		return limit
	}
	check := func(r0, r1 int) int {
		used := guess
		for r := r0; r < r1; r++ {
			row := data[r*cols : r*cols+limit]
			if anyNonzero(row[used:]) {
				used = rowExtent(row, used)
				if used == limit {
					break
				}
			}
		}
		return used
	}
	workers := runtime.GOMAXPROCS(0)
	if (limit-guess)*rows < 1<<16 || workers == 1 {
		return check(1, rows)
	}
	found := make([]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			found[w] = check(1+(rows-1)*w/workers, 1+(rows-1)*(w+1)/workers)
		}()
	}
	wg.Wait()
	return slices.Max(found)
}

// rowExtent is the index after the last nonzero element of row, or from if there is none at or after from.
func rowExtent(row []float32, from int) int {
	for j := len(row) - 1; j >= from; j-- {
		if row[j] != 0 {
			return j + 1
		}
	}
	return from
}

// anyNonzero reports whether x holds a value other than ±0 (NaN counts as nonzero), reading it as 64-bit words
// with the sign bits cleared and or-ed together, without a branch per element.
func anyNonzero(x []float32) bool {
	if n := len(x) &^ 31; n > 0 && hasAsm && !useGo {
		if anyNonzero32(&x[0], n) {
			return true
		}
		x = x[n:]
	}
	if len(x) == 0 {
		return false
	}
	const signs = 0x8000_0000_8000_0000
	words := unsafe.Slice((*uint64)(unsafe.Pointer(&x[0])), len(x)/2)
	var a0, a1, a2, a3 uint64
	i := 0
	for ; i+4 <= len(words); i += 4 {
		a0 |= words[i]
		a1 |= words[i+1]
		a2 |= words[i+2]
		a3 |= words[i+3]
	}
	for ; i < len(words); i++ {
		a0 |= words[i]
	}
	acc := (a0 | a1 | a2 | a3) &^ signs
	if len(x)%2 == 1 {
		acc |= uint64(math.Float32bits(x[len(x)-1]) &^ (1 << 31))
	}
	return acc != 0
}
