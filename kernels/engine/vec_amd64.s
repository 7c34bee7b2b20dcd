#include "textflag.h"

// Elementwise z[i] = x[i] op y[i] for float32 slices of z's length, 8 lanes at a time with AVX, then one at a time.
// Each lane is one IEEE single-precision operation, as in Go's scalar code: the results are the same bits.
#define BINOP(NAME, OPPS, OPSS) \
TEXT NAME(SB), NOSPLIT, $0-72 \
	MOVQ z_base+0(FP), DI \
	MOVQ z_len+8(FP), CX \
	MOVQ x_base+24(FP), SI \
	MOVQ y_base+48(FP), DX \
	XORQ AX, AX \
	MOVQ CX, BX \
	ANDQ $-8, BX \
loop8: \
	CMPQ AX, BX \
	JGE tail \
	VMOVUPS (SI)(AX*4), Y0 \
	OPPS (DX)(AX*4), Y0, Y0 \
	VMOVUPS Y0, (DI)(AX*4) \
	ADDQ $8, AX \
	JMP loop8 \
tail: \
	CMPQ AX, CX \
	JGE done \
	VMOVSS (SI)(AX*4), X0 \
	OPSS (DX)(AX*4), X0, X0 \
	VMOVSS X0, (DI)(AX*4) \
	INCQ AX \
	JMP tail \
done: \
	VZEROUPPER \
	RET

// func vecAdd(z, x, y []float32)
BINOP(·vecAdd, VADDPS, VADDSS)

// func vecSub(z, x, y []float32)
BINOP(·vecSub, VSUBPS, VSUBSS)

// func vecMul(z, x, y []float32)
BINOP(·vecMul, VMULPS, VMULSS)

// func vecDiv(z, x, y []float32)
BINOP(·vecDiv, VDIVPS, VDIVSS)

// func vecColSum(z, x []float32, stride, rows int)
// For j < rows: z[i] = z[i] + x[j*stride+i], i < len(z): each column adds the rows in increasing j, as Go's loop
// does. Columns go 32 at a time with their sums in Y0-Y3 over all rows, then 8 at a time in Y0, then one at a time.
TEXT ·vecColSum(SB), NOSPLIT, $0-64
	MOVQ z_base+0(FP), DI
	MOVQ z_len+8(FP), CX
	MOVQ x_base+24(FP), SI
	MOVQ stride+48(FP), R8
	SHLQ $2, R8
	MOVQ rows+56(FP), R9
	XORQ AX, AX // first column of the block

cs32:
	MOVQ CX, BX
	SUBQ AX, BX
	CMPQ BX, $32
	JLT cs8
	VMOVUPS (DI)(AX*4), Y0
	VMOVUPS 32(DI)(AX*4), Y1
	VMOVUPS 64(DI)(AX*4), Y2
	VMOVUPS 96(DI)(AX*4), Y3
	LEAQ (SI)(AX*4), R10
	MOVQ R9, R11

cs32row:
	TESTQ R11, R11
	JEQ cs32store
	VADDPS (R10), Y0, Y0
	VADDPS 32(R10), Y1, Y1
	VADDPS 64(R10), Y2, Y2
	VADDPS 96(R10), Y3, Y3
	ADDQ R8, R10
	DECQ R11
	JMP cs32row

cs32store:
	VMOVUPS Y0, (DI)(AX*4)
	VMOVUPS Y1, 32(DI)(AX*4)
	VMOVUPS Y2, 64(DI)(AX*4)
	VMOVUPS Y3, 96(DI)(AX*4)
	ADDQ $32, AX
	JMP cs32

cs8:
	MOVQ CX, BX
	SUBQ AX, BX
	CMPQ BX, $8
	JLT cs1
	VMOVUPS (DI)(AX*4), Y0
	LEAQ (SI)(AX*4), R10
	MOVQ R9, R11

