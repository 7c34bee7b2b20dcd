package datasets

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// Layout is the memory order of a batch of images.
type Layout int

const (
	// NCHW is batch, channel, height, width (PyTorch order; GoMLX's "channels first").
	NCHW Layout = iota
	// NHWC is batch, height, width, channel (GoMLX's default "channels last").
	NHWC
)

func (l Layout) String() string {
	if l == NHWC {
		return "NHWC"
	}
	return "NCHW"
}

// ImageNet normalisation constants (RGB), as NetAug and torchvision use them.
var (
	ImageNetMean = []float32{0.485, 0.456, 0.406}
	ImageNetStd  = []float32{0.229, 0.224, 0.225}
)

// Transform turns one 8-bit image into a float32 Size x Size sample, in this order: zero padding, crop and
// resize (random-resized crop, or a random translation with Translate, when Train, else resize to ceil(Size/CropRatio) and centre crop), horizontal
// flip, grey to RGB, colour jitter (Train), scaling to [0,1] and normalisation. Resizing is bilinear with
// antialiasing when shrinking. Masks follow the same geometry with nearest-neighbour sampling.
// Everything random is drawn from the *rand.Rand passed in, so the result is a function of that seed.
type Transform struct {
	// Size is the side of the square output (required).
	Size int
	// Pad adds Pad zero pixels on every side first (2 turns 28x28 into 32x32). Masks are padded with IgnoreIndex.
	Pad int
	// GreyToRGB copies a single channel into three.
	GreyToRGB bool
	// Train selects the random training geometry and colour jitter; otherwise the deterministic eval geometry.
	Train bool
	// ScaleMin, ScaleMax bound the crop's share of the image area (Train; default 0.08 and 1).
	ScaleMin, ScaleMax float64
	// RatioMin, RatioMax bound the crop's aspect ratio w/h (Train; default 3/4 and 4/3).
	RatioMin, RatioMax float64
	// Translate, when positive, replaces the random-resized crop (Train) by a random integer translation of up
	// to ±Translate pixels in each direction with zero fill: the (padded) image is padded by Translate more and a
	// window of its former size is cropped at a random offset, then resampled to Size (a copy when the sizes
	// match). This is the CIFAR recipe of DeepShift and AdderNet (pad 4, random crop 32).
	Translate int
	// HFlip flips horizontally with probability 1/2 (Train).
	HFlip bool
	// Brightness b multiplies by a factor from [max(0,1-b), 1+b]; Saturation s blends with the grey image by
	// a factor from [max(0,1-s), 1+s]; the two are applied in random order (Train), as torchvision's ColorJitter.
	Brightness, Saturation float64
	// CropRatio is the eval centre crop's share of the resized short side (default 0.875).
	CropRatio float64
	// Mean and Std normalise each output channel as (x/255-Mean)/Std; nil means no normalisation, one value
	// applies to every channel.
	Mean, Std []float32
}

// TrainTransform is NetAug's training transform at the given size: random-resized crop (area 0.08-1, ratio
// 3/4-4/3), horizontal flip, brightness 32/255 and saturation 0.5 jitter, ImageNet normalisation.
func TrainTransform(size int) Transform {
	return Transform{Size: size, Train: true, ScaleMin: 0.08, ScaleMax: 1, RatioMin: 3.0 / 4, RatioMax: 4.0 / 3,
		HFlip: true, Brightness: 32.0 / 255, Saturation: 0.5, Mean: ImageNetMean, Std: ImageNetStd}
}

// EvalTransform is NetAug's evaluation transform: resize the short side to ceil(size/0.875), centre crop
// size x size, ImageNet normalisation.
func EvalTransform(size int) Transform {
	return Transform{Size: size, CropRatio: 0.875, Mean: ImageNetMean, Std: ImageNetStd}
}

// SmallImageMax is the largest native side DefaultTransforms treats as a small (MNIST/CIFAR-sized) image.
const SmallImageMax = 64

