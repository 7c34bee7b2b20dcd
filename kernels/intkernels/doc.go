// Package intkernels holds plain-Go integer reference kernels that run an exported,
// multiplication-free target layer the way a ShiftAddAug accelerator would: Shift layers on
// int32 fixed-point activations with bit shifts, adds, subtracts and sign flips only; Add
// layers with integer subtract, absolute value (a sign flip) and add only. It does not
// depend on GoMLX.
//
// Number format: activations are int32 with FracBits = 16 fraction bits (DeepShift's
// 16.16 format: value = Data·2^-16, obtained by floor). Shift weights are a sign in
// {−1, 0, +1} and an exponent in [−24, 0]: value = sign·2^exp. Add weights are int32 in the
// same 16.16 format as the activations.
//
// Layout is NHWC, conv weights [k, k, Cin, Cout], depthwise [k, k, C], linear [Cin, Cout]
// (flat, row-major), "same" padding k//2 and H_out = floor((H + 2·(k/2) − k)/s) + 1, as in
// package kernels.
//
// Rule, enforced by TestNoMultiplicationOnData (go/ast): in the kernel files (shift.go,
// add.go, common.go) no `*`, `/` or `%` operator, and no `*=`, `/=`, `%=`, may have an
// operand that reads tensor data: an index expression (any a[i]) or a variable assigned,
// directly or transitively, from one. `*` is therefore allowed only in index arithmetic
// over loop counters and shape sizes. No package-qualified function (math.…, bits.…) may
// be called there either. Conversions from and to floats live in convert.go, outside the
// rule.
package intkernels