cs8row:
	TESTQ R11, R11
	JEQ cs8store
	VADDPS (R10), Y0, Y0
	ADDQ R8, R10
	DECQ R11
	JMP cs8row

cs8store:
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	JMP cs8

cs1:
	CMPQ AX, CX
	JGE csdone
	VMOVSS (DI)(AX*4), X0
	LEAQ (SI)(AX*4), R10
	MOVQ R9, R11

cs1row:
	TESTQ R11, R11
	JEQ cs1store
	VADDSS (R10), X0, X0
	ADDQ R8, R10
	DECQ R11
	JMP cs1row

cs1store:
	VMOVSS X0, (DI)(AX*4)
	INCQ AX
	JMP cs1

csdone:
	VZEROUPPER
	RET

// func vecMulAdd(z, x, y []float32)
// z[i] = z[i] + x[i]*y[i] for i < len(z), the product rounded before the sum (no FMA), as Go's scalar code does.
TEXT ·vecMulAdd(SB), NOSPLIT, $0-72
	MOVQ z_base+0(FP), DI
	MOVQ z_len+8(FP), CX
	MOVQ x_base+24(FP), SI
	MOVQ y_base+48(FP), DX
	XORQ AX, AX
	MOVQ CX, BX
	ANDQ $-8, BX

ma8:
	CMPQ AX, BX
	JGE matail
	VMOVUPS (SI)(AX*4), Y0
	VMULPS (DX)(AX*4), Y0, Y0
	VADDPS (DI)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	JMP ma8

matail:
	CMPQ AX, CX
	JGE madone
	VMOVSS (SI)(AX*4), X0
	VMULSS (DX)(AX*4), X0, X0
	VADDSS (DI)(AX*4), X0, X0
	VMOVSS X0, (DI)(AX*4)
	INCQ AX
	JMP matail

madone:
	VZEROUPPER
	RET

// Elementwise z[i] = x[i] op c for a float32 scalar c, 8 lanes at a time, then one at a time.
#define SCALAROP(NAME, OPPS, OPSS) \
TEXT NAME(SB), NOSPLIT, $0-52 \
	MOVQ z_base+0(FP), DI \
	MOVQ z_len+8(FP), CX \
	MOVQ x_base+24(FP), SI \
	VBROADCASTSS c+48(FP), Y1 \
	XORQ AX, AX \
	MOVQ CX, BX \
	ANDQ $-8, BX \
sloop8: \
	CMPQ AX, BX \
	JGE stail \
	VMOVUPS (SI)(AX*4), Y0 \
	OPPS Y1, Y0, Y0 \
	VMOVUPS Y0, (DI)(AX*4) \
	ADDQ $8, AX \
	JMP sloop8 \
stail: \
	CMPQ AX, CX \
	JGE sdone \
	VMOVSS (SI)(AX*4), X0 \
	OPSS X1, X0, X0 \
	VMOVSS X0, (DI)(AX*4) \
	INCQ AX \
	JMP stail \
sdone: \
	VZEROUPPER \
	RET

// func vecAddScalar(z, x []float32, c float32)
SCALAROP(·vecAddScalar, VADDPS, VADDSS)

// func vecSubScalar(z, x []float32, c float32)
SCALAROP(·vecSubScalar, VSUBPS, VSUBSS)

// func vecMulScalar(z, x []float32, c float32)
SCALAROP(·vecMulScalar, VMULPS, VMULSS)

// func vecDivScalar(z, x []float32, c float32)
SCALAROP(·vecDivScalar, VDIVPS, VDIVSS)

DATA signbit<>+0(SB)/4, $0x80000000
GLOBL signbit<>(SB), RODATA|NOPTR, $4

// func vecAbs(z, x []float32): z[i] = x[i] < 0 ? -x[i] : x[i], as the engine's Go loop (and SimpleGo): -0 and NaN
// keep their sign. The sign bit is flipped only where x < 0 (an ordered compare: false for NaN and -0).
TEXT ·vecAbs(SB), NOSPLIT, $0-48
	MOVQ z_base+0(FP), DI
	MOVQ z_len+8(FP), CX
	MOVQ x_base+24(FP), SI
	VBROADCASTSS signbit<>(SB), Y2
	VXORPS Y3, Y3, Y3
	XORQ AX, AX
	MOVQ CX, BX
	ANDQ $-8, BX