// DefaultTransforms returns the train and eval transforms the experiments use on ds at the given size:
// NetAug's (TrainTransform, EvalTransform) with three adjustments for small fixed-size sources:
// grey 28x28 images are zero-padded to 32x32 and copied into three channels (so CIFAR-shaped models run on
// them); the random crop's area is drawn from [0.35, 1] instead of [0.08, 1], since an 8% crop of a 32-pixel
// image keeps only a few pixels; and when size equals the (padded) native size, eval is the identity geometry
// (CropRatio 1) instead of a 1/0.875 zoom. MNIST digits are not flipped (a mirrored digit is not the same digit).
func DefaultTransforms(ds *Dataset, size int) (train, eval Transform) {
	train, eval = TrainTransform(size), EvalTransform(size)
	if ds.Shape.H > 0 && ds.Shape.H <= SmallImageMax && ds.Shape.W <= SmallImageMax {
		pad := 0
		if ds.Shape.H == 28 && ds.Shape.W == 28 {
			pad = 2
		}
		grey := ds.Shape.C == 1
		for _, t := range []*Transform{&train, &eval} {
			t.Pad, t.GreyToRGB = pad, grey
		}
		train.ScaleMin = 0.35
		if ds.Shape.H+2*pad == size && ds.Shape.W+2*pad == size {
			eval.CropRatio = 1
		}
	}
	if ds.Name == "mnist" {
		train.HFlip = false
	}
	return train, eval
}

// Augmentations are the training augmentations Transforms knows, by the names the CLI and the run
// configurations use: netaug (DefaultTransforms, the default), padcrop (pad-and-crop, the CIFAR recipe of
// DeepShift and AdderNet) and none.
var Augmentations = []string{"netaug", "padcrop", "none"}

// CheckAugment returns an error unless name is one of Augmentations or "" (netaug).
func CheckAugment(name string) error {
	if name == "" {
		return nil
	}
	for _, a := range Augmentations {
		if a == name {
			return nil
		}
	}
	return fmt.Errorf("unknown augmentation %q (known: %s)", name, strings.Join(Augmentations, ", "))
}

// Transforms returns the train and eval transforms of an augmentation (see Augmentations; "" is netaug) on ds at
// the given size:
//   - netaug: DefaultTransforms.
//   - padcrop: for small fixed-size sources (MNIST, CIFAR-sized) at their padded size only (28x28 grey images are
//     zero-padded to 32x32 and copied into three channels as DefaultTransforms does; nothing is resized): training
//     is a random integer translation of up to ±2 pixels for 28x28 sources (pad 2 more, random 32x32 crop) and up
//     to ±4 for others (pad 4, random crop), zero fill, and a horizontal flip with probability 1/2 (none for
//     MNIST); no colour jitter. Eval is the padded image unchanged. Both normalise with the per-channel mean and
//     std of ds's training split (ChannelStats).
//   - none: DefaultTransforms' eval transform for training too: no randomness.
func Transforms(ds *Dataset, size int, augment string) (train, eval Transform, err error) {
	if err := CheckAugment(augment); err != nil {
		return train, eval, err
	}
	train, eval = DefaultTransforms(ds, size)
	switch augment {
	case "none":
		return eval, eval, nil
	case "padcrop":
	default:
		return train, eval, nil
	}
	h, w := ds.Shape.H, ds.Shape.W
	if h <= 0 || h > SmallImageMax || w > SmallImageMax {
		return train, eval, fmt.Errorf("augmentation padcrop is for small fixed-size images (MNIST, CIFAR); %s has images of varying or large size: use netaug", ds.Name)
	}
	pad, shift := 0, 4
	if h == 28 && w == 28 {
		pad, shift = 2, 2
	}
	if h+2*pad != size || w+2*pad != size {
		return train, eval, fmt.Errorf("augmentation padcrop does not resize: %s needs resolution %d (its padded %dx%d images), not %d",
			ds.Name, h+2*pad, h+2*pad, w+2*pad, size)
	}
	mean, std, err := ChannelStats(ds.Train)
	if err != nil {
		return train, eval, fmt.Errorf("normalisation constants of %s: %w", ds.Name, err)
	}
	grey := ds.Shape.C == 1
	eval = Transform{Size: size, Pad: pad, GreyToRGB: grey, CropRatio: 1, Mean: mean, Std: std}
	train = Transform{Size: size, Pad: pad, GreyToRGB: grey, Train: true, Translate: shift, HFlip: ds.Name != "mnist",
		Mean: mean, Std: std}
	return train, eval, nil
}

