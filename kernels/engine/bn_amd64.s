#include "textflag.h"

// Batch-norm kernels (bnexec.go), float32, 8 channels per ymm register. Each lane does the IEEE single-precision
// operations of the Go loops in bnexec.go in the same order (no FMA), so both give the same bits.

// func vecGradMoments8(s, k, x, dy []float32, stride, rows int)
// For r < rows, with g = dy[r*stride+j]: s[j] += g, s[8+j] += g*(x[r*stride+j] - k[j]) (j < 8).
TEXT ·vecGradMoments8(SB), NOSPLIT, $0-112
	MOVQ s_base+0(FP), DI
	MOVQ k_base+24(FP), DX
	MOVQ x_base+48(FP), SI
	MOVQ dy_base+72(FP), R10
	MOVQ stride+96(FP), R8
	SHLQ $2, R8
	MOVQ rows+104(FP), R9
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS (DX), Y2

grow:
	TESTQ R9, R9
	JEQ gdone
	VMOVUPS (R10), Y5
	VADDPS Y5, Y0, Y0
	VMOVUPS (SI), Y3
	VSUBPS Y2, Y3, Y3
	VMULPS Y3, Y5, Y4
	VADDPS Y4, Y1, Y1
	ADDQ R8, SI
	ADDQ R8, R10
	DECQ R9
	JMP grow

gdone:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VZEROUPPER
	RET

// func vecAffineRows(z, x, a, m, b []float32)
// Rows of len(a) channels (a multiple of 8): z[i] = a[j]*(x[i]-m[j]) + b[j], j = i mod len(a), i < len(z).
TEXT ·vecAffineRows(SB), NOSPLIT, $0-120
	MOVQ z_base+0(FP), DI
	MOVQ z_len+8(FP), CX
	MOVQ x_base+24(FP), SI
	MOVQ a_base+48(FP), R8
	MOVQ a_len+56(FP), R9
	MOVQ m_base+72(FP), R10
	MOVQ b_base+96(FP), R11
	XORQ AX, AX

arow:
	CMPQ AX, CX
	JGE adone
	XORQ BX, BX