abs8:
	CMPQ AX, BX
	JGE abstail
	VMOVUPS (SI)(AX*4), Y0
	VCMPPS $1, Y3, Y0, Y1
	VANDPS Y2, Y1, Y1
	VXORPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	JMP abs8

abstail:
	CMPQ AX, CX
	JGE absdone
	VMOVSS (SI)(AX*4), X0
	VCMPSS $1, X3, X0, X1
	VANDPS X2, X1, X1
	VXORPS X1, X0, X0
	VMOVSS X0, (DI)(AX*4)
	INCQ AX
	JMP abstail

absdone:
	VZEROUPPER
	RET

// Go's max and min, 8 lanes at a time, for the first len(z) &^ 7 elements (the caller finishes the rest):
// MAXPS/MINPS give a > b ? a : b (a < b ? a : b), then equal lanes take x AND y for max (+0 if either is +0) or
// x OR y for min (-0 if either is -0), and unordered lanes take x + y (a NaN), as Go's max/min specify.
#define MAXMIN(NAME, OPPS, MERGEPS, LOADY) \
TEXT NAME(SB), NOSPLIT, $0-72 \
	MOVQ z_base+0(FP), DI \
	MOVQ z_len+8(FP), CX \
	MOVQ x_base+24(FP), SI \
	MOVQ y_base+48(FP), DX \
	ANDQ $-8, CX \
	XORQ AX, AX \
mmloop: \
	CMPQ AX, CX \
	JGE mmdone \
	VMOVUPS (SI)(AX*4), Y0 \
	LOADY \
	OPPS Y1, Y0, Y4 \
	VCMPPS $0, Y1, Y0, Y2 \
	MERGEPS Y1, Y0, Y3 \
	VBLENDVPS Y2, Y3, Y4, Y4 \
	VCMPPS $3, Y1, Y0, Y2 \
	VADDPS Y1, Y0, Y3 \
	VBLENDVPS Y2, Y3, Y4, Y4 \
	VMOVUPS Y4, (DI)(AX*4) \
	ADDQ $8, AX \
	JMP mmloop \
mmdone: \
	VZEROUPPER \
	RET

#define LOADVEC VMOVUPS (DX)(AX*4), Y1
#define LOADSCALAR VBROADCASTSS (DX), Y1

// func vecMax(z, x, y []float32)
MAXMIN(·vecMax, VMAXPS, VANDPS, LOADVEC)

// func vecMin(z, x, y []float32)
MAXMIN(·vecMin, VMINPS, VORPS, LOADVEC)

// func vecMaxBcast(z, x, y []float32): y[0] for every lane.
MAXMIN(·vecMaxBcast, VMAXPS, VANDPS, LOADSCALAR)

// func vecMinBcast(z, x, y []float32)
MAXMIN(·vecMinBcast, VMINPS, VORPS, LOADSCALAR)

// func vecTapsMulAddRun(z, x, k []float32, xoff, koff []int, cw, n, xstepb, zstepb int)
// For n pixels p (x advanced by xstepb bytes and z by zstepb bytes per pixel): z[c] = Σ_t x[xoff[t]+c]·k[koff[t]+c]
// for c < cw (a multiple of 8), summed in tap order from +0, each product rounded before its addition:
// vecMulAdd's bits for the taps one after the other, but with the sums in registers (32 channels at a time,
// then 8) instead of a load and store of z per tap.
TEXT ·vecTapsMulAddRun(SB), NOSPLIT, $0-152
	MOVQ z_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ k_base+48(FP), DX
	MOVQ xoff_base+72(FP), R8
	MOVQ xoff_len+80(FP), R9
	MOVQ koff_base+96(FP), R10
	MOVQ cw+120(FP), CX
	MOVQ n+128(FP), BX

