package intkernels

import "fmt"

// ShiftWeights are power-of-two weights: value[i] = Sign[i]·2^Exp[i], Sign ∈ {−1, 0, +1},
// Exp ∈ [−MaxShift, 0] (package kernels' ShiftQuantizeValue produces them).
type ShiftWeights struct {
	Sign []int8
	Exp  []int8
}

// extraBits returns E = max(−Exp): the accumulator keeps FracBits+E fraction bits, so that
// every term x·2^exp = x << (E + exp) is exact.
func (w ShiftWeights) extraBits() uint {
	if len(w.Sign) != len(w.Exp) {
		panic(fmt.Sprintf("intkernels: %d signs and %d exponents", len(w.Sign), len(w.Exp)))
	}
	e := 0
	for _, v := range w.Exp {
		if v > 0 || v < -MaxShift {
			panic(fmt.Sprintf("intkernels: shift exponent %d outside [-%d, 0]", v, MaxShift))
		}
		if int(-v) > e {
			e = int(-v)
		}
	}
	return uint(e)
}

// shiftTerm adds or subtracts x·2^exp, as x << (e + exp), to acc.
func shiftTerm(acc int64, x int32, sign, exp int8, e uint) int64 {
	if sign == 0 {
		return acc
	}
	t := int64(x) << (e - uint(-exp))
	if sign < 0 {
		return acc - t
	}
	return acc + t
}

// ShiftConv runs a Shift k×k convolution: x [N,H,W,Cin], weights [k,k,Cin,Cout] flat,
// stride s, "same" zero padding. Each output is the exact sum, floored to FracBits fraction
// bits (arithmetic right shift) and saturated to int32.
func ShiftConv(x Act, w ShiftWeights, k, cout, s int) Act {
	x.check()
	if len(w.Sign) != k*k*x.C*cout {
		panic(fmt.Sprintf("intkernels.ShiftConv: %d weights, want %d", len(w.Sign), k*k*x.C*cout))
	}
	e := w.extraBits()
	acc := make([]int64, x.N*outSize(x.H, k, s)*outSize(x.W, k, s)*cout)
	ho, wo := window(x, k, s, func(out, in, tap int) {
		if in < 0 {
			return
		}
		base := out * cout
		for c := range x.C {
			xv := x.Data[in+c]
			wb := (tap*x.C + c) * cout
			for o := range cout {
				acc[base+o] = shiftTerm(acc[base+o], xv, w.Sign[wb+o], w.Exp[wb+o], e)
			}
		}
	})
	return finish(acc, x.N, ho, wo, cout, e)
}

// ShiftDepthwise runs a Shift depthwise k×k convolution: weights [k,k,C] flat.
func ShiftDepthwise(x Act, w ShiftWeights, k, s int) Act {
	x.check()
	if len(w.Sign) != k*k*x.C {
		panic(fmt.Sprintf("intkernels.ShiftDepthwise: %d weights, want %d", len(w.Sign), k*k*x.C))
	}
	e := w.extraBits()
	acc := make([]int64, x.N*outSize(x.H, k, s)*outSize(x.W, k, s)*x.C)
	ho, wo := window(x, k, s, func(out, in, tap int) {
		if in < 0 {
			return
		}
		base := out * x.C
		wb := tap * x.C
		for c := range x.C {
			acc[base+c] = shiftTerm(acc[base+c], x.Data[in+c], w.Sign[wb+c], w.Exp[wb+c], e)
		}
	})
	return finish(acc, x.N, ho, wo, x.C, e)
}

// ShiftLinear runs a Shift fully connected layer on every [.., Cin] row of x (a 1×1 conv):
// weights [Cin, Cout] flat.
func ShiftLinear(x Act, w ShiftWeights, cout int) Act {
	return ShiftConv(x, w, 1, cout, 1)
}

// finish floors accumulators with FracBits+e fraction bits to FracBits and saturates.
func finish(acc []int64, n, ho, wo, c int, e uint) Act {
	y := NewAct(n, ho, wo, c)
	for i, v := range acc {
		y.Data[i] = saturate32(v >> e)
	}
	return y
}
