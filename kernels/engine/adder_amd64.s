#include "textflag.h"

// Fused adder kernels (adderexec.go), float32, AVX2. Each output adds its terms in the order of the Go loops there,
// one IEEE operation per step (no FMA), so both give the same bits.

// func vecAdderDist4(s, p, w []float32, k, o, cols int)
// For r < 4, c < cols (a multiple of 8): s[r*o+c] = Σ_{j<k} |p[r*k+j] − w[j*o+c]|, j increasing, from +0.
// Columns go 16 at a time (8 accumulators: 4 rows × 2 registers), then 8.
TEXT ·vecAdderDist4(SB), NOSPLIT, $0-96
	MOVQ s_base+0(FP), DI
	MOVQ p_base+24(FP), SI
	MOVQ w_base+48(FP), DX
	MOVQ k+72(FP), R8
	MOVQ o+80(FP), R11
	SHLQ $2, R11               // row stride of w and s, bytes
	MOVQ cols+88(FP), R10
	MOVQ R8, R12
	SHLQ $2, R12               // row stride of p, bytes
	LEAQ (R12)(R12*2), R13     // 3 rows of p
	VPCMPEQD Y15, Y15, Y15
	VPSRLD $1, Y15, Y15        // 0x7fffffff: |x| mask
	XORQ AX, AX

d16:
	MOVQ R10, BX
	SUBQ AX, BX
	CMPQ BX, $16
	JLT d8
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ SI, CX
	LEAQ (DX)(AX*4), R14
	MOVQ R8, BX

d16k:
	TESTQ BX, BX
	JEQ d16store
	VMOVUPS (R14), Y8
	VMOVUPS 32(R14), Y9
	VBROADCASTSS (CX), Y10
	VSUBPS Y8, Y10, Y11
	VANDPS Y15, Y11, Y11
	VADDPS Y11, Y0, Y0
	VSUBPS Y9, Y10, Y12
	VANDPS Y15, Y12, Y12
	VADDPS Y12, Y1, Y1
	VBROADCASTSS (CX)(R12*1), Y10
	VSUBPS Y8, Y10, Y11
	VANDPS Y15, Y11, Y11
	VADDPS Y11, Y2, Y2
	VSUBPS Y9, Y10, Y12
	VANDPS Y15, Y12, Y12
	VADDPS Y12, Y3, Y3
	VBROADCASTSS (CX)(R12*2), Y10
	VSUBPS Y8, Y10, Y11
	VANDPS Y15, Y11, Y11
	VADDPS Y11, Y4, Y4
	VSUBPS Y9, Y10, Y12
	VANDPS Y15, Y12, Y12
	VADDPS Y12, Y5, Y5
	VBROADCASTSS (CX)(R13*1), Y10
	VSUBPS Y8, Y10, Y11
	VANDPS Y15, Y11, Y11
	VADDPS Y11, Y6, Y6
	VSUBPS Y9, Y10, Y12
	VANDPS Y15, Y12, Y12
	VADDPS Y12, Y7, Y7
	ADDQ $4, CX
	ADDQ R11, R14
	DECQ BX
	JMP d16k

d16store:
	LEAQ (DI)(AX*4), R9
	VMOVUPS Y0, (R9)
	VMOVUPS Y1, 32(R9)
	ADDQ R11, R9
	VMOVUPS Y2, (R9)
	VMOVUPS Y3, 32(R9)
	ADDQ R11, R9
	VMOVUPS Y4, (R9)
	VMOVUPS Y5, 32(R9)
	ADDQ R11, R9
	VMOVUPS Y6, (R9)
	VMOVUPS Y7, 32(R9)
	ADDQ $16, AX
	JMP d16

d8:
	CMPQ BX, $8
	JLT ddone
	VXORPS Y0, Y0, Y0
	VXORPS Y2, Y2, Y2
	VXORPS Y4, Y4, Y4
	VXORPS Y6, Y6, Y6
	MOVQ SI, CX
	LEAQ (DX)(AX*4), R14
	MOVQ R8, BX