tpix:
	TESTQ BX, BX
	JEQ tdone
	XORQ AX, AX

tc32:
	LEAQ 32(AX), R12
	CMPQ R12, CX
	JGT tc8
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ R11, R11

tt32:
	CMPQ R11, R9
	JGE ts32
	MOVQ (R8)(R11*8), R12
	ADDQ AX, R12
	MOVQ (R10)(R11*8), R13
	ADDQ AX, R13
	VMOVUPS (SI)(R12*4), Y4
	VMULPS (DX)(R13*4), Y4, Y4
	VADDPS Y4, Y0, Y0
	VMOVUPS 32(SI)(R12*4), Y5
	VMULPS 32(DX)(R13*4), Y5, Y5
	VADDPS Y5, Y1, Y1
	VMOVUPS 64(SI)(R12*4), Y6
	VMULPS 64(DX)(R13*4), Y6, Y6
	VADDPS Y6, Y2, Y2
	VMOVUPS 96(SI)(R12*4), Y7
	VMULPS 96(DX)(R13*4), Y7, Y7
	VADDPS Y7, Y3, Y3
	INCQ R11
	JMP tt32

ts32:
	VMOVUPS Y0, (DI)(AX*4)
	VMOVUPS Y1, 32(DI)(AX*4)
	VMOVUPS Y2, 64(DI)(AX*4)
	VMOVUPS Y3, 96(DI)(AX*4)
	ADDQ $32, AX
	JMP tc32

tc8:
	LEAQ 8(AX), R12
	CMPQ R12, CX
	JGT tnext
	VXORPS Y0, Y0, Y0
	XORQ R11, R11

tt8:
	CMPQ R11, R9
	JGE ts8
	MOVQ (R8)(R11*8), R12
	ADDQ AX, R12
	MOVQ (R10)(R11*8), R13
	ADDQ AX, R13
	VMOVUPS (SI)(R12*4), Y4
	VMULPS (DX)(R13*4), Y4, Y4
	VADDPS Y4, Y0, Y0
	INCQ R11
	JMP tt8

ts8:
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	JMP tc8

tnext:
	ADDQ xstepb+136(FP), SI
	ADDQ zstepb+144(FP), DI
	DECQ BX
	JMP tpix

tdone:
	VZEROUPPER
	RET

// func vecTapsMulAddRunW(z, x, k []float32, xoff, koff []int, cw, n, xstepb, zstepb int)
// vecTapsMulAddRun on AVX-512: 64 channels at a time, then 16, then 8 (ymm); the same operations on each element in
// the same order, so the same bits.
TEXT ·vecTapsMulAddRunW(SB), NOSPLIT, $0-152
	MOVQ z_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ k_base+48(FP), DX
	MOVQ xoff_base+72(FP), R8
	MOVQ xoff_len+80(FP), R9
	MOVQ koff_base+96(FP), R10
	MOVQ cw+120(FP), CX
	MOVQ n+128(FP), BX

wtpix:
	TESTQ BX, BX
	JEQ wtdone
	XORQ AX, AX

wtc64:
	LEAQ 64(AX), R12
	CMPQ R12, CX
	JGT wtc16
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	XORQ R11, R11

wtt64:
	CMPQ R11, R9
	JGE wts64
	MOVQ (R8)(R11*8), R12
	ADDQ AX, R12
	MOVQ (R10)(R11*8), R13
	ADDQ AX, R13
	VMOVUPS (SI)(R12*4), Z4
	VMULPS (DX)(R13*4), Z4, Z4
	VADDPS Z4, Z0, Z0
	VMOVUPS 64(SI)(R12*4), Z5
	VMULPS 64(DX)(R13*4), Z5, Z5
	VADDPS Z5, Z1, Z1
	VMOVUPS 128(SI)(R12*4), Z6
	VMULPS 128(DX)(R13*4), Z6, Z6
	VADDPS Z6, Z2, Z2
	VMOVUPS 192(SI)(R12*4), Z7
	VMULPS 192(DX)(R13*4), Z7, Z7
	VADDPS Z7, Z3, Z3
	INCQ R11
	JMP wtt64

