package gemm

import "golang.org/x/sys/cpu"

// hasAsm: the assembly micro-kernel needs AVX2 and FMA.
var hasAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// hasWide: the 8 × 32 micro-kernel needs AVX-512 (F for the zmm arithmetic).
var hasWide = hasAsm && cpu.X86.HasAVX512F

// kernel4x16 is the assembly micro-kernel (gemm_amd64.s): c[r*ldc+j] (+)= Σ_p a[p*4+r]·b[p*16+j], r < 4, j < 16.
//
//go:noescape
func kernel4x16(kb int, a, b, c *float32, ldc int, accumulate bool)

func microKernel(kb int, a, b, c []float32, ldc int, accumulate bool) {
	if !hasAsm || useGo {
		microKernelGo(kb, a, b, c, ldc, accumulate)
		return
	}
	_ = a[kb*mr-1]
	_ = b[kb*nr-1]
	_ = c[(mr-1)*ldc+nr-1]
	kernel4x16(kb, &a[0], &b[0], &c[0], ldc, accumulate)
}

// kernel4x16Strided is kernel4x16 on unpacked operands (gemm_amd64.s): c[r*ldc+j] (+)= Σ_p a[p*lda+r]·b[p*ldb+j].
//
//go:noescape
func kernel4x16Strided(kb int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, accumulate bool)

// stridedKernel computes a full 4 × 16 tile from a transposed a and an untransposed b as they are stored (no
// packing), with kernel4x16's bits. It needs hasAsm.
func stridedKernel(kb int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, accumulate bool) {
	_ = a[(kb-1)*lda+mr-1]
	_ = b[(kb-1)*ldb+nr-1]
	_ = c[(mr-1)*ldc+nr-1]
	kernel4x16Strided(kb, &a[0], lda, &b[0], ldb, &c[0], ldc, accumulate)
}

// anyNonzero32 reports whether any of the n floats at x (n a multiple of 32) is other than ±0 (gemm_amd64.s).
//
//go:noescape
func anyNonzero32(x *float32, n int) bool

// kernel4x16Rows is kernel4x16 with a's four rows read where they are stored, lda apart (gemm_amd64.s).
//
//go:noescape
func kernel4x16Rows(kb int, a *float32, lda int, b, c *float32, ldc int, accumulate bool)

// rowsKernel computes a full 4 × 16 tile from rows of an untransposed a as they are stored and a packed panel of b,
// with kernel4x16's bits. It needs hasAsm.
func rowsKernel(kb int, a []float32, lda int, b, c []float32, ldc int, accumulate bool) {
	_ = a[(mr-1)*lda+kb-1]
	_ = b[kb*nr-1]
	_ = c[(mr-1)*ldc+nr-1]
	kernel4x16Rows(kb, &a[0], lda, &b[0], &c[0], ldc, accumulate)
}

// kernel8x32Rows is the AVX-512 tile (gemm_amd64.s): eight stored rows of a, lda apart, times two packed panels of
// b, the second kb·nr floats after the first.
//
//go:noescape
func kernel8x32Rows(kb int, a *float32, lda int, b, c *float32, ldc int, accumulate bool)

// wideKernel computes a full 8 × 32 tile (two row panels, two column panels) with kernel4x16's bits. It needs
// hasWide.
func wideKernel(kb int, a []float32, lda int, b, c []float32, ldc int, accumulate bool) {
	_ = a[(2*mr-1)*lda+kb-1]
	_ = b[2*kb*nr-1]
	_ = c[(2*mr-1)*ldc+2*nr-1]
	kernel8x32Rows(kb, &a[0], lda, &b[0], &c[0], ldc, accumulate)
}

// kernel8x32Strided is kernel8x32Rows on unpacked operands as kernel4x16Strided reads them (gemm_amd64.s).
//
//go:noescape
func kernel8x32Strided(kb int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, accumulate bool)

// wideStridedKernel computes a full 8 × 32 tile from a transposed a and an untransposed b as they are stored, with
// kernel4x16's bits. It needs hasWide.
func wideStridedKernel(kb int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, accumulate bool) {
	_ = a[(kb-1)*lda+2*mr-1]
	_ = b[(kb-1)*ldb+2*nr-1]
	_ = c[(2*mr-1)*ldc+2*nr-1]
	kernel8x32Strided(kb, &a[0], lda, &b[0], ldb, &c[0], ldc, accumulate)
}