// ChannelStats returns the mean and standard deviation of each channel of src's images, on the [0,1] scale
// (pixel/255), over every pixel of every image: the normalisation constants of a training split.
func ChannelStats(src Source) (mean, std []float32, err error) {
	var sum, sq [3]uint64
	var n uint64
	c := 0
	for i := 0; i < src.Len(); i++ {
		im, err := src.Image(i)
		if err != nil {
			return nil, nil, err
		}
		if c == 0 {
			c = im.C
		} else if im.C != c {
			return nil, nil, fmt.Errorf("image %d has %d channels, image 0 has %d", i, im.C, c)
		}
		if c != 1 && c != 3 {
			return nil, nil, fmt.Errorf("image %d has %d channels", i, c)
		}
		for k, v := range im.Pix {
			sum[k%c] += uint64(v)
			sq[k%c] += uint64(v) * uint64(v)
		}
		n += uint64(len(im.Pix) / c)
	}
	if n == 0 {
		return nil, nil, fmt.Errorf("no images")
	}
	for ch := 0; ch < c; ch++ {
		m := float64(sum[ch]) / float64(n)
		v := float64(sq[ch])/float64(n) - m*m
		s := math.Sqrt(math.Max(v, 0)) / 255
		if s == 0 {
			return nil, nil, fmt.Errorf("channel %d is constant", ch)
		}
		mean, std = append(mean, float32(m/255)), append(std, float32(s))
	}
	return mean, std, nil
}

// OutChannels is the number of channels the transform produces from a source with c channels.
func (t Transform) OutChannels(c int) int {
	if t.GreyToRGB && c == 1 {
		return 3
	}
	return c
}

// region is a crop in source pixel coordinates (continuous; pixel i covers [i, i+1)).
type region struct{ x0, y0, w, h float64 }

func (t Transform) geometry(h, w int, rng *rand.Rand) (r region, flip bool) {
	if t.Train {
		if d := t.Translate; d > 0 { // h and w include the translation's padding
			r = region{float64(rng.IntN(2*d + 1)), float64(rng.IntN(2*d + 1)), float64(w - 2*d), float64(h - 2*d)}
		} else {
			r = t.randomResizedCrop(h, w, rng)
		}
		flip = t.HFlip && rng.IntN(2) == 1
		return r, flip
	}
	cr := t.CropRatio
	if cr <= 0 {
		cr = 0.875
	}
	R := int(math.Ceil(float64(t.Size)/cr - 1e-9))
	rw, rh := R, R
	if w > h {
		rw = int(float64(R) * float64(w) / float64(h))
	} else if h > w {
		rh = int(float64(R) * float64(h) / float64(w))
	}
	left := math.RoundToEven(float64(rw-t.Size) / 2) // as torchvision's CenterCrop (Python's round)
	top := math.RoundToEven(float64(rh-t.Size) / 2)
	sx, sy := float64(w)/float64(rw), float64(h)/float64(rh)
	return region{left * sx, top * sy, float64(t.Size) * sx, float64(t.Size) * sy}, false
}