wts64:
	VMOVUPS Z0, (DI)(AX*4)
	VMOVUPS Z1, 64(DI)(AX*4)
	VMOVUPS Z2, 128(DI)(AX*4)
	VMOVUPS Z3, 192(DI)(AX*4)
	ADDQ $64, AX
	JMP wtc64

wtc16:
	LEAQ 16(AX), R12
	CMPQ R12, CX
	JGT wtc8
	VPXORD Z0, Z0, Z0
	XORQ R11, R11

wtt16:
	CMPQ R11, R9
	JGE wts16
	MOVQ (R8)(R11*8), R12
	ADDQ AX, R12
	MOVQ (R10)(R11*8), R13
	ADDQ AX, R13
	VMOVUPS (SI)(R12*4), Z4
	VMULPS (DX)(R13*4), Z4, Z4
	VADDPS Z4, Z0, Z0
	INCQ R11
	JMP wtt16

wts16:
	VMOVUPS Z0, (DI)(AX*4)
	ADDQ $16, AX
	JMP wtc16

wtc8:
	LEAQ 8(AX), R12
	CMPQ R12, CX
	JGT wtnext
	VXORPS Y0, Y0, Y0
	XORQ R11, R11

wtt8:
	CMPQ R11, R9
	JGE wts8
	MOVQ (R8)(R11*8), R12
	ADDQ AX, R12
	MOVQ (R10)(R11*8), R13
	ADDQ AX, R13
	VMOVUPS (SI)(R12*4), Y4
	VMULPS (DX)(R13*4), Y4, Y4
	VADDPS Y4, Y0, Y0
	INCQ R11
	JMP wtt8

wts8:
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	JMP wtc8

wtnext:
	ADDQ xstepb+136(FP), SI
	ADDQ zstepb+144(FP), DI
	DECQ BX
	JMP wtpix

wtdone:
	VZEROUPPER
	RET

// func vecShiftLift(z, a []float32, c0 float32, s, t []float32)
// For i < len(z) (a multiple of 8): m = c0; for each k < len(s): cand = m·s[k]; m = cand where a[i] ≥ cand·t[k]
// (ordered: false for a NaN a); z[i] = m (shiftmag.go).
TEXT ·vecShiftLift(SB), NOSPLIT, $0-104
	MOVQ z_base+0(FP), DI
	MOVQ z_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	VBROADCASTSS c0+48(FP), Y5
	MOVQ s_base+56(FP), R8
	MOVQ s_len+64(FP), R9
	MOVQ t_base+80(FP), R10
	XORQ AX, AX

lelem:
	CMPQ AX, CX
	JGE ldone
	VMOVUPS (SI)(AX*4), Y0
	VMOVAPS Y5, Y1
	XORQ BX, BX

lstep:
	CMPQ BX, R9
	JGE lstore
	VBROADCASTSS (R8)(BX*4), Y2
	VBROADCASTSS (R10)(BX*4), Y3
	VMULPS Y2, Y1, Y2
	VMULPS Y3, Y2, Y4
	VCMPPS $0x1d, Y4, Y0, Y4
	VBLENDVPS Y4, Y2, Y1, Y1
	INCQ BX
	JMP lstep

lstore:
	VMOVUPS Y1, (DI)(AX*4)
	ADDQ $8, AX
	JMP lelem

ldone:
	VZEROUPPER
	RET