d8k:
	TESTQ BX, BX
	JEQ d8store
	VMOVUPS (R14), Y8
	VBROADCASTSS (CX), Y10
	VSUBPS Y8, Y10, Y11
	VANDPS Y15, Y11, Y11
	VADDPS Y11, Y0, Y0
	VBROADCASTSS (CX)(R12*1), Y10
	VSUBPS Y8, Y10, Y11
	VANDPS Y15, Y11, Y11
	VADDPS Y11, Y2, Y2
	VBROADCASTSS (CX)(R12*2), Y10
	VSUBPS Y8, Y10, Y11
	VANDPS Y15, Y11, Y11
	VADDPS Y11, Y4, Y4
	VBROADCASTSS (CX)(R13*1), Y10
	VSUBPS Y8, Y10, Y11
	VANDPS Y15, Y11, Y11
	VADDPS Y11, Y6, Y6
	ADDQ $4, CX
	ADDQ R11, R14
	DECQ BX
	JMP d8k

d8store:
	LEAQ (DI)(AX*4), R9
	VMOVUPS Y0, (R9)
	ADDQ R11, R9
	VMOVUPS Y2, (R9)
	ADDQ R11, R9
	VMOVUPS Y4, (R9)
	ADDQ R11, R9
	VMOVUPS Y6, (R9)
	ADDQ $8, AX
	MOVQ R10, BX
	SUBQ AX, BX
	JMP d8

ddone:
	VZEROUPPER
	RET

// func vecAdderGrad4(dp, p, wt, v []float32, k, o, cols int, bounds []float32)
// For r < 4, j < cols (a multiple of 8): dp[r*k+j] = Σ_{c<o} v[r*o+c]·min(max(wt[c*k+j] − p[r*k+j], lo), hi),
// c increasing, from +0; lo, hi = bounds[0], bounds[1]. Max and min take the difference as their second operand,
// so a NaN difference comes out NaN, as with Go's max and min.
TEXT ·vecAdderGrad4(SB), NOSPLIT, $0-144
	MOVQ dp_base+0(FP), DI
	MOVQ p_base+24(FP), SI
	MOVQ wt_base+48(FP), DX
	MOVQ v_base+72(FP), R8
	MOVQ k+96(FP), R9
	SHLQ $2, R9                // row stride of p, dp and wt, bytes
	MOVQ o+104(FP), R10
	MOVQ R10, R11
	SHLQ $2, R11               // row stride of v, bytes
	LEAQ (R11)(R11*2), R13     // 3 rows of v
	LEAQ (R9)(R9*2), R14       // 3 rows of p, dp
	MOVQ bounds_base+120(FP), BX
	VBROADCASTSS (BX), Y14
	VBROADCASTSS 4(BX), Y15
	XORQ AX, AX

g8:
	MOVQ cols+112(FP), BX
	SUBQ AX, BX
	CMPQ BX, $8
	JLT gdone
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	LEAQ (SI)(AX*4), CX
	VMOVUPS (CX), Y4
	VMOVUPS (CX)(R9*1), Y5
	VMOVUPS (CX)(R9*2), Y6
	VMOVUPS (CX)(R14*1), Y7
	LEAQ (DX)(AX*4), CX
	MOVQ R8, R12
	MOVQ R10, BX

