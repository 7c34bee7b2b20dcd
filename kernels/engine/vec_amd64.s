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
