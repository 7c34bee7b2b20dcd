package engine

import "golang.org/x/sys/cpu"

// hasVec: the AVX elementwise kernels of vec_amd64.s can run (AVX2 implies the AVX they use).
var hasVec = cpu.X86.HasAVX2

// hasVec512: the AVX-512 variants of a few kernels can run (the adder's); they give the AVX2 kernels' bits.
var hasVec512 = hasVec && cpu.X86.HasAVX512F

// z[i] = x[i] op y[i] for i < len(z); x and y must be at least as long, z may alias either.
//
//go:noescape
func vecAdd(z, x, y []float32)

//go:noescape
func vecSub(z, x, y []float32)

//go:noescape
func vecMul(z, x, y []float32)

//go:noescape
func vecDiv(z, x, y []float32)

// vecColSum adds rows of x into z: z[i] += x[j*stride+i] for j < rows, in increasing j.
//
//go:noescape
func vecColSum(z, x []float32, stride, rows int)

// vecMulAdd is z[i] += x[i]*y[i] (product rounded, then the sum: no FMA).
//
//go:noescape
func vecMulAdd(z, x, y []float32)

// z[i] = x[i] op c for i < len(z); x must be at least as long, z may alias it.
//
//go:noescape
func vecAddScalar(z, x []float32, c float32)

//go:noescape
func vecSubScalar(z, x []float32, c float32)

//go:noescape
func vecMulScalar(z, x []float32, c float32)

//go:noescape
func vecDivScalar(z, x []float32, c float32)

// vecMax and vecMin are Go's max(x[i], y[i]) and min(x[i], y[i]) for the first len(z) &^ 7 elements;
// vecMaxBcast and vecMinBcast the same with y[0] for every element.
//
//go:noescape
func vecMax(z, x, y []float32)

//go:noescape
func vecMin(z, x, y []float32)

//go:noescape
func vecMaxBcast(z, x, y []float32)

//go:noescape
func vecMinBcast(z, x, y []float32)

// vecAbs is z[i] = x[i] < 0 ? -x[i] : x[i].
//
//go:noescape
func vecAbs(z, x []float32)

// Batch-norm kernels (bn_amd64.s; the Go loops they match are in bnexec.go).
//
// vecGradMoments8: for r < rows, g = dy[r*stride+j]: s[j] += g, s[8+j] += g·(x[r*stride+j] − k[j]) (j < 8).
//
//go:noescape
func vecGradMoments8(s, k, x, dy []float32, stride, rows int)

// vecGradMoments32: vecGradMoments8 on four strips of 8 channels at once, with the same bits; s holds the four
// strips' 16 sums one after the other (s[16i:16i+16] for channels 8i..8i+7), k the 32 channels' means.
//
//go:noescape
func vecGradMoments32(s, k, x, dy []float32, stride, rows int)

// vecAffineRows: z[i] = a[j]·(x[i]−m[j]) + b[j], j = i mod len(a); len(a) a multiple of 8 dividing len(z).
//
//go:noescape
func vecAffineRows(z, x, a, m, b []float32)

// vecAffineRows2: z[i] = (a[j]·(x[i]−m[j]) + e[j]·y[i]) + b[j], as vecAffineRows; z may alias y.
//
//go:noescape
func vecAffineRows2(z, x, y, a, m, e, b []float32)

// vecRangeMul: z[i] = v[i]·(lo ≤ x[i] < hi ? 1 : +0) for i < len(z), a multiple of 8 (fusedact.go).
//
//go:noescape
func vecRangeMul(z, v, x []float32, lo, hi float32)

// vecStepMul: z[i] = v[i]·(lo ≤ x[i] ? 1 : +0) for i < len(z), a multiple of 8 (fusedact.go).
//
//go:noescape
func vecStepMul(z, v, x []float32, lo float32)

// vecFloorScaleDiv: z[i] = floor(x[i]·s)/d for i < len(z), a multiple of 8 (quantClip, fusedact.go).
//
//go:noescape
func vecFloorScaleDiv(z, x []float32, s, d float32)

// vecShiftLift: the shift-weight lifting of a into z for i < len(z), a multiple of 8: m = c0, then for each step
// k cand = m·s[k] and m = cand where a[i] ≥ cand·t[k] (shiftmag.go).
//
//go:noescape
func vecShiftLift(z, a []float32, c0 float32, s, t []float32)

// vecAdderDist4: for r < 4, c < cols (a multiple of 8): s[r*o+c] = Σ_{j<k} |p[r*k+j] − w[j*o+c]| (adderexec.go).
//
//go:noescape
func vecAdderDist4(s, p, w []float32, k, o, cols int)

// vecAdderGrad4: for r < 4, j < cols (a multiple of 8): dp[r*k+j] = Σ_{c<o} v[r*o+c]·clip(wt[c*k+j] − p[r*k+j])
// with clip = min(max(·, bounds[0]), bounds[1]) (adderexec.go).
//
//go:noescape
func vecAdderGrad4(dp, p, wt, v []float32, k, o, cols int, bounds []float32)

// vecAdderDist4W is vecAdderDist4 on AVX-512, cols a multiple of 32, with its bits.
//
//go:noescape
func vecAdderDist4W(s, p, w []float32, k, o, cols int)

// vecAdderGrad4W is vecAdderGrad4 on AVX-512, cols a multiple of 16, with its bits.
//
//go:noescape
func vecAdderGrad4W(dp, p, wt, v []float32, k, o, cols int, bounds []float32)

// vecColSqDiff: for the first len(z) &^ 7 columns, z[i] += (x[j*stride+i] − m[i])² for j < rows, in increasing j.
//
//go:noescape
func vecColSqDiff(z, x, m []float32, stride, rows int)

// vecTapRowGrad3 is the depthwise filter gradient of one kernel row of three taps over n output pixels, for 8·blocks
// channels (blocks 1 or 2): acc[j·accStride + c] += x[p·xStride + j·tapStride + c]·v[p·vStride + c], p in increasing
// order, each product rounded before the add (vecMulAdd's bits, pixel after pixel), the sums kept in registers
// (vec_amd64.s; strides in bytes). The caller keeps every index within its slice.
//
//go:noescape
func vecTapRowGrad3(acc *float32, accStride int, v *float32, vStride int, x *float32, xStride, tapStride, n, blocks int)

// vecTapsMulAddRun: for n pixels p, z[p·zstep+c] = Σ_t x[p·xstep+xoff[t]+c]·k[koff[t]+c], c < cw (a multiple of
// 8), summed in tap order from +0 with each product rounded first (vecMulAdd's bits, tap after tap), the sums kept
// in registers (vec_amd64.s; the steps are given in bytes). The caller keeps every index within its slice.
//
//go:noescape
func vecTapsMulAddRun(z, x, k []float32, xoff, koff []int, cw, n, xstepb, zstepb int)

// vecTapsMulAddRunW is vecTapsMulAddRun on AVX-512 (64 channels at a time, then 16, then 8), with its bits.
//
//go:noescape
func vecTapsMulAddRunW(z, x, k []float32, xoff, koff []int, cw, n, xstepb, zstepb int)
