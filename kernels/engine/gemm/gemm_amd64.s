#include "textflag.h"

// func kernel4x16(kb int, a, b, c *float32, ldc int, accumulate bool)
// Y0..Y7 accumulate the 4 × 16 tile (row r: Y(2r), Y(2r+1)); per depth index: two loads of b, four broadcasts of a.
TEXT ·kernel4x16(SB), NOSPLIT, $0-41
	MOVQ kb+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	TESTQ CX, CX
	JEQ done

loop:
	VMOVUPS (DI), Y8
	VMOVUPS 32(DI), Y9
	VBROADCASTSS (SI), Y10
	VFMADD231PS Y8, Y10, Y0
	VFMADD231PS Y9, Y10, Y1
	VBROADCASTSS 4(SI), Y11
	VFMADD231PS Y8, Y11, Y2
	VFMADD231PS Y9, Y11, Y3
	VBROADCASTSS 8(SI), Y12
	VFMADD231PS Y8, Y12, Y4
	VFMADD231PS Y9, Y12, Y5
	VBROADCASTSS 12(SI), Y13
	VFMADD231PS Y8, Y13, Y6
	VFMADD231PS Y9, Y13, Y7
	ADDQ $16, SI
	ADDQ $64, DI
	DECQ CX
	JNE loop

done:
	MOVBLZX accumulate+40(FP), R9
	TESTQ R9, R9
	JEQ store
	MOVQ DX, R10
	VADDPS (R10), Y0, Y0
	VADDPS 32(R10), Y1, Y1
	ADDQ R8, R10
	VADDPS (R10), Y2, Y2
	VADDPS 32(R10), Y3, Y3
	ADDQ R8, R10
	VADDPS (R10), Y4, Y4
	VADDPS 32(R10), Y5, Y5
	ADDQ R8, R10
	VADDPS (R10), Y6, Y6
	VADDPS 32(R10), Y7, Y7

store:
	VMOVUPS Y0, (DX)
	VMOVUPS Y1, 32(DX)
	ADDQ R8, DX
	VMOVUPS Y2, (DX)
	VMOVUPS Y3, 32(DX)
	ADDQ R8, DX
	VMOVUPS Y4, (DX)
	VMOVUPS Y5, 32(DX)
	ADDQ R8, DX
	VMOVUPS Y6, (DX)
	VMOVUPS Y7, 32(DX)
	VZEROUPPER
	RET

// func kernel4x16Strided(kb int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, accumulate bool)
// kernel4x16 reading its operands where they are stored instead of from packed panels: depth index p's four a values
// at a + p·lda, its sixteen b values at b + p·ldb. The same instructions in the same order, so the same bits.
TEXT ·kernel4x16Strided(SB), NOSPLIT, $0-57
	MOVQ kb+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R11
	SHLQ $2, R11
	MOVQ b+24(FP), DI
	MOVQ ldb+32(FP), R12
	SHLQ $2, R12
	MOVQ c+40(FP), DX
	MOVQ ldc+48(FP), R8
	SHLQ $2, R8
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	TESTQ CX, CX
	JEQ sdone

sloop:
	VMOVUPS (DI), Y8
	VMOVUPS 32(DI), Y9
	VBROADCASTSS (SI), Y10
	VFMADD231PS Y8, Y10, Y0
	VFMADD231PS Y9, Y10, Y1
	VBROADCASTSS 4(SI), Y11
	VFMADD231PS Y8, Y11, Y2
	VFMADD231PS Y9, Y11, Y3
	VBROADCASTSS 8(SI), Y12
	VFMADD231PS Y8, Y12, Y4
	VFMADD231PS Y9, Y12, Y5
	VBROADCASTSS 12(SI), Y13
	VFMADD231PS Y8, Y13, Y6
	VFMADD231PS Y9, Y13, Y7
	ADDQ R11, SI
	ADDQ R12, DI
	DECQ CX
	JNE sloop

sdone:
	MOVBLZX accumulate+56(FP), R9
	TESTQ R9, R9
	JEQ sstore
	MOVQ DX, R10
	VADDPS (R10), Y0, Y0
	VADDPS 32(R10), Y1, Y1
	ADDQ R8, R10
	VADDPS (R10), Y2, Y2
	VADDPS 32(R10), Y3, Y3
	ADDQ R8, R10
	VADDPS (R10), Y4, Y4
	VADDPS 32(R10), Y5, Y5
	ADDQ R8, R10
	VADDPS (R10), Y6, Y6
	VADDPS 32(R10), Y7, Y7

sstore:
	VMOVUPS Y0, (DX)
	VMOVUPS Y1, 32(DX)
	ADDQ R8, DX
	VMOVUPS Y2, (DX)
	VMOVUPS Y3, 32(DX)
	ADDQ R8, DX
	VMOVUPS Y4, (DX)
	VMOVUPS Y5, 32(DX)
	ADDQ R8, DX
	VMOVUPS Y6, (DX)
	VMOVUPS Y7, 32(DX)
	VZEROUPPER
	RET

// func anyNonzero32(x *float32, n int) bool
// Whether any of the n (a multiple of 32) floats at x is other than ±0: four ymm registers or-ed over 128-byte
// chunks, then the sign bits masked off and tested.
TEXT ·anyNonzero32(SB), NOSPLIT, $0-17
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	SHLQ $2, CX
	ADDQ SI, CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3

nzloop:
	CMPQ SI, CX
	JGE nzdone
	VPOR (SI), Y0, Y0
	VPOR 32(SI), Y1, Y1
	VPOR 64(SI), Y2, Y2
	VPOR 96(SI), Y3, Y3
	ADDQ $128, SI
	JMP nzloop

nzdone:
	VPOR Y1, Y0, Y0
	VPOR Y3, Y2, Y2
	VPOR Y2, Y0, Y0
	MOVL $0x7fffffff, AX
	MOVQ AX, X4
	VPBROADCASTD X4, Y4
	VPTEST Y4, Y0
	SETNE ret+16(FP)
	VZEROUPPER
	RET