func (t Transform) randomResizedCrop(h, w int, rng *rand.Rand) region {
	smin, smax := t.ScaleMin, t.ScaleMax
	if smax <= 0 {
		smin, smax = 0.08, 1
	}
	rmin, rmax := t.RatioMin, t.RatioMax
	if rmax <= 0 {
		rmin, rmax = 3.0/4, 4.0/3
	}
	area := float64(h * w)
	lr0, lr1 := math.Log(rmin), math.Log(rmax)
	for try := 0; try < 10; try++ {
		ta := area * (smin + (smax-smin)*rng.Float64())
		ar := math.Exp(lr0 + (lr1-lr0)*rng.Float64())
		cw := int(math.Round(math.Sqrt(ta * ar)))
		ch := int(math.Round(math.Sqrt(ta / ar)))
		if cw > 0 && ch > 0 && cw <= w && ch <= h {
			y := rng.IntN(h - ch + 1)
			x := rng.IntN(w - cw + 1)
			return region{float64(x), float64(y), float64(cw), float64(ch)}
		}
	}
	// Fallback: the largest centred crop whose ratio is in range.
	cw, ch := w, h
	if in := float64(w) / float64(h); in < rmin {
		ch = int(math.Round(float64(w) / rmin))
	} else if in > rmax {
		cw = int(math.Round(float64(h) * rmax))
	}
	return region{float64((w - cw) / 2), float64((h - ch) / 2), float64(cw), float64(ch)}
}

// padImage returns img with p zero pixels on each side (fill for masks).
func padPix(pix []uint8, h, w, c, p int, fill uint8) []uint8 {
	nw := w + 2*p
	out := make([]uint8, (h+2*p)*nw*c)
	if fill != 0 {
		for i := range out {
			out[i] = fill
		}
	}
	for y := 0; y < h; y++ {
		copy(out[((y+p)*nw+p)*c:], pix[y*w*c:(y+1)*w*c])
	}
	return out
}

// taps are the resampling weights of one output coordinate: source indices start..start+len(w)-1.
type taps struct {
	start int
	w     []float32
}

// filterTaps computes antialiased bilinear (triangle filter) weights mapping n outputs onto [x0, x0+span) of a
// source axis of length size; indices are clamped to the source.
func filterTaps(n int, x0, span float64, size int) []taps {
	scale := span / float64(n)
	support := math.Max(1, scale)
	out := make([]taps, n)
	for o := range out {
		c := x0 + (float64(o)+0.5)*scale
		lo := max(int(math.Floor(c-support)), 0)
		hi := min(int(math.Ceil(c+support)), size-1)
		var ws []float32
		var sum float64
		first := -1
		for i := lo; i <= hi; i++ {
			d := math.Abs(float64(i)+0.5-c) / support
			if d >= 1 {
				if first >= 0 {
					break
				}
				continue
			}
			if first < 0 {
				first = i
			}
			ws = append(ws, float32(1-d))
			sum += 1 - d
		}
		if first < 0 { // the centre lies outside the source: take the nearest edge pixel
			first = min(max(int(math.Floor(c)), 0), size-1)
			ws, sum = []float32{1}, 1
		}
		for i := range ws {
			ws[i] = float32(float64(ws[i]) / sum)
		}
		out[o] = taps{first, ws}
	}
	return out
}

// Apply transforms img into dst, which must hold OutChannels(img.C)*Size*Size values in the given layout
// (CHW for NCHW, HWC for NHWC).
func (t Transform) Apply(img Image, rng *rand.Rand, dst []float32, layout Layout) error {
	return t.apply(img, nil, rng, dst, nil, layout)
}

// ApplyWithMask transforms img like Apply and its mask with the same geometry into mdst (Size*Size values,
// row-major; IgnoreIndex where padding or the crop leaves the image).
func (t Transform) ApplyWithMask(img Image, mask Mask, rng *rand.Rand, dst []float32, mdst []int32, layout Layout) error {
	return t.apply(img, &mask, rng, dst, mdst, layout)
}

