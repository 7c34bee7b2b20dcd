// Package gemm is a blocked, parallel float32 matrix product for the engine's DotGeneral: C = op(A)·op(B).
//
// It follows the GotoBLAS/BLIS structure: B is packed a [kc × nc] block at a time into panels of nr columns, A an
// [mc × kc] block at a time into panels of mr rows, and a micro-kernel computes an mr × nr tile of C from one panel
// of each, accumulating over kc. On amd64 with AVX2 and FMA the micro-kernel is assembly (4 × 16, eight ymm
// accumulators), and with AVX-512 the full 8 × 32 tiles take one (sixteen zmm accumulators); elsewhere it is the
// same loop in Go. The assembly reads an untransposed a, and a weight gradient's transposed a and untransposed b,
// where they are stored instead of packing them.
//
// Each element of C sums its products in increasing k, in chunks of kc (each chunk summed from zero, then added to
// the element), and the work is split between goroutines by rows of C only, so the result does not depend on the
// number of cores. It does differ from SimpleGo's DotGeneral in the last bits: FMA rounds once per product-add and
// the summation order is not SimpleGo's.
package gemm

import (
	"runtime"
	"sync"
)

const (
	mr = 4   // rows of a micro-tile
	nr = 16  // columns of a micro-tile
	kc = 256 // depth of a packed block
	mc = 64  // rows of a packed A block
	nc = 256 // columns of a packed B block
)

// useGo forces the Go micro-kernel (the tests run both).
var useGo bool

// alwaysPack switches off the paths that read operands where they are stored (the tests compare the two).
var alwaysPack bool

// narrowOnly switches off the AVX-512 8 × 32 tiles (the tests compare the two).
var narrowOnly bool

// Matrix is a row-major operand: Trans says the data holds its transpose (an A stored [K, M], a B stored [N, K]).
type Matrix struct {
	Data  []float32
	Trans bool
}

// Mul sets c [m, n] (row-major) to op(a) [m, k] · op(b) [k, n].
func Mul(m, n, k int, a, b Matrix, c []float32) {
	if len(a.Data) < m*k || len(b.Data) < k*n || len(c) < m*n {
		panic("gemm.Mul: operand too short")
	}
	mul(m, n, k, a, b, storedCols(a.Trans, m, k), storedCols(!b.Trans, n, k), c, n)
}

// storedCols is the length of a stored row of an operand with cross size cross and depth k: stored [k, cross] when
// crossLast (a transposed a, an untransposed b), else [cross, k].
func storedCols(crossLast bool, cross, k int) int {
	if crossLast {
		return cross
	}
	return k
}

// mul sets the [m, n] block of c (rows ldc apart) to op(a)·op(b), the operands' stored rows lda and ldb apart.
func mul(m, n, k int, a, b Matrix, lda, ldb int, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		for i := range m {
			clear(c[i*ldc : i*ldc+n])
		}
		return
	}
	// Split C between the workers in whole micro-tiles, by rows or, when C is wider than tall, by columns: a row
	// split has every worker read (and pack) all of op(b), a column split all of op(a), so the split goes along
	// the larger side. Small products run inline. Either way each element sums the same products in the same
	// order, so the result does not depend on the split.
	workers := runtime.GOMAXPROCS(0)
	if m*n*k < 1<<17 {
		workers = 1
	}
	byCols := m < n
	tiles := (m + mr - 1) / mr
	unit := mr
	if byCols {
		tiles, unit = (n+nr-1)/nr, nr
	}
	workers = max(1, min(workers, tiles))
	p := product{k: k, a: a, b: b, lda: lda, ldb: ldb, c: c, ldc: ldc}
	if workers == 1 {
		p.block(0, m, 0, n)
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		part := func() {
			lo, hi := tiles*w/workers*unit, tiles*(w+1)/workers*unit
			if byCols {
				p.block(0, m, min(n, lo), min(n, hi))
			} else {
				p.block(min(m, lo), min(m, hi), 0, n)
			}
		}
		if w == workers-1 {
			part()
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			part()
		}()
	}
	wg.Wait()
}

// buffers are a worker's packing buffers.
type buffers struct {
	a, b []float32
	tile [mr * nr]float32
}

var pool = sync.Pool{New: func() any {
	return &buffers{a: make([]float32, mc*kc), b: make([]float32, kc*nc)}
}}

// product is one matrix product: c (rows ldc apart) = op(a)·op(b), both of depth k, the operands' stored rows lda
// and ldb apart.
type product struct {
	k        int
	a, b     Matrix
	lda, ldb int
	c        []float32
	ldc      int
}