g8o:
	TESTQ BX, BX
	JEQ g8store
	VMOVUPS (CX), Y8
	VSUBPS Y4, Y8, Y9
	VMAXPS Y9, Y14, Y9
	VMINPS Y9, Y15, Y9
	VBROADCASTSS (R12), Y10
	VMULPS Y9, Y10, Y9
	VADDPS Y9, Y0, Y0
	VSUBPS Y5, Y8, Y9
	VMAXPS Y9, Y14, Y9
	VMINPS Y9, Y15, Y9
	VBROADCASTSS (R12)(R11*1), Y10
	VMULPS Y9, Y10, Y9
	VADDPS Y9, Y1, Y1
	VSUBPS Y6, Y8, Y9
	VMAXPS Y9, Y14, Y9
	VMINPS Y9, Y15, Y9
	VBROADCASTSS (R12)(R11*2), Y10
	VMULPS Y9, Y10, Y9
	VADDPS Y9, Y2, Y2
	VSUBPS Y7, Y8, Y9
	VMAXPS Y9, Y14, Y9
	VMINPS Y9, Y15, Y9
	VBROADCASTSS (R12)(R13*1), Y10
	VMULPS Y9, Y10, Y9
	VADDPS Y9, Y3, Y3
	ADDQ R9, CX
	ADDQ $4, R12
	DECQ BX
	JMP g8o

g8store:
	LEAQ (DI)(AX*4), CX
	VMOVUPS Y0, (CX)
	VMOVUPS Y1, (CX)(R9*1)
	VMOVUPS Y2, (CX)(R9*2)
	VMOVUPS Y3, (CX)(R14*1)
	ADDQ $8, AX
	JMP g8

gdone:
	VZEROUPPER
	RET

// func vecAdderDist4W(s, p, w []float32, k, o, cols int)
// vecAdderDist4 on AVX-512, 32 columns at a time (8 zmm accumulators: 4 rows × 2 registers), cols a multiple of 32:
// the same operations on each element in the same order, so the same bits.
TEXT ·vecAdderDist4W(SB), NOSPLIT, $0-96
	MOVQ s_base+0(FP), DI
	MOVQ p_base+24(FP), SI
	MOVQ w_base+48(FP), DX
	MOVQ k+72(FP), R8
	MOVQ o+80(FP), R11
	SHLQ $2, R11               // row stride of w and s, bytes
	MOVQ cols+88(FP), R10
	MOVQ R8, R12
	SHLQ $2, R12               // row stride of p, bytes
	LEAQ (R12)(R12*2), R13     // 3 rows of p
	VPTERNLOGD $0xff, Z15, Z15, Z15
	VPSRLD $1, Z15, Z15        // 0x7fffffff: |x| mask
	XORQ AX, AX

w32:
	MOVQ R10, BX
	SUBQ AX, BX
	CMPQ BX, $32
	JLT wddone
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	MOVQ SI, CX
	LEAQ (DX)(AX*4), R14
	MOVQ R8, BX

w32k:
	TESTQ BX, BX
	JEQ w32store
	VMOVUPS (R14), Z8
	VMOVUPS 64(R14), Z9
	VBROADCASTSS (CX), Z10
	VSUBPS Z8, Z10, Z11
	VPANDD Z15, Z11, Z11
	VADDPS Z11, Z0, Z0
	VSUBPS Z9, Z10, Z12
	VPANDD Z15, Z12, Z12
	VADDPS Z12, Z1, Z1
	VBROADCASTSS (CX)(R12*1), Z10
	VSUBPS Z8, Z10, Z11
	VPANDD Z15, Z11, Z11
	VADDPS Z11, Z2, Z2
	VSUBPS Z9, Z10, Z12
	VPANDD Z15, Z12, Z12
	VADDPS Z12, Z3, Z3
	VBROADCASTSS (CX)(R12*2), Z10
	VSUBPS Z8, Z10, Z11
	VPANDD Z15, Z11, Z11
	VADDPS Z11, Z4, Z4
	VSUBPS Z9, Z10, Z12
	VPANDD Z15, Z12, Z12
	VADDPS Z12, Z5, Z5
	VBROADCASTSS (CX)(R13*1), Z10
	VSUBPS Z8, Z10, Z11
	VPANDD Z15, Z11, Z11
	VADDPS Z11, Z6, Z6
	VSUBPS Z9, Z10, Z12
	VPANDD Z15, Z12, Z12
	VADDPS Z12, Z7, Z7
	ADDQ $4, CX
	ADDQ R11, R14
	DECQ BX
	JMP w32k