func (t Transform) apply(img Image, mask *Mask, rng *rand.Rand, dst []float32, mdst []int32, layout Layout) error {
	S := t.Size
	if S <= 0 {
		return fmt.Errorf("transform: Size must be positive, got %d", S)
	}
	if img.H <= 0 || img.W <= 0 || (img.C != 1 && img.C != 3) || len(img.Pix) != img.H*img.W*img.C {
		return fmt.Errorf("transform: bad image %dx%dx%d with %d bytes", img.H, img.W, img.C, len(img.Pix))
	}
	oc := t.OutChannels(img.C)
	if len(dst) != oc*S*S {
		return fmt.Errorf("transform: destination holds %d values, want %d", len(dst), oc*S*S)
	}
	mean, std, err := normConsts(t.Mean, t.Std, oc)
	if err != nil {
		return err
	}
	if mask != nil && (mask.H != img.H || mask.W != img.W) {
		return fmt.Errorf("transform: mask is %dx%d but the image is %dx%d", mask.W, mask.H, img.W, img.H)
	}
	pix, h, w, c := img.Pix, img.H, img.W, img.C
	var mpix []uint8
	if mask != nil {
		mpix = mask.Pix
	}
	if t.Pad > 0 {
		pix = padPix(pix, h, w, c, t.Pad, 0)
		if mask != nil {
			mpix = padPix(mpix, h, w, 1, t.Pad, IgnoreIndex)
		}
		h, w = h+2*t.Pad, w+2*t.Pad
	}
	if d := t.Translate; t.Train && d > 0 {
		pix = padPix(pix, h, w, c, d, 0)
		if mask != nil {
			mpix = padPix(mpix, h, w, 1, d, IgnoreIndex)
		}
		h, w = h+2*d, w+2*d
	}
	r, flip := t.geometry(h, w, rng)

	out := resample(pix, h, w, c, r, S)
	if flip {
		for y := 0; y < S; y++ {
			row := out[y*S*c : (y+1)*S*c]
			for a, b := 0, S-1; a < b; a, b = a+1, b-1 {
				for ch := 0; ch < c; ch++ {
					row[a*c+ch], row[b*c+ch] = row[b*c+ch], row[a*c+ch]
				}
			}
		}
	}
	// Colour jitter works on [0,1] RGB (grey images are only brightness-jittered: saturation leaves grey alone).
	var bf, sf float64 = 1, 1
	order := 0
	if t.Train {
		if t.Brightness > 0 {
			bf = math.Max(0, 1-t.Brightness) + rng.Float64()*(1+t.Brightness-math.Max(0, 1-t.Brightness))
		}
		if t.Saturation > 0 {
			sf = math.Max(0, 1-t.Saturation) + rng.Float64()*(1+t.Saturation-math.Max(0, 1-t.Saturation))
		}
		order = rng.IntN(2)
	}
	const inv = 1.0 / 255
	n := S * S
	for p := 0; p < n; p++ {
		var v [3]float32
		if c == 1 {
			g := out[p] * inv
			v = [3]float32{g, g, g}
		} else {
			v = [3]float32{out[3*p] * inv, out[3*p+1] * inv, out[3*p+2] * inv}
		}
		if bf != 1 || sf != 1 {
			for step := 0; step < 2; step++ {
				if (step == 0) == (order == 0) {
					if bf != 1 {
						for i := range v {
							v[i] = clamp01(v[i] * float32(bf))
						}
					}
				} else if sf != 1 && c == 3 {
					g := 0.299*v[0] + 0.587*v[1] + 0.114*v[2]
					for i := range v {
						v[i] = clamp01(g + float32(sf)*(v[i]-g))
					}
				}
			}
		}
		for ch := 0; ch < oc; ch++ {
			x := (v[ch] - mean[ch]) / std[ch]
			if layout == NHWC {
				dst[p*oc+ch] = x
			} else {
				dst[ch*n+p] = x
			}
		}
	}
	if mask != nil {
		if len(mdst) != n {
			return fmt.Errorf("transform: mask destination holds %d values, want %d", len(mdst), n)
		}
		for oy := 0; oy < S; oy++ {
			sy := int(math.Floor(r.y0 + (float64(oy)+0.5)*r.h/float64(S)))
			for ox := 0; ox < S; ox++ {
				sx := int(math.Floor(r.x0 + (float64(ox)+0.5)*r.w/float64(S)))
				dx := ox
				if flip {
					dx = S - 1 - ox
				}
				v := int32(IgnoreIndex)
				if sx >= 0 && sx < w && sy >= 0 && sy < h {
					v = int32(mpix[sy*w+sx])
				}
				mdst[oy*S+dx] = v
			}
		}
	}
	return nil
}

