package intkernels

import "math"

// Conversions between floats and the fixed-point format. They are not kernels (they run
// once, at export or at the model's input and output) and are outside the no-multiplication
// rule.

// ToFixed returns floor(v·2^FracBits) saturated to int32 (DeepShift's activation rounding
// without its ±2^15 clamp; apply that clamp to a Shift layer's input with ClampAct).
func ToFixed(v float64) int32 {
	f := math.Floor(math.Ldexp(v, FracBits))
	return saturate32(int64(math.Max(-1<<62, math.Min(1<<62, f))))
}

// RoundFixed returns v·2^FracBits rounded to the nearest int32 (for Add weights).
func RoundFixed(v float64) int32 {
	return saturate32(int64(math.Max(-1<<62, math.Min(1<<62, math.Round(math.Ldexp(v, FracBits))))))
}

// FromFixed returns the real value of a fixed-point number.
func FromFixed(v int32) float64 {
	return math.Ldexp(float64(v), -FracBits)
}

// ActFromFloats converts an NHWC float tensor to fixed point with ToFixed.
func ActFromFloats(x []float64, n, h, w, c int) Act {
	a := NewAct(n, h, w, c)
	for i, v := range x {
		a.Data[i] = ToFixed(v)
	}
	a.check()
	return a
}

// ClampAct applies DeepShift's activation clamp [−2^15, 2^15 − 1] (in real units) in place.
func ClampAct(a Act) {
	const lo, hi = -(1 << 15) << FracBits, ((1 << 15) - 1) << FracBits
	for i, v := range a.Data {
		a.Data[i] = int32(min(max(int64(v), lo), hi))
	}
}

// Floats returns the real values of a.
func (a Act) Floats() []float64 {
	out := make([]float64, len(a.Data))
	for i, v := range a.Data {
		out[i] = FromFixed(v)
	}
	return out
}
