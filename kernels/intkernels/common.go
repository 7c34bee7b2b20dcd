package intkernels

import "fmt"

// FracBits is the number of fraction bits of activations and Add weights.
const FracBits = 16

// MaxShift bounds the exponent magnitude of Shift weights (accumulators are int64 with
// FracBits+MaxShift fraction bits).
const MaxShift = 24

// Act is an NHWC tensor of fixed-point activations: value = Data[i]·2^-FracBits.
type Act struct {
	N, H, W, C int
	Data       []int32
}

// NewAct allocates a zero activation tensor.
func NewAct(n, h, w, c int) Act {
	return Act{N: n, H: h, W: w, C: c, Data: make([]int32, n*h*w*c)}
}

func (a Act) check() {
	if a.N*a.H*a.W*a.C != len(a.Data) {
		panic(fmt.Sprintf("intkernels: Act %dx%dx%dx%d has %d values", a.N, a.H, a.W, a.C, len(a.Data)))
	}
}

// outSize is the "same"-padded output size.
func outSize(n, k, s int) int {
	return (n+2*(k/2)-k)/s + 1
}

// saturate32 clamps an int64 to the int32 range.
func saturate32(v int64) int32 {
	if v > 2147483647 {
		return 2147483647
	}
	if v < -2147483648 {
		return -2147483648
	}
	return int32(v)
}

// absDiff returns |a − b| with a subtraction and a sign flip.
func absDiff(a, b int64) int64 {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d
}

// window calls fn for every output position and kernel tap of a "same"-padded k×k window
// with stride s over x: fn(outIdx, inIdx, tap), with inIdx = −1 for a padded tap. outIdx
// counts [N, Ho, Wo] positions, inIdx is the flat index of [n, h, w, 0] in x.Data, tap is
// i·k + j. Index arithmetic only.
func window(x Act, k, s int, fn func(outIdx, inIdx, tap int)) (ho, wo int) {
	p := k / 2
	ho, wo = outSize(x.H, k, s), outSize(x.W, k, s)
	out := 0
	for n := range x.N {
		for oh := range ho {
			for ow := range wo {
				for i := range k {
					for j := range k {
						r, c := oh*s+i-p, ow*s+j-p
						in := -1
						if r >= 0 && r < x.H && c >= 0 && c < x.W {
							in = ((n*x.H+r)*x.W + c) * x.C
						}
						fn(out, in, i*k+j)
					}
				}
				out++
			}
		}
	}
	return ho, wo
}