w32store:
	LEAQ (DI)(AX*4), R9
	VMOVUPS Z0, (R9)
	VMOVUPS Z1, 64(R9)
	ADDQ R11, R9
	VMOVUPS Z2, (R9)
	VMOVUPS Z3, 64(R9)
	ADDQ R11, R9
	VMOVUPS Z4, (R9)
	VMOVUPS Z5, 64(R9)
	ADDQ R11, R9
	VMOVUPS Z6, (R9)
	VMOVUPS Z7, 64(R9)
	ADDQ $32, AX
	JMP w32

wddone:
	VZEROUPPER
	RET

// func vecAdderGrad4W(dp, p, wt, v []float32, k, o, cols int, bounds []float32)
// vecAdderGrad4 on AVX-512, 16 columns of k at a time, cols a multiple of 16: the same operations on each element in
// the same order (max and min still take the difference as their second operand), so the same bits.
TEXT ·vecAdderGrad4W(SB), NOSPLIT, $0-144
	MOVQ dp_base+0(FP), DI
	MOVQ p_base+24(FP), SI
	MOVQ wt_base+48(FP), DX
	MOVQ v_base+72(FP), R8
	MOVQ k+96(FP), R9
	SHLQ $2, R9                // row stride of p, dp and wt, bytes
	MOVQ o+104(FP), R10
	MOVQ R10, R11
	SHLQ $2, R11               // row stride of v, bytes
	LEAQ (R11)(R11*2), R13     // 3 rows of v
	LEAQ (R9)(R9*2), R14       // 3 rows of p, dp
	MOVQ bounds_base+120(FP), BX
	VBROADCASTSS (BX), Z14
	VBROADCASTSS 4(BX), Z15
	XORQ AX, AX

wg16:
	MOVQ cols+112(FP), BX
	SUBQ AX, BX
	CMPQ BX, $16
	JLT wgdone
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	LEAQ (SI)(AX*4), CX
	VMOVUPS (CX), Z4
	VMOVUPS (CX)(R9*1), Z5
	VMOVUPS (CX)(R9*2), Z6
	VMOVUPS (CX)(R14*1), Z7
	LEAQ (DX)(AX*4), CX
	MOVQ R8, R12
	MOVQ R10, BX

wg16o:
	TESTQ BX, BX
	JEQ wg16store
	VMOVUPS (CX), Z8
	VSUBPS Z4, Z8, Z9
	VMAXPS Z9, Z14, Z9
	VMINPS Z9, Z15, Z9
	VBROADCASTSS (R12), Z10
	VMULPS Z9, Z10, Z9
	VADDPS Z9, Z0, Z0
	VSUBPS Z5, Z8, Z9
	VMAXPS Z9, Z14, Z9
	VMINPS Z9, Z15, Z9
	VBROADCASTSS (R12)(R11*1), Z10
	VMULPS Z9, Z10, Z9
	VADDPS Z9, Z1, Z1
	VSUBPS Z6, Z8, Z9
	VMAXPS Z9, Z14, Z9
	VMINPS Z9, Z15, Z9
	VBROADCASTSS (R12)(R11*2), Z10
	VMULPS Z9, Z10, Z9
	VADDPS Z9, Z2, Z2
	VSUBPS Z7, Z8, Z9
	VMAXPS Z9, Z14, Z9
	VMINPS Z9, Z15, Z9
	VBROADCASTSS (R12)(R13*1), Z10
	VMULPS Z9, Z10, Z9
	VADDPS Z9, Z3, Z3
	ADDQ R9, CX
	ADDQ $4, R12
	DECQ BX
	JMP wg16o

wg16store:
	LEAQ (DI)(AX*4), CX
	VMOVUPS Z0, (CX)
	VMOVUPS Z1, (CX)(R9*1)
	VMOVUPS Z2, (CX)(R9*2)
	VMOVUPS Z3, (CX)(R14*1)
	ADDQ $16, AX
	JMP wg16

wgdone:
	VZEROUPPER
	RET