// resample maps region r of the h×w×c image pix to S×S×c values (HWC, 0..255): bilinear (a triangle filter
// widened when shrinking) and separable. A region of S×S whole pixels inside the image (a pad-and-crop's random
// translation, an unscaled centre crop) is a copy: the filter's one tap there has weight 1, so the values are the
// same, and the copy is several times faster (the test images are transformed at every evaluation).
func resample(pix []uint8, h, w, c int, r region, S int) []float32 {
	out := make([]float32, S*S*c) // HWC, values 0..255
	if x0, y0, ok := wholeCrop(r, S, h, w); ok {
		for oy := 0; oy < S; oy++ {
			src := pix[((y0+oy)*w+x0)*c : ((y0+oy)*w+x0+S)*c]
			orow := out[oy*S*c : (oy+1)*S*c]
			for i, v := range src {
				orow[i] = float32(v)
			}
		}
		return out
	}
	// Rows first into tmp (only the source rows the vertical taps need), then columns.
	tx := filterTaps(S, r.x0, r.w, w)
	ty := filterTaps(S, r.y0, r.h, h)
	ylo, yhi := ty[0].start, ty[S-1].start+len(ty[S-1].w)
	tmp := make([]float32, (yhi-ylo)*S*c)
	for y := ylo; y < yhi; y++ {
		row := pix[y*w*c:]
		trow := tmp[(y-ylo)*S*c:]
		for ox, tp := range tx {
			for ch := 0; ch < c; ch++ {
				var s float32
				for k, wt := range tp.w {
					s += wt * float32(row[(tp.start+k)*c+ch])
				}
				trow[ox*c+ch] = s
			}
		}
	}
	for oy, tp := range ty {
		orow := out[oy*S*c : (oy+1)*S*c]
		for k, wt := range tp.w {
			trow := tmp[(tp.start+k-ylo)*S*c:]
			for i := range orow {
				orow[i] += wt * trow[i]
			}
		}
	}
	return out
}

// noWholeCrop turns resample's copy off (tests compare it with the filter).
var noWholeCrop bool

// wholeCrop reports whether r is S×S whole pixels inside an h×w image, and where it starts.
func wholeCrop(r region, S, h, w int) (x0, y0 int, ok bool) {
	x0, y0 = int(r.x0), int(r.y0)
	ok = !noWholeCrop && r.w == float64(S) && r.h == float64(S) && float64(x0) == r.x0 && float64(y0) == r.y0 &&
		x0 >= 0 && y0 >= 0 && x0+S <= w && y0+S <= h
	return x0, y0, ok
}

func clamp01(x float32) float32 {
	if x < 0 {
		return 0
	}
	if x > 1 {
		return 1
	}
	return x
}

func normConsts(mean, std []float32, oc int) (m, s [3]float32, err error) {
	for i := range 3 {
		m[i], s[i] = 0, 1
	}
	if mean == nil && std == nil {
		return m, s, nil
	}
	if len(mean) != len(std) || (len(mean) != 1 && len(mean) != oc) {
		return m, s, fmt.Errorf("transform: %d means and %d stds for %d output channels", len(mean), len(std), oc)
	}
	for i := 0; i < oc; i++ {
		j := min(i, len(mean)-1)
		if std[j] == 0 {
			return m, s, fmt.Errorf("transform: zero std for channel %d", i)
		}
		m[i], s[i] = mean[j], std[j]
	}
	return m, s, nil
}