// block computes rows [m0, m1) and columns [n0, n1) of c.
func (q product) block(m0, m1, n0, n1 int) {
	k, b := q.k, q.b
	m := m1 - m0
	if m <= 0 || n1 <= n0 {
		return
	}
	bufs := pool.Get().(*buffers)
	defer pool.Put(bufs)
	rows := rowBlock{a: q.a, lda: q.lda, m0: m0}
	// A transposed a and an untransposed b (a weight gradient: activations stored [k, m], output gradients [k, n])
	// already hold each depth index's rows, and columns, side by side: the full tiles read them where they are.
	// Packing them cost more than the multiplication for the small m and n and very large k of these products.
	unpacked := q.a.Trans && !b.Trans && hasAsm && !useGo && !alwaysPack
	// An untransposed a (a forward or input-gradient product: activations [m, k] with a small k) is read where it is
	// stored too, its rows side by side: packing it cost as much as the multiplication (a tenth of the res-96 step).
	// Only a last panel of fewer than mr rows is packed.
	direct := !q.a.Trans && hasAsm && !useGo && !alwaysPack
	wide := (direct || unpacked) && hasWide && !narrowOnly
	for j0 := n0; j0 < n1; j0 += nc {
		nb := min(nc, n1-j0)
		for p0 := 0; p0 < k; p0 += kc {
			kb := min(kc, k-p0)
			if !unpacked {
				packB(b, q.ldb, p0, kb, j0, nb, bufs.b)
			} else if jn := nb - nb%nr; jn < nb {
				// Unpacked, a last panel of fewer than nr columns is packed once for all its tiles.
				packB(b, q.ldb, p0, kb, j0+jn, nb-jn, bufs.b[jn*kb:(jn+nr)*kb])
			}
			for i0 := 0; i0 < m; i0 += mc {
				mb := min(mc, m-i0)
				aPacked := !unpacked
				if direct {
					if full := mb - mb%mr; full < mb {
						rows.pack(i0+full, mb-full, p0, kb, bufs.a[full*kb:])
					}
				} else if aPacked {
					rows.pack(i0, mb, p0, kb, bufs.a)
				}
				for jr := 0; jr < nb; {
					if wide && jr+2*nr <= nb {
						// Two column panels at a time: 8 × 32 tiles over the block's whole pairs of row panels, the
						// rows left (fewer than 8) in 4 × 16 tiles below.
						ir := 0
						for ; ir+2*mr <= mb; ir += 2 * mr {
							ci := (m0+i0+ir)*q.ldc + j0 + jr
							if unpacked {
								wideStridedKernel(kb, q.a.Data[p0*q.lda+m0+i0+ir:], q.lda, b.Data[p0*q.ldb+j0+jr:], q.ldb,
									q.c[ci:], q.ldc, p0 > 0)
							} else {
								wideKernel(kb, q.a.Data[(m0+i0+ir)*q.lda+p0:], q.lda, bufs.b[jr*kb:(jr+2*nr)*kb],
									q.c[ci:], q.ldc, p0 > 0)
							}
						}
						q.tiles(bufs, rows, &aPacked, unpacked, direct, m0, i0, ir, mb, j0, jr, nr, p0, kb)
						q.tiles(bufs, rows, &aPacked, unpacked, direct, m0, i0, ir, mb, j0, jr+nr, nr, p0, kb)
						jr += 2 * nr
						continue
					}
					cols := min(nr, nb-jr)
					q.tiles(bufs, rows, &aPacked, unpacked, direct, m0, i0, 0, mb, j0, jr, cols, p0, kb)
					jr += nr
				}
			}
		}
	}
}

// tiles computes the micro-tiles of rows [ir0, mb) (relative to the row block i0, itself relative to m0) and the
// column panel of cols columns at jr (relative to j0) over depth [p0, p0+kb), from the packed panels in bufs or,
// unpacked or direct, from the operands where they are stored (see block).
func (q product) tiles(bufs *buffers, rows rowBlock, aPacked *bool, unpacked, direct bool,
	m0, i0, ir0, mb, j0, jr, cols, p0, kb int) {
	b, c := q.b, q.c
	narrow := cols < nr
	bp := bufs.b[jr*kb : (jr+nr)*kb]
	for ir := ir0; ir < mb; ir += mr {
		rws := min(mr, mb-ir)
		ci := (m0+i0+ir)*q.ldc + j0 + jr
		ap := bufs.a[ir*kb : (ir+mr)*kb]
		rowsDirect := direct && rws == mr // else the last panel, packed by block
		if unpacked {
			if rws == mr && !narrow {
				stridedKernel(kb, q.a.Data[p0*q.lda+m0+i0+ir:], q.lda, b.Data[p0*q.ldb+j0+jr:], q.ldb,
					c[ci:], q.ldc, p0 > 0)
				continue
			}
			// An edge tile: the block of a packed once, this tile's b panel alone.
			if !*aPacked {
				rows.pack(i0, mb, p0, kb, bufs.a)
				*aPacked = true
			}
			if !narrow {
				packB(b, q.ldb, p0, kb, j0+jr, cols, bp)
			}
		}
		if rws == mr && !narrow {
			if rowsDirect {
				rowsKernel(kb, q.a.Data[(m0+i0+ir)*q.lda+p0:], q.lda, bp, c[ci:], q.ldc, p0 > 0)
			} else {
				microKernel(kb, ap, bp, c[ci:], q.ldc, p0 > 0)
			}
			continue
		}
		// Edge tile: compute into the scratch tile and copy the valid part.
		t := bufs.tile[:]
		if p0 > 0 {
			for r := range rws {
				copy(t[r*nr:r*nr+cols], c[ci+r*q.ldc:ci+r*q.ldc+cols])
			}
		}
		if rowsDirect {
			rowsKernel(kb, q.a.Data[(m0+i0+ir)*q.lda+p0:], q.lda, bp, t, nr, p0 > 0)
		} else {
			microKernel(kb, ap, bp, t, nr, p0 > 0)
		}
		for r := range rws {
			copy(c[ci+r*q.ldc:ci+r*q.ldc+cols], t[r*nr:r*nr+cols])
		}
	}
}

