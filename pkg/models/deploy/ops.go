package deploy

import (
	"math"

	"github.com/shiftaddaug/shiftaddaug/kernels/intkernels"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
)

// fmap is an NHWC float32 feature map.
type fmap struct {
	N, H, W, C int
	D          []float32
}

func newFmap(n, h, w, c int) fmap {
	return fmap{N: n, H: h, W: w, C: c, D: make([]float32, n*h*w*c)}
}

// toFixed converts a feature map to 16.16 fixed point: floor and DeepShift's ±2^15 clamp for a Shift layer's
// input (its activation quantiser), round to nearest for an Add layer's.
func toFixed(x fmap, shift bool) intkernels.Act {
	a := intkernels.NewAct(x.N, x.H, x.W, x.C)
	for i, v := range x.D {
		if shift {
			a.Data[i] = intkernels.ToFixed(float64(v))
		} else {
			a.Data[i] = intkernels.RoundFixed(float64(v))
		}
	}
	if shift {
		intkernels.ClampAct(a)
	}
	return a
}

// fromFixed converts an integer kernel's output back to float32.
func fromFixed(a intkernels.Act) fmap {
	y := newFmap(a.N, a.H, a.W, a.C)
	for i, v := range a.Data {
		y.D[i] = float32(intkernels.FromFixed(v))
	}
	return y
}

// outSize is the "same"-padded output size: floor((n + 2·⌊k/2⌋ − k)/s) + 1.
func outSize(n, k, s int) int { return (n+2*(k/2)-k)/s + 1 }

// multConv is an ordinary k×k convolution, stride s, "same" zero padding, weights [k,k,Cin,Cout], float64
// accumulation.
func multConv(x fmap, w []float32, k, cout, s int) fmap {
	p := k / 2
	ho, wo := outSize(x.H, k, s), outSize(x.W, k, s)
	y := newFmap(x.N, ho, wo, cout)
	acc := make([]float64, cout)
	for n := range x.N {
		for oh := range ho {
			for ow := range wo {
				clear(acc)
				for i := range k {
					r := oh*s + i - p
					if r < 0 || r >= x.H {
						continue
					}
					for j := range k {
						c := ow*s + j - p
						if c < 0 || c >= x.W {
							continue
						}
						in := x.D[((n*x.H+r)*x.W+c)*x.C:][:x.C]
						for ci, xv := range in {
							if xv == 0 {
								continue
							}
							wr := w[((i*k+j)*x.C+ci)*cout:][:cout]
							for o, wv := range wr {
								acc[o] += float64(xv) * float64(wv)
							}
						}
					}
				}
				out := y.D[((n*ho+oh)*wo+ow)*cout:][:cout]
				for o, v := range acc {
					out[o] = float32(v)
				}
			}
		}
	}
	return y
}

// multDepthwise is an ordinary depthwise k×k convolution, weights [k,k,C], float64 accumulation.
func multDepthwise(x fmap, w []float32, k, s int) fmap {
	p := k / 2
	ho, wo := outSize(x.H, k, s), outSize(x.W, k, s)
	y := newFmap(x.N, ho, wo, x.C)
	acc := make([]float64, x.C)
	for n := range x.N {
		for oh := range ho {
			for ow := range wo {
				clear(acc)
				for i := range k {
					r := oh*s + i - p
					if r < 0 || r >= x.H {
						continue
					}
					for j := range k {
						c := ow*s + j - p
						if c < 0 || c >= x.W {
							continue
						}
						in := x.D[((n*x.H+r)*x.W+c)*x.C:][:x.C]
						wt := w[(i*k+j)*x.C:][:x.C]
						for ch, xv := range in {
							acc[ch] += float64(xv) * float64(wt[ch])
						}
					}
				}
				out := y.D[((n*ho+oh)*wo+ow)*x.C:][:x.C]
				for ch, v := range acc {
					out[ch] = float32(v)
				}
			}
		}
	}
	return y
}

// meanPool averages each channel over H×W: [N,H,W,C] → [N,1,1,C].
func meanPool(x fmap) fmap {
	y := newFmap(x.N, 1, 1, x.C)
	hw := x.H * x.W
	acc := make([]float64, x.C)
	for n := range x.N {
		clear(acc)
		for p := range hw {
			for c, v := range x.D[(n*hw+p)*x.C:][:x.C] {
				acc[c] += float64(v)
			}
		}
		for c, v := range acc {
			y.D[n*x.C+c] = float32(v / float64(hw))
		}
	}
	return y
}

// addBias adds a per-channel bias in place (nil: none).
func addBias(x fmap, b []float32) {
	if b == nil {
		return
	}
	for i := range x.D {
		x.D[i] += b[i%x.C]
	}
}

// activate applies an activation in place with the float32 operations of pkg/models.
func activate(x fmap, a arch.Act) {
	switch a {
	case arch.ActReLU:
		for i, v := range x.D {
			x.D[i] = max(v, 0)
		}
	case arch.ActReLU6:
		for i, v := range x.D {
			x.D[i] = min(max(v, 0), 6)
		}
	case arch.ActHSwish:
		for i, v := range x.D {
			x.D[i] = v * (min(max(v+3, 0), 6) / 6)
		}
	case arch.ActHSigmoid:
		for i, v := range x.D {
			x.D[i] = min(max(v+3, 0), 6) / 6
		}
	}
}

// quantizeAct is DeepShift's activation quantiser in float32, as kernels.QuantizeActivation computes it:
// clamp(floor(x·2^f)/2^f, −2^15, 2^15−1). Every step is exact for float32 x.
func quantizeAct(x fmap, fracBits int) fmap {
	y := newFmap(x.N, x.H, x.W, x.C)
	for i, v := range x.D {
		q := math.Ldexp(math.Floor(math.Ldexp(float64(v), fracBits)), -fracBits)
		y.D[i] = float32(min(max(q, -(1<<15)), (1<<15)-1))
	}
	return y
}

// addFloat is the AdderNet conv (or depthwise) in float64: y = −Σ_window |x − w|, "same" zero padding taking
// part (a padded tap contributes −|w|).
func addFloat(x fmap, w []float32, k, cout, s int, depthwise bool) fmap {
	if depthwise {
		cout = x.C
	}
	p := k / 2
	ho, wo := outSize(x.H, k, s), outSize(x.W, k, s)
	y := newFmap(x.N, ho, wo, cout)
	acc := make([]float64, cout)
	zeros := make([]float32, x.C)
	for n := range x.N {
		for oh := range ho {
			for ow := range wo {
				clear(acc)
				for i := range k {
					for j := range k {
						r, c := oh*s+i-p, ow*s+j-p
						in := zeros
						if r >= 0 && r < x.H && c >= 0 && c < x.W {
							in = x.D[((n*x.H+r)*x.W+c)*x.C:][:x.C]
						}
						tap := i*k + j
						if depthwise {
							for ch, xv := range in {
								acc[ch] -= math.Abs(float64(xv) - float64(w[tap*x.C+ch]))
							}
							continue
						}
						for ci, xv := range in {
							for o, wv := range w[(tap*x.C+ci)*cout:][:cout] {
								acc[o] -= math.Abs(float64(xv) - float64(wv))
							}
						}
					}
				}
				out := y.D[((n*ho+oh)*wo+ow)*cout:][:cout]
				for o, v := range acc {
					out[o] = float32(v)
				}
			}
		}
	}
	return y
}
