//go:build !amd64

package gemm

const (
	hasAsm  = false
	hasWide = false
)

func microKernel(kb int, a, b, c []float32, ldc int, accumulate bool) {
	microKernelGo(kb, a, b, c, ldc, accumulate)
}

func anyNonzero32(x *float32, n int) bool { panic("gemm: no assembly on this architecture") }

func stridedKernel(kb int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, accumulate bool) {
	panic("gemm: no assembly on this architecture")
}

func rowsKernel(kb int, a []float32, lda int, b, c []float32, ldc int, accumulate bool) {
	panic("gemm: no assembly on this architecture")
}

func wideKernel(kb int, a []float32, lda int, b, c []float32, ldc int, accumulate bool) {
	panic("gemm: no assembly on this architecture")
}

func wideStridedKernel(kb int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, accumulate bool) {
	panic("gemm: no assembly on this architecture")
}
