//go:build !amd64

package engine

const (
	hasVec    = false
	hasVec512 = false
)

func vecAdd(z, x, y []float32) { panic("vecAdd: no vector kernels on this architecture") }
func vecSub(z, x, y []float32) { panic("vecSub: no vector kernels on this architecture") }
func vecMul(z, x, y []float32) { panic("vecMul: no vector kernels on this architecture") }
func vecDiv(z, x, y []float32) { panic("vecDiv: no vector kernels on this architecture") }
func vecColSum(z, x []float32, stride, rows int) {
	panic("vecColSum: no vector kernels on this architecture")
}
func vecMulAdd(z, x, y []float32)            { panic("vecMulAdd: no vector kernels on this architecture") }
func vecAddScalar(z, x []float32, c float32) { panic("no vector kernels on this architecture") }
func vecSubScalar(z, x []float32, c float32) { panic("no vector kernels on this architecture") }
func vecMulScalar(z, x []float32, c float32) { panic("no vector kernels on this architecture") }
func vecDivScalar(z, x []float32, c float32) { panic("no vector kernels on this architecture") }
func vecMax(z, x, y []float32)               { panic("no vector kernels on this architecture") }
func vecMin(z, x, y []float32)               { panic("no vector kernels on this architecture") }
func vecMaxBcast(z, x, y []float32)          { panic("no vector kernels on this architecture") }
func vecMinBcast(z, x, y []float32)          { panic("no vector kernels on this architecture") }
func vecAbs(z, x []float32)                  { panic("no vector kernels on this architecture") }
func vecGradMoments8(s, k, x, dy []float32, stride, rows int) {
	panic("no vector kernels on this architecture")
}
func vecGradMoments32(s, k, x, dy []float32, stride, rows int) {
	panic("no vector kernels on this architecture")
}
func vecAffineRows(z, x, a, m, b []float32)         { panic("no vector kernels on this architecture") }
func vecAffineRows2(z, x, y, a, m, e, b []float32)  { panic("no vector kernels on this architecture") }
func vecRangeMul(z, v, x []float32, lo, hi float32) { panic("no vector kernels on this architecture") }
func vecStepMul(z, v, x []float32, lo float32)      { panic("no vector kernels on this architecture") }
func vecAdderDist4(s, p, w []float32, k, o, cols int) {
	panic("no vector kernels on this architecture")
}
func vecAdderGrad4(dp, p, wt, v []float32, k, o, cols int, bounds []float32) {
	panic("no vector kernels on this architecture")
}
func vecColSqDiff(z, x, m []float32, stride, rows int) {
	panic("no vector kernels on this architecture")
}

func vecTapsMulAddRun(z, x, k []float32, xoff, koff []int, cw, n, xstepb, zstepb int) {
	panic("no vector kernels on this architecture")
}

func vecShiftLift(z, a []float32, c0 float32, s, t []float32) {
	panic("no vector kernels on this architecture")
}

func vecFloorScaleDiv(z, x []float32, s, d float32) { panic("no vector kernels on this architecture") }

func vecTapRowGrad3(acc *float32, accStride int, v *float32, vStride int, x *float32, xStride, tapStride, n, blocks int) {
	panic("no vector kernels on this architecture")
}

func vecAdderDist4W(s, p, w []float32, k, o, cols int) {
	panic("no vector kernels on this architecture")
}
func vecAdderGrad4W(dp, p, wt, v []float32, k, o, cols int, bounds []float32) {
	panic("no vector kernels on this architecture")
}
func vecTapsMulAddRunW(z, x, k []float32, xoff, koff []int, cw, n, xstepb, zstepb int) {
	panic("no vector kernels on this architecture")
}