acol:
	CMPQ BX, R9
	JGE arow
	VMOVUPS (SI)(AX*4), Y0
	VSUBPS (R10)(BX*4), Y0, Y0
	VMULPS (R8)(BX*4), Y0, Y0
	VADDPS (R11)(BX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	ADDQ $8, BX
	JMP acol

adone:
	VZEROUPPER
	RET

// func vecAffineRows2(z, x, y, a, m, e, b []float32)
// As vecAffineRows with a second operand: z[i] = (a[j]*(x[i]-m[j]) + e[j]*y[i]) + b[j]. z may alias y.
TEXT ·vecAffineRows2(SB), NOSPLIT, $0-168
	MOVQ z_base+0(FP), DI
	MOVQ z_len+8(FP), CX
	MOVQ x_base+24(FP), SI
	MOVQ y_base+48(FP), DX
	MOVQ a_base+72(FP), R8
	MOVQ a_len+80(FP), R9
	MOVQ m_base+96(FP), R10
	MOVQ e_base+120(FP), R12
	MOVQ b_base+144(FP), R11
	XORQ AX, AX

brow:
	CMPQ AX, CX
	JGE bdone
	XORQ BX, BX

bcol:
	CMPQ BX, R9
	JGE brow
	VMOVUPS (SI)(AX*4), Y0
	VSUBPS (R10)(BX*4), Y0, Y0
	VMULPS (R8)(BX*4), Y0, Y0
	VMOVUPS (DX)(AX*4), Y1
	VMULPS (R12)(BX*4), Y1, Y1
	VADDPS Y1, Y0, Y0
	VADDPS (R11)(BX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	ADDQ $8, BX
	JMP bcol

bdone:
	VZEROUPPER
	RET

// Fused activation gradients (fusedact.go): z[i] = v[i]*m with m = 1.0 where the condition on x[i] holds, else +0.0,
// for i < len(z) (a multiple of 8). Ordered comparisons: false for a NaN x.

// func vecRangeMul(z, v, x []float32, lo, hi float32)
// Condition: lo <= x < hi.
TEXT ·vecRangeMul(SB), NOSPLIT, $0-80
	MOVQ z_base+0(FP), DI
	MOVQ z_len+8(FP), CX
	MOVQ v_base+24(FP), SI
	MOVQ x_base+48(FP), DX
	VBROADCASTSS lo+72(FP), Y6
	VBROADCASTSS hi+76(FP), Y7
	VBROADCASTSS one<>(SB), Y5
	XORQ AX, AX

rloop:
	CMPQ AX, CX
	JGE rdone
	VMOVUPS (DX)(AX*4), Y0
	VCMPPS $0x1d, Y6, Y0, Y1
	VCMPPS $0x11, Y7, Y0, Y2
	VANDPS Y2, Y1, Y1
	VANDPS Y5, Y1, Y1
	VMOVUPS (SI)(AX*4), Y3
	VMULPS Y1, Y3, Y3
	VMOVUPS Y3, (DI)(AX*4)
	ADDQ $8, AX
	JMP rloop

rdone:
	VZEROUPPER
	RET

// func vecStepMul(z, v, x []float32, lo float32)
// Condition: lo <= x.
TEXT ·vecStepMul(SB), NOSPLIT, $0-76
	MOVQ z_base+0(FP), DI
	MOVQ z_len+8(FP), CX
	MOVQ v_base+24(FP), SI
	MOVQ x_base+48(FP), DX
	VBROADCASTSS lo+72(FP), Y6
	VBROADCASTSS one<>(SB), Y5
	XORQ AX, AX

sloop:
	CMPQ AX, CX
	JGE sdone
	VMOVUPS (DX)(AX*4), Y0
	VCMPPS $0x1d, Y6, Y0, Y1
	VANDPS Y5, Y1, Y1
	VMOVUPS (SI)(AX*4), Y3
	VMULPS Y1, Y3, Y3
	VMOVUPS Y3, (DI)(AX*4)
	ADDQ $8, AX
	JMP sloop

sdone:
	VZEROUPPER
	RET

DATA one<>+0(SB)/4, $0x3f800000
GLOBL one<>(SB), RODATA|NOPTR, $4

// func vecColSqDiff(z, x, m []float32, stride, rows int)
// For the first len(z) &^ 7 columns i: z[i] += (x[j*stride+i] − m[i])² for j < rows in increasing j, the difference
// and the square each rounded (no FMA), as Go's loop. Columns go 32 at a time, then 8.
TEXT ·vecColSqDiff(SB), NOSPLIT, $0-88
	MOVQ z_base+0(FP), DI
	MOVQ z_len+8(FP), CX
	MOVQ x_base+24(FP), SI
	MOVQ m_base+48(FP), DX
	MOVQ stride+72(FP), R8
	SHLQ $2, R8
	MOVQ rows+80(FP), R9
	ANDQ $-8, CX
	XORQ AX, AX

q32:
	MOVQ CX, BX
	SUBQ AX, BX
	CMPQ BX, $32
	JLT q8
	VMOVUPS (DI)(AX*4), Y0
	VMOVUPS 32(DI)(AX*4), Y1
	VMOVUPS 64(DI)(AX*4), Y2
	VMOVUPS 96(DI)(AX*4), Y3
	VMOVUPS (DX)(AX*4), Y4
	VMOVUPS 32(DX)(AX*4), Y5
	VMOVUPS 64(DX)(AX*4), Y6
	VMOVUPS 96(DX)(AX*4), Y7
	LEAQ (SI)(AX*4), R10
	MOVQ R9, R11

q32row:
	TESTQ R11, R11
	JEQ q32store
	VMOVUPS (R10), Y8
	VSUBPS Y4, Y8, Y8
	VMULPS Y8, Y8, Y8
	VADDPS Y8, Y0, Y0
	VMOVUPS 32(R10), Y9
	VSUBPS Y5, Y9, Y9
	VMULPS Y9, Y9, Y9
	VADDPS Y9, Y1, Y1
	VMOVUPS 64(R10), Y10
	VSUBPS Y6, Y10, Y10
	VMULPS Y10, Y10, Y10
	VADDPS Y10, Y2, Y2
	VMOVUPS 96(R10), Y11
	VSUBPS Y7, Y11, Y11
	VMULPS Y11, Y11, Y11
	VADDPS Y11, Y3, Y3
	ADDQ R8, R10
	DECQ R11
	JMP q32row

q32store:
	VMOVUPS Y0, (DI)(AX*4)
	VMOVUPS Y1, 32(DI)(AX*4)
	VMOVUPS Y2, 64(DI)(AX*4)
	VMOVUPS Y3, 96(DI)(AX*4)
	ADDQ $32, AX
	JMP q32

q8:
	CMPQ AX, CX
	JGE qdone
	VMOVUPS (DI)(AX*4), Y0
	VMOVUPS (DX)(AX*4), Y4
	LEAQ (SI)(AX*4), R10
	MOVQ R9, R11

q8row:
	TESTQ R11, R11
	JEQ q8store
	VMOVUPS (R10), Y8
	VSUBPS Y4, Y8, Y8
	VMULPS Y8, Y8, Y8
	VADDPS Y8, Y0, Y0
	ADDQ R8, R10
	DECQ R11
	JMP q8row

q8store:
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	JMP q8

qdone:
	VZEROUPPER
	RET

// func vecGradMoments32(s, k, x, dy []float32, stride, rows int)
// vecGradMoments8 on four strips of 8 channels at once (s: four 16-float blocks, one per strip, as gradientSums lays
// them out; k: 32 means): each lane does the same operations in the same order, so the bits are the same, but eight
// independent accumulators hide the additions' latency that a single strip's two chains wait on.
TEXT ·vecGradMoments32(SB), NOSPLIT, $0-112
	MOVQ s_base+0(FP), DI
	MOVQ k_base+24(FP), DX
	MOVQ x_base+48(FP), SI
	MOVQ dy_base+72(FP), R10
	MOVQ stride+96(FP), R8
	SHLQ $2, R8
	MOVQ rows+104(FP), R9
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMOVUPS 128(DI), Y4
	VMOVUPS 160(DI), Y5
	VMOVUPS 192(DI), Y6
	VMOVUPS 224(DI), Y7
	VMOVUPS (DX), Y8
	VMOVUPS 32(DX), Y9
	VMOVUPS 64(DX), Y10
	VMOVUPS 96(DX), Y11

g32row:
	TESTQ R9, R9
	JEQ g32done
	VMOVUPS (R10), Y12
	VADDPS Y12, Y0, Y0
	VMOVUPS (SI), Y13
	VSUBPS Y8, Y13, Y13
	VMULPS Y13, Y12, Y13
	VADDPS Y13, Y1, Y1
	VMOVUPS 32(R10), Y14
	VADDPS Y14, Y2, Y2
	VMOVUPS 32(SI), Y15
	VSUBPS Y9, Y15, Y15
	VMULPS Y15, Y14, Y15
	VADDPS Y15, Y3, Y3
	VMOVUPS 64(R10), Y12
	VADDPS Y12, Y4, Y4
	VMOVUPS 64(SI), Y13
	VSUBPS Y10, Y13, Y13
	VMULPS Y13, Y12, Y13
	VADDPS Y13, Y5, Y5
	VMOVUPS 96(R10), Y14
	VADDPS Y14, Y6, Y6
	VMOVUPS 96(SI), Y15
	VSUBPS Y11, Y15, Y15
	VMULPS Y15, Y14, Y15
	VADDPS Y15, Y7, Y7
	ADDQ R8, SI
	ADDQ R8, R10
	DECQ R9
	JMP g32row

g32done:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VMOVUPS Y4, 128(DI)
	VMOVUPS Y5, 160(DI)
	VMOVUPS Y6, 192(DI)
	VMOVUPS Y7, 224(DI)
	VZEROUPPER
	RET
