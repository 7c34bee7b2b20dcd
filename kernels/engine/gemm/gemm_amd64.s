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

// func kernel4x16Rows(kb int, a *float32, lda int, b *float32, c *float32, ldc int, accumulate bool)
// kernel4x16 reading a's four rows where they are stored (row r's depth index p at a + r·lda + p) instead of from a
// packed panel; b is a packed panel. The same instructions in the same order, so the same bits.
TEXT ·kernel4x16Rows(SB), NOSPLIT, $0-49
	MOVQ kb+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R11
	SHLQ $2, R11
	LEAQ (R11)(R11*2), R12
	MOVQ b+24(FP), DI
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R8
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
	JEQ rdone

rloop:
	VMOVUPS (DI), Y8
	VMOVUPS 32(DI), Y9
	VBROADCASTSS (SI), Y10
	VFMADD231PS Y8, Y10, Y0
	VFMADD231PS Y9, Y10, Y1
	VBROADCASTSS (SI)(R11*1), Y11
	VFMADD231PS Y8, Y11, Y2
	VFMADD231PS Y9, Y11, Y3
	VBROADCASTSS (SI)(R11*2), Y12
	VFMADD231PS Y8, Y12, Y4
	VFMADD231PS Y9, Y12, Y5
	VBROADCASTSS (SI)(R12*1), Y13
	VFMADD231PS Y8, Y13, Y6
	VFMADD231PS Y9, Y13, Y7
	ADDQ $4, SI
	ADDQ $64, DI
	DECQ CX
	JNE rloop

rdone:
	MOVBLZX accumulate+48(FP), R9
	TESTQ R9, R9
	JEQ rstore
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

rstore:
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

// The 8 × 32 kernels' accumulators: row r in Z(2r) (columns 0-15) and Z(2r+1) (columns 16-31).
#define ZERO_TILE8x32 \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z1, Z1, Z1; \
	VPXORD Z2, Z2, Z2; \
	VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; \
	VPXORD Z5, Z5, Z5; \
	VPXORD Z6, Z6, Z6; \
	VPXORD Z7, Z7, Z7; \
	VPXORD Z8, Z8, Z8; \
	VPXORD Z9, Z9, Z9; \
	VPXORD Z10, Z10, Z10; \
	VPXORD Z11, Z11, Z11; \
	VPXORD Z12, Z12, Z12; \
	VPXORD Z13, Z13, Z13; \
	VPXORD Z14, Z14, Z14; \
	VPXORD Z15, Z15, Z15;

// Adds the tile of c at DX (rows R8 bytes apart) to the accumulators (clobbers R10).
#define ADD_C_TILE8x32 \
	MOVQ DX, R10; \
	VADDPS (R10), Z0, Z0; \
	VADDPS 64(R10), Z1, Z1; \
	ADDQ R8, R10; \
	VADDPS (R10), Z2, Z2; \
	VADDPS 64(R10), Z3, Z3; \
	ADDQ R8, R10; \
	VADDPS (R10), Z4, Z4; \
	VADDPS 64(R10), Z5, Z5; \
	ADDQ R8, R10; \
	VADDPS (R10), Z6, Z6; \
	VADDPS 64(R10), Z7, Z7; \
	ADDQ R8, R10; \
	VADDPS (R10), Z8, Z8; \
	VADDPS 64(R10), Z9, Z9; \
	ADDQ R8, R10; \
	VADDPS (R10), Z10, Z10; \
	VADDPS 64(R10), Z11, Z11; \
	ADDQ R8, R10; \
	VADDPS (R10), Z12, Z12; \
	VADDPS 64(R10), Z13, Z13; \
	ADDQ R8, R10; \
	VADDPS (R10), Z14, Z14; \
	VADDPS 64(R10), Z15, Z15;

// Stores the accumulators to the tile of c at DX (rows R8 bytes apart; clobbers DX).
#define STORE_TILE8x32 \
	VMOVUPS Z0, (DX); \
	VMOVUPS Z1, 64(DX); \
	ADDQ R8, DX; \
	VMOVUPS Z2, (DX); \
	VMOVUPS Z3, 64(DX); \
	ADDQ R8, DX; \
	VMOVUPS Z4, (DX); \
	VMOVUPS Z5, 64(DX); \
	ADDQ R8, DX; \
	VMOVUPS Z6, (DX); \
	VMOVUPS Z7, 64(DX); \
	ADDQ R8, DX; \
	VMOVUPS Z8, (DX); \
	VMOVUPS Z9, 64(DX); \
	ADDQ R8, DX; \
	VMOVUPS Z10, (DX); \
	VMOVUPS Z11, 64(DX); \
	ADDQ R8, DX; \
	VMOVUPS Z12, (DX); \
	VMOVUPS Z13, 64(DX); \
	ADDQ R8, DX; \
	VMOVUPS Z14, (DX); \
	VMOVUPS Z15, 64(DX);