// rowBlock reads rows [m0, m1) of op(a).
type rowBlock struct {
	a   Matrix
	lda int // distance between stored rows of a
	m0  int
}

// pack writes rows [i0, i0+mb) (relative to m0) and depth [p0, p0+kb) of op(a) into dst as panels of mr rows:
// panel q holds, for each depth index, its mr values (rows past the end are zero).
func (r rowBlock) pack(i0, mb, p0, kb int, dst []float32) {
	if r.a.Trans {
		// op(a) is stored [k, ·] (rows lda apart): each depth index holds the block's mb rows contiguously. Read them in one
		// pass per depth index and deal them to the panels (reading one element per depth and row was a cache
		// miss each: 10% of the augmented training step).
		if mb%mr != 0 {
			clear(dst[(mb/mr)*mr*kb : ((mb+mr-1)/mr)*mr*kb])
		}
		row0 := r.m0 + i0
		for p := range kb {
			src := r.a.Data[(p0+p)*r.lda+row0 : (p0+p)*r.lda+row0+mb]
			for ir := 0; ir < mb; ir += mr {
				rws := min(mr, mb-ir)
				copy(dst[ir*kb+p*mr:ir*kb+p*mr+rws], src[ir:ir+rws])
			}
		}
		return
	}
	for ir := 0; ir < mb; ir += mr {
		panel := dst[ir*kb : (ir+mr)*kb]
		rws := min(mr, mb-ir)
		if rws < mr {
			clear(panel)
			for q := range rws {
				row := r.m0 + i0 + ir + q
				for p, v := range r.a.Data[row*r.lda+p0 : row*r.lda+p0+kb] {
					panel[p*mr+q] = v
				}
			}
			continue
		}
		// A full panel (written out for mr = 4, which mrIsFour checks at compile time): read its rows side by
		// side and write the panel in order.
		base := (r.m0+i0+ir)*r.lda + p0
		a0 := r.a.Data[base : base+kb]
		a1 := r.a.Data[base+r.lda : base+r.lda+kb]
		a2 := r.a.Data[base+2*r.lda : base+2*r.lda+kb]
		a3 := r.a.Data[base+3*r.lda : base+3*r.lda+kb]
		panel = panel[:4*kb]
		for p := range kb {
			o := panel[4*p : 4*p+4 : 4*p+4]
			o[0], o[1], o[2], o[3] = a0[p], a1[p], a2[p], a3[p]
		}
	}
}

// mrIsFour fails to compile unless mr == 4, as pack's full-panel loop assumes.
var _ [mr - 4]struct{}
var _ [4 - mr]struct{}

// packB writes depth [p0, p0+kb) and columns [j0, j0+nb) of op(b) (stored rows ldb apart) into dst as panels of nr
// columns: panel q holds, for each depth index, its nr values (columns past the end are zero).
func packB(b Matrix, ldb, p0, kb, j0, nb int, dst []float32) {
	for jr := 0; jr < nb; jr += nr {
		panel := dst[jr*kb : (jr+nr)*kb]
		cols := min(nr, nb-jr)
		if cols < nr {
			clear(panel)
		}
		if !b.Trans {
			for p := range kb {
				row := b.Data[(p0+p)*ldb+j0+jr : (p0+p)*ldb+j0+jr+cols]
				copy(panel[p*nr:p*nr+cols], row)
			}
		} else {
			for q := range cols {
				col := b.Data[(j0+jr+q)*ldb+p0 : (j0+jr+q)*ldb+p0+kb]
				for p, v := range col {
					panel[p*nr+q] = v
				}
			}
		}
	}
}

// microKernelGo is the micro-kernel in Go: c[r*ldc+j] (+)= Σ_p a[p*mr+r]·b[p*nr+j] for an mr × nr tile.
func microKernelGo(kb int, a, b, c []float32, ldc int, accumulate bool) {
	var acc [mr][nr]float32
	for p := range kb {
		bp := (*[nr]float32)(b[p*nr : p*nr+nr])
		ap := (*[mr]float32)(a[p*mr : p*mr+mr])
		for r := range mr {
			av := ap[r]
			for j := range nr {
				acc[r][j] += av * bp[j]
			}
		}
	}
	for r := range mr {
		row := c[r*ldc : r*ldc+nr]
		if accumulate {
			for j := range nr {
				row[j] += acc[r][j]
			}
		} else {
			copy(row, acc[r][:])
		}
	}
}
