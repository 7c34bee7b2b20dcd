package deploy

import (
	"fmt"

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/pkg/models"
)

// SegLogits runs a segmentation model (arch.Model.Seg, the LR-ASPP head) on n images of h×w pixels, prepared
// as Logits's, and returns per-pixel logits [n, h, w, classes] row-major. The head's convs run on the
// integer kernels like every other layer of their operator; its glue (the gate's channel scaling, the sum of
// the two branches and the two bilinear upsamplings, with pkg/models' interpolation weights, float64 sums) is
// floating point, like batch norm's. The upsampling weights at the power-of-two factors the backbones give are
// multiples of a power of two, so an accelerator computes them with shifts and adds.
func (r *Runner) SegLogits(x []float32, n, h, w int) ([]float32, error) {
	a := r.m.Arch
	s := a.Seg
	if s == nil {
		return nil, fmt.Errorf("deploy: %s is a classifier, not a segmentation model: use Logits", a.Name)
	}
	if n < 1 || h < 1 || w < 1 || len(x) != n*h*w*3 {
		return nil, fmt.Errorf("deploy: %d values for %d images of %dx%d with 3 channels (want %d)", len(x), n, h, w, n*h*w*3)
	}
	t := fmap{N: n, H: h, W: w, C: 3, D: x}
	t = r.conv(a.Stem.Name, t, a.Stem.Act)
	var low fmap
	for _, b := range a.Blocks {
		t = r.block(b, t)
		if b.Name == s.Skip {
			low = t // block returns a new map; later blocks never write into it
		}
	}
	if low.D == nil {
		return nil, fmt.Errorf("deploy: skip block %s is not among the blocks", s.Skip)
	}
	inner := r.conv(s.Inner.Name, t, s.Inner.Act)
	gate := r.conv(s.Gate.Name, meanPool(t), s.Gate.Act)
	hw := inner.H * inner.W
	for i := range inner.N {
		g := gate.D[i*inner.C : (i+1)*inner.C]
		for p := range hw {
			row := inner.D[(i*hw+p)*inner.C:][:inner.C]
			for c := range row {
				row[c] *= g[c]
			}
		}
	}
	y := upsample(r.conv(s.Out.Name, inner, arch.ActNone), low.H, low.W)
	skip := r.conv(s.SkipOut.Name, low, arch.ActNone)
	for i, v := range skip.D {
		y.D[i] += v
	}
	return upsample(y, h, w).D, nil
}

// PredictMasks runs SegLogits and returns each pixel's class (the first of equal maxima), [n·h·w].
func (r *Runner) PredictMasks(x []float32, n, h, w int) (logits []float32, masks []int32, err error) {
	logits, err = r.SegLogits(x, n, h, w)
	if err != nil {
		return nil, nil, err
	}
	cls := Argmax(logits, r.m.Arch.Classes)
	masks = make([]int32, len(cls))
	for i, c := range cls {
		masks[i] = int32(c)
	}
	return logits, masks, nil
}

// upsample resizes x to H×W with models.Upsample's separable bilinear weights, rows first, as the graph does.
func upsample(x fmap, H, W int) fmap {
	if x.H != H {
		a := models.BilinearWeights(H, x.H)
		y := newFmap(x.N, H, x.W, x.C)
		acc := make([]float64, x.W*x.C)
		for n := range x.N {
			for i := range H {
				clear(acc)
				for j, wt := range a[i*x.H : (i+1)*x.H] {
					if wt == 0 {
						continue
					}
					for k, v := range x.D[(n*x.H+j)*x.W*x.C:][:x.W*x.C] {
						acc[k] += float64(wt) * float64(v)
					}
				}
				out := y.D[(n*H+i)*x.W*x.C:][:x.W*x.C]
				for k, v := range acc {
					out[k] = float32(v)
				}
			}
		}
		x = y
	}
	if x.W != W {
		a := models.BilinearWeights(W, x.W)
		y := newFmap(x.N, x.H, W, x.C)
		acc := make([]float64, x.C)
		for r := range x.N * x.H {
			for i := range W {
				clear(acc)
				for j, wt := range a[i*x.W : (i+1)*x.W] {
					if wt == 0 {
						continue
					}
					for c, v := range x.D[(r*x.W+j)*x.C:][:x.C] {
						acc[c] += float64(wt) * float64(v)
					}
				}
				out := y.D[(r*W+i)*x.C:][:x.C]
				for c, v := range acc {
					out[c] = float32(v)
				}
			}
		}
		x = y
	}
	return x
}