// func kernel8x32Rows(kb int, a *float32, lda int, b *float32, c *float32, ldc int, accumulate bool)
// The AVX-512 tile: c[r*ldc+j] (+)= Σ_p a[r*lda+p]·b[p], r < 8, j < 32, where b is two packed panels of 16 columns,
// the second kb·16 floats after the first. Z0..Z15 accumulate (row r: Z(2r) columns 0-15 from the first panel, Z(2r+1)
// columns 16-31 from the second). Each element still sums its products in increasing p from zero, one FMA each,
// then adds c, as kernel4x16 does, so the bits are the same.
TEXT ·kernel8x32Rows(SB), NOSPLIT, $0-49
	MOVQ kb+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R11
	SHLQ $2, R11
	LEAQ (R11)(R11*2), R12
	LEAQ (SI)(R11*4), R14
	MOVQ b+24(FP), DI
	MOVQ CX, R13
	SHLQ $6, R13
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R8
	SHLQ $2, R8
	ZERO_TILE8x32
	TESTQ CX, CX
	JEQ wdone

wloop:
	VMOVUPS (DI), Z16
	VMOVUPS (DI)(R13*1), Z17
	VBROADCASTSS (SI), Z18
	VFMADD231PS Z16, Z18, Z0
	VFMADD231PS Z17, Z18, Z1
	VBROADCASTSS (SI)(R11*1), Z19
	VFMADD231PS Z16, Z19, Z2
	VFMADD231PS Z17, Z19, Z3
	VBROADCASTSS (SI)(R11*2), Z20
	VFMADD231PS Z16, Z20, Z4
	VFMADD231PS Z17, Z20, Z5
	VBROADCASTSS (SI)(R12*1), Z21
	VFMADD231PS Z16, Z21, Z6
	VFMADD231PS Z17, Z21, Z7
	VBROADCASTSS (R14), Z22
	VFMADD231PS Z16, Z22, Z8
	VFMADD231PS Z17, Z22, Z9
	VBROADCASTSS (R14)(R11*1), Z23
	VFMADD231PS Z16, Z23, Z10
	VFMADD231PS Z17, Z23, Z11
	VBROADCASTSS (R14)(R11*2), Z24
	VFMADD231PS Z16, Z24, Z12
	VFMADD231PS Z17, Z24, Z13
	VBROADCASTSS (R14)(R12*1), Z25
	VFMADD231PS Z16, Z25, Z14
	VFMADD231PS Z17, Z25, Z15
	ADDQ $4, SI
	ADDQ $4, R14
	ADDQ $64, DI
	DECQ CX
	JNE wloop

wdone:
	MOVBLZX accumulate+48(FP), R9
	TESTQ R9, R9
	JEQ wstore
	ADD_C_TILE8x32

wstore:
	STORE_TILE8x32
	VZEROUPPER
	RET

// func kernel8x32Strided(kb int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, accumulate bool)
// kernel8x32Rows on unpacked operands as kernel4x16Strided reads them: depth index p's eight a values at a + p·lda,
// its 32 b values at b + p·ldb. The same bits as the 4 × 16 kernels.
TEXT ·kernel8x32Strided(SB), NOSPLIT, $0-57
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
	ZERO_TILE8x32
	TESTQ CX, CX
	JEQ xdone

xloop:
	VMOVUPS (DI), Z16
	VMOVUPS 64(DI), Z17
	VBROADCASTSS (SI), Z18
	VFMADD231PS Z16, Z18, Z0
	VFMADD231PS Z17, Z18, Z1
	VBROADCASTSS 4(SI), Z19
	VFMADD231PS Z16, Z19, Z2
	VFMADD231PS Z17, Z19, Z3
	VBROADCASTSS 8(SI), Z20
	VFMADD231PS Z16, Z20, Z4
	VFMADD231PS Z17, Z20, Z5
	VBROADCASTSS 12(SI), Z21
	VFMADD231PS Z16, Z21, Z6
	VFMADD231PS Z17, Z21, Z7
	VBROADCASTSS 16(SI), Z22
	VFMADD231PS Z16, Z22, Z8
	VFMADD231PS Z17, Z22, Z9
	VBROADCASTSS 20(SI), Z23
	VFMADD231PS Z16, Z23, Z10
	VFMADD231PS Z17, Z23, Z11
	VBROADCASTSS 24(SI), Z24
	VFMADD231PS Z16, Z24, Z12
	VFMADD231PS Z17, Z24, Z13
	VBROADCASTSS 28(SI), Z25
	VFMADD231PS Z16, Z25, Z14
	VFMADD231PS Z17, Z25, Z15
	ADDQ R11, SI
	ADDQ R12, DI
	DECQ CX
	JNE xloop

xdone:
	MOVBLZX accumulate+56(FP), R9
	TESTQ R9, R9
	JEQ xstore
	ADD_C_TILE8x32

xstore:
	STORE_TILE8x32
	VZEROUPPER
	RET