// func vecFloorScaleDiv(z, x []float32, s, d float32)
// z[i] = floor(x[i]·s)/d for i < len(z) (a multiple of 8): float32 product, floor, float32 quotient (the
// quantised clip's first part, fusedact.go).
TEXT ·vecFloorScaleDiv(SB), NOSPLIT, $0-56
	MOVQ z_base+0(FP), DI
	MOVQ z_len+8(FP), CX
	MOVQ x_base+24(FP), SI
	VBROADCASTSS s+48(FP), Y6
	VBROADCASTSS d+52(FP), Y7
	XORQ AX, AX

floop:
	CMPQ AX, CX
	JGE fdone
	VMOVUPS (SI)(AX*4), Y0
	VMULPS Y6, Y0, Y0
	VROUNDPS $9, Y0, Y0
	VDIVPS Y7, Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	JMP floop

fdone:
	VZEROUPPER
	RET

// func vecTapRowGrad3(acc *float32, accStride int, v *float32, vStride int, x *float32, xStride, tapStride, n, blocks int)
// The depthwise filter gradient of one kernel row of three taps, over n output pixels and 8 or 16 channels (blocks
// 1 or 2 of 8): acc[j·accStride + c] += x[p·xStride + j·tapStride + c]·v[p·vStride + c] for p < n in increasing p,
// each product rounded before the add (vecMulAdd's bits), the sums kept in registers. Strides are in bytes.
TEXT ·vecTapRowGrad3(SB), NOSPLIT, $0-72
	MOVQ acc+0(FP), DI
	MOVQ accStride+8(FP), R8
	MOVQ v+16(FP), SI
	MOVQ vStride+24(FP), R9
	MOVQ x+32(FP), DX
	MOVQ xStride+40(FP), R10
	MOVQ tapStride+48(FP), R11
	MOVQ n+56(FP), CX
	MOVQ blocks+64(FP), AX
	LEAQ (DI)(R8*1), R12
	LEAQ (R12)(R8*1), R13
	LEAQ (R11)(R11*1), R14
	CMPQ AX, $2
	JEQ two

	VMOVUPS (DI), Y0
	VMOVUPS (R12), Y1
	VMOVUPS (R13), Y2
	TESTQ CX, CX
	JEQ onedone

oneloop:
	VMOVUPS (SI), Y8
	VMULPS (DX), Y8, Y9
	VADDPS Y9, Y0, Y0
	VMULPS (DX)(R11*1), Y8, Y10
	VADDPS Y10, Y1, Y1
	VMULPS (DX)(R14*1), Y8, Y11
	VADDPS Y11, Y2, Y2
	ADDQ R9, SI
	ADDQ R10, DX
	DECQ CX
	JNE oneloop

onedone:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, (R12)
	VMOVUPS Y2, (R13)
	VZEROUPPER
	RET

two:
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y3
	VMOVUPS (R12), Y1
	VMOVUPS 32(R12), Y4
	VMOVUPS (R13), Y2
	VMOVUPS 32(R13), Y5
	TESTQ CX, CX
	JEQ twodone

twoloop:
	VMOVUPS (SI), Y8
	VMOVUPS 32(SI), Y12
	VMULPS (DX), Y8, Y9
	VADDPS Y9, Y0, Y0
	VMULPS 32(DX), Y12, Y13
	VADDPS Y13, Y3, Y3
	VMULPS (DX)(R11*1), Y8, Y10
	VADDPS Y10, Y1, Y1
	VMULPS 32(DX)(R11*1), Y12, Y14
	VADDPS Y14, Y4, Y4
	VMULPS (DX)(R14*1), Y8, Y11
	VADDPS Y11, Y2, Y2
	VMULPS 32(DX)(R14*1), Y12, Y15
	VADDPS Y15, Y5, Y5
	ADDQ R9, SI
	ADDQ R10, DX
	DECQ CX
	JNE twoloop

twodone:
	VMOVUPS Y0, (DI)
	VMOVUPS Y3, 32(DI)
	VMOVUPS Y1, (R12)
	VMOVUPS Y4, 32(R12)
	VMOVUPS Y2, (R13)
	VMOVUPS Y5, 32(R13)
	VZEROUPPER
	RET
