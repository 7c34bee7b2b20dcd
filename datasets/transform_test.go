package datasets

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

func rng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }

func greyRamp(h, w int) Image {
	im := Image{H: h, W: w, C: 1, Pix: make([]uint8, h*w)}
	for i := range im.Pix {
		im.Pix[i] = uint8(1 + i%250)
	}
	return im
}

func TestEvalIdentityPadAndGreyToRGB(t *testing.T) {
	src := greyRamp(28, 28)
	tr := Transform{Size: 32, Pad: 2, GreyToRGB: true, CropRatio: 1}
	out := make([]float32, 3*32*32)
	if err := tr.Apply(src, rng(1), out, NCHW); err != nil {
		t.Fatal(err)
	}
	for c := 0; c < 3; c++ {
		for y := 0; y < 32; y++ {
			for x := 0; x < 32; x++ {
				want := float32(0)
				if x >= 2 && x < 30 && y >= 2 && y < 30 {
					want = float32(src.Pix[(y-2)*28+x-2]) / 255
				}
				if got := out[c*1024+y*32+x]; math.Abs(float64(got-want)) > 1e-6 {
					t.Fatalf("c%d (%d,%d) = %v, want %v", c, x, y, got, want)
				}
			}
		}
	}
	// NHWC holds the same values, interleaved; normalisation is (x-mean)/std.
	tr.Mean, tr.Std = ImageNetMean, ImageNetStd
	nchw, nhwc := make([]float32, 3*1024), make([]float32, 3*1024)
	tr.Apply(src, rng(1), nchw, NCHW)
	tr.Apply(src, rng(1), nhwc, NHWC)
	for c := 0; c < 3; c++ {
		for p := 0; p < 1024; p++ {
			if nchw[c*1024+p] != nhwc[p*3+c] {
				t.Fatal("NCHW and NHWC disagree")
			}
		}
	}
	if want := (0 - 0.406) / 0.225; math.Abs(float64(nchw[2*1024])-want) > 1e-6 {
		t.Fatalf("normalised padding in B: %v, want %v", nchw[2*1024], want)
	}
}

func TestEvalResizeCentreCrop(t *testing.T) {
	// 500x375 RGB, constant per column: x. Eval at 224: short side -> 256, long -> 341, centre crop 224
	// starts at column round((341-224)/2) = 58 (of 341), that is source x = 58*500/341 = 85.04.
	src := Image{H: 375, W: 500, C: 3, Pix: make([]uint8, 375*500*3)}
	for y := 0; y < 375; y++ {
		for x := 0; x < 500; x++ {
			for c := 0; c < 3; c++ {
				src.Pix[(y*500+x)*3+c] = uint8(x / 2)
			}
		}
	}
	ev := EvalTransform(224)
	ev.Mean, ev.Std = nil, nil
	r, _ := ev.geometry(375, 500, nil)
	if math.Abs(r.x0-85.04) > 0.01 || math.Abs(r.w-328.45) > 0.01 || math.Abs(r.h-328.125) > 0.01 {
		t.Fatalf("region %+v", r)
	}
	out := make([]float32, 3*224*224)
	if err := ev.Apply(src, nil, out, NHWC); err != nil {
		t.Fatal(err)
	}
	// Output column 0 samples around source x = 85.04 + 0.5*328.45/224 = 85.8 -> value about 42.6/255.
	if v := out[0] * 255; math.Abs(float64(v)-42.6) > 1.0 {
		t.Fatalf("left column value %v", v)
	}
	if v := out[223*3] * 255; math.Abs(float64(v)-(85.04+328.45*(223.5/224))/2) > 1.0 {
		t.Fatalf("right column value %v", v)
	}
}

func TestTrainTransformDeterministicAndRandom(t *testing.T) {
	src := Image{H: 40, W: 50, C: 3, Pix: make([]uint8, 40*50*3)}
	for i := range src.Pix {
		src.Pix[i] = uint8(i * 13)
	}
	tr := TrainTransform(24)
	a, b, c := make([]float32, 3*576), make([]float32, 3*576), make([]float32, 3*576)
	tr.Apply(src, rng(7), a, NCHW)
	tr.Apply(src, rng(7), b, NCHW)
	tr.Apply(src, rng(8), c, NCHW)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different output")
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds, same output")
	}
	// Crops stay inside the image with area and ratio in range; flips happen about half the time.
	flips := 0
	for s := uint64(0); s < 400; s++ {
		r, flip := tr.geometry(40, 50, rng(s))
		if flip {
			flips++
		}
		area := r.w * r.h / 2000
		ratio := r.w / r.h
		if r.x0 < 0 || r.y0 < 0 || r.x0+r.w > 50 || r.y0+r.h > 40 || area > 1.0001 || ratio < 0.7 || ratio > 1.45 {
			t.Fatalf("seed %d: region %+v (area %.3f ratio %.3f)", s, r, area, ratio)
		}
		if area < 0.08*0.9 && r.w*r.h > 0 {
			t.Fatalf("seed %d: area %.3f below the 0.08 floor", s, area)
		}
	}
	if flips < 150 || flips > 250 {
		t.Fatalf("%d flips in 400", flips)
	}
}

func TestColourJitterRange(t *testing.T) {
	// A flat grey image: saturation has no effect, brightness scales by [1-32/255, 1+32/255].
	src := Image{H: 8, W: 8, C: 3, Pix: make([]uint8, 192)}
	for i := range src.Pix {
		src.Pix[i] = 128
	}
	tr := Transform{Size: 8, Train: true, ScaleMin: 1, ScaleMax: 1, RatioMin: 1, RatioMax: 1, Brightness: 32.0 / 255, Saturation: 0.5}
	lo, hi := 1.0, 0.0
	out := make([]float32, 192)
	for s := uint64(0); s < 300; s++ {
		tr.Apply(src, rng(s), out, NHWC)
		f := float64(out[0]) / (128.0 / 255)
		lo, hi = math.Min(lo, f), math.Max(hi, f)
		for _, v := range out {
			if v != out[0] {
				t.Fatal("grey image changed colour")
			}
		}
	}
	if lo < 1-32.0/255-1e-4 || hi > 1+32.0/255+1e-4 || hi-lo < 0.2 {
		t.Fatalf("brightness factors in [%v, %v]", lo, hi)
	}
	// Saturation 0 factor range: a red pixel moves towards grey or away from it, never changes hue order.
	red := Image{H: 1, W: 1, C: 3, Pix: []uint8{200, 50, 50}}
	tr.Brightness, tr.Size = 0, 1
	o := make([]float32, 3)
	for s := uint64(0); s < 50; s++ {
		tr.Apply(red, rng(s), o, NHWC)
		if !(o[0] >= o[1] && o[1] == o[2]) {
			t.Fatalf("saturation changed hue: %v", o)
		}
	}
}

func TestMaskFollowsImage(t *testing.T) {
	// Left half class 1 (bright), right half class 2 (dark), padded border ignored.
	h, w := 30, 40
	img := Image{H: h, W: w, C: 3, Pix: make([]uint8, h*w*3)}
	m := Mask{H: h, W: w, Pix: make([]uint8, h*w)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v, cl := uint8(250), uint8(1)
			if x >= w/2 {
				v, cl = 10, 2
			}
			for c := 0; c < 3; c++ {
				img.Pix[(y*w+x)*3+c] = v
			}
			m.Pix[y*w+x] = cl
		}
	}
	tr := TrainTransform(16)
	tr.Mean, tr.Std, tr.Brightness, tr.Saturation = nil, nil, 0, 0
	tr.Pad = 3
	out, mo := make([]float32, 3*256), make([]int32, 256)
	for s := uint64(0); s < 50; s++ {
		if err := tr.ApplyWithMask(img, m, rng(s), out, mo, NCHW); err != nil {
			t.Fatal(err)
		}
		for p, cl := range mo {
			x, y := p%16, p/16
			edge := false // bilinear resampling blends the pixels next to a class boundary
			for _, q := range [][2]int{{x - 1, y}, {x + 1, y}, {x, y - 1}, {x, y + 1}} {
				if q[0] >= 0 && q[0] < 16 && q[1] >= 0 && q[1] < 16 && mo[q[1]*16+q[0]] != cl {
					edge = true
				}
			}
			if edge {
				continue
			}
			v := out[p] * 255
			switch cl {
			case 1:
				if v < 120 {
					t.Fatalf("seed %d pixel %d: mask 1 but image %v", s, p, v)
				}
			case 2:
				if v > 140 {
					t.Fatalf("seed %d pixel %d: mask 2 but image %v", s, p, v)
				}
			case IgnoreIndex:
			default:
				t.Fatalf("mask value %d", cl)
			}
		}
	}
	wantErr(t, tr.ApplyWithMask(img, Mask{H: 2, W: 2, Pix: make([]uint8, 4)}, rng(0), out, mo, NCHW), "mask is 2x2 but the image is 40x30")
}

func TestDefaultTransforms(t *testing.T) {
	fm := &Dataset{Name: "fashion-mnist", Shape: Shape{28, 28, 1}}
	tr, ev := DefaultTransforms(fm, 32)
	if tr.Pad != 2 || !tr.GreyToRGB || !tr.HFlip || tr.ScaleMin != 0.35 || ev.CropRatio != 1 || ev.Pad != 2 {
		t.Fatalf("fashion-mnist: %+v / %+v", tr, ev)
	}
	tr, _ = DefaultTransforms(&Dataset{Name: "mnist", Shape: Shape{28, 28, 1}}, 32)
	if tr.HFlip {
		t.Fatal("mnist digits flipped")
	}
	tr, ev = DefaultTransforms(&Dataset{Name: "imagefolder:x", Shape: Shape{C: 3}}, 160)
	if !reflect.DeepEqual(tr, TrainTransform(160)) || !reflect.DeepEqual(ev, EvalTransform(160)) {
		t.Fatal("large images must use NetAug's transforms unchanged")
	}
}

// imgSource is an in-memory source of given images, labelled by position modulo 10.
type imgSource []Image

func (s imgSource) Len() int                   { return len(s) }
func (s imgSource) Label(i int) int            { return i % 10 }
func (s imgSource) Image(i int) (Image, error) { return s[i], nil }

func randomGrey(seed uint64, h, w int) Image {
	r := rng(seed)
	im := Image{H: h, W: w, C: 1, Pix: make([]uint8, h*w)}
	for i := range im.Pix {
		im.Pix[i] = uint8(r.IntN(256))
	}
	return im
}

// TestPadCropIsTranslationAndFlip: padcrop's training transform of a 28x28 grey image is the image zero-padded
// to 32x32, translated by an integer (dx, dy) in [-2,2]^2 with zero fill, flipped or not, and normalised with
// the training split's statistics; over many seeds the offsets vary and both flip states occur. Its eval
// transform is the padded image unchanged.
func TestPadCropIsTranslationAndFlip(t *testing.T) {
	src := randomGrey(7, 28, 28)
	ds := &Dataset{Name: "fashion-mnist", Shape: Shape{28, 28, 1}, Train: imgSource{src, randomGrey(8, 28, 28)}}
	tr, ev, err := Transforms(ds, 32, "padcrop")
	if err != nil {
		t.Fatal(err)
	}
	mean, std, err := ChannelStats(ds.Train)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tr.Mean, mean) || !reflect.DeepEqual(ev.Std, std) || len(mean) != 1 {
		t.Fatalf("normalisation %v/%v, %v/%v; want the training split's %v/%v", tr.Mean, tr.Std, ev.Mean, ev.Std, mean, std)
	}
	padded := func(x, y int) float32 { // the 32x32 padded image, zero outside
		x, y = x-2, y-2
		if x < 0 || y < 0 || x >= 28 || y >= 28 {
			return 0
		}
		return float32(src.Pix[y*28+x])
	}
	norm := func(v float32) float32 { return (v/255 - mean[0]) / std[0] }
	matches := func(out []float32, dx, dy int, flip bool) bool {
		for c := 0; c < 3; c++ {
			for y := 0; y < 32; y++ {
				for x := 0; x < 32; x++ {
					sx := x
					if flip {
						sx = 31 - x
					}
					if d := out[c*1024+y*32+x] - norm(padded(sx+dx, y+dy)); d > 1e-5 || d < -1e-5 {
						return false
					}
				}
			}
		}
		return true
	}
	out := make([]float32, 3*1024)
	if err := ev.Apply(src, rng(1), out, NCHW); err != nil {
		t.Fatal(err)
	}
	if !matches(out, 0, 0, false) {
		t.Fatal("padcrop eval is not the padded image")
	}
	offsets := map[[2]int]int{}
	flips := map[bool]int{}
	for seed := uint64(0); seed < 200; seed++ {
		if err := tr.Apply(src, rng(seed), out, NCHW); err != nil {
			t.Fatal(err)
		}
		found := 0
		for dy := -2; dy <= 2; dy++ {
			for dx := -2; dx <= 2; dx++ {
				for _, flip := range []bool{false, true} {
					if matches(out, dx, dy, flip) {
						found++
						offsets[[2]int{dx, dy}]++
						flips[flip]++
					}
				}
			}
		}
		if found != 1 {
			t.Fatalf("seed %d: %d translations (and flips) of the padded image match the output, want 1", seed, found)
		}
	}
	t.Logf("offsets %v, flips %v", offsets, flips)
	if len(offsets) < 15 || flips[false] < 50 || flips[true] < 50 {
		t.Errorf("offsets %v, flips %v: want most of the 25 offsets and both flip states", offsets, flips)
	}
}

func TestTransformsByAugmentation(t *testing.T) {
	fm := &Dataset{Name: "fashion-mnist", Shape: Shape{28, 28, 1}, Train: imgSource{randomGrey(1, 28, 28)}}
	tr, ev, err := Transforms(fm, 32, "")
	if dtr, dev := DefaultTransforms(fm, 32); err != nil || !reflect.DeepEqual(tr, dtr) || !reflect.DeepEqual(ev, dev) {
		t.Fatalf("\"\" is not netaug (DefaultTransforms): %v", err)
	}
	tr, ev, err = Transforms(fm, 32, "none")
	if _, dev := DefaultTransforms(fm, 32); err != nil || !reflect.DeepEqual(tr, dev) || !reflect.DeepEqual(ev, dev) || tr.Train {
		t.Fatalf("none: %+v / %+v, %v", tr, ev, err)
	}
	mn := &Dataset{Name: "mnist", Shape: Shape{28, 28, 1}, Train: fm.Train}
	if tr, _, err = Transforms(mn, 32, "padcrop"); err != nil || tr.HFlip || tr.Translate != 2 || tr.Pad != 2 {
		t.Fatalf("mnist padcrop: %+v, %v", tr, err)
	}
	rgb := Image{H: 32, W: 32, C: 3, Pix: randomGrey(2, 32, 96).Pix}
	cf := &Dataset{Name: "cifar10", Shape: Shape{32, 32, 3}, Train: imgSource{rgb}}
	tr, ev, err = Transforms(cf, 32, "padcrop")
	if err != nil || !tr.HFlip || tr.Translate != 4 || tr.Pad != 0 || tr.GreyToRGB || len(tr.Mean) != 3 || tr.Brightness != 0 ||
		ev.Train || ev.CropRatio != 1 || !reflect.DeepEqual(ev.Mean, tr.Mean) {
		t.Fatalf("cifar padcrop: %+v / %+v, %v", tr, ev, err)
	}
	_, _, err = Transforms(fm, 64, "padcrop")
	wantErr(t, err, "padcrop does not resize", "needs resolution 32")
	_, _, err = Transforms(&Dataset{Name: "imagefolder:x", Shape: Shape{C: 3}}, 160, "padcrop")
	wantErr(t, err, "padcrop is for small fixed-size images")
	_, _, err = Transforms(fm, 32, "autoaugment")
	wantErr(t, err, `unknown augmentation "autoaugment"`, "netaug, padcrop, none")
}

// TestChannelStats: per-channel mean and std on the [0,1] scale; on the real Fashion-MNIST training split they
// are the published 0.2860 and 0.3530.
func TestChannelStats(t *testing.T) {
	im := Image{H: 1, W: 2, C: 3, Pix: []uint8{0, 255, 51, 255, 0, 153}}
	mean, std, err := ChannelStats(imgSource{im})
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]float64{{0.5, 0.5}, {0.5, 0.5}, {0.4, 0.2}}
	for c, w := range want {
		if math.Abs(float64(mean[c])-w[0]) > 1e-6 || math.Abs(float64(std[c])-w[1]) > 1e-6 {
			t.Errorf("channel %d: mean %v std %v, want %v", c, mean[c], std[c], w)
		}
	}
	_, _, err = ChannelStats(imgSource{{H: 1, W: 2, C: 1, Pix: []uint8{9, 9}}})
	wantErr(t, err, "channel 0 is constant")
	ds, err := Open("fashion-mnist", Options{})
	if err != nil {
		t.Skipf("%v", err)
	}
	mean, std, err = ChannelStats(ds.Train)
	t.Logf("fashion-mnist training split: mean %v, std %v", mean, std)
	if err != nil || math.Abs(float64(mean[0])-0.2860) > 5e-5 || math.Abs(float64(std[0])-0.3530) > 5e-5 {
		t.Errorf("fashion-mnist: mean %v std %v (%v), want 0.2860 and 0.3530", mean, std, err)
	}
}

// TestWholeCropCopyMatchesFilter: resample copies a region of whole pixels (pad-and-crop's translations, its eval
// geometry) instead of filtering it; the values are the filter's bit for bit, for grey and RGB images, in both
// layouts, with flips; a scaled crop still filters.
func TestWholeCropCopyMatchesFilter(t *testing.T) {
	defer func() { noWholeCrop = false }()
	grey := &Dataset{Name: "fashion-mnist", Shape: Shape{28, 28, 1}, Train: imgSource{randomGrey(7, 28, 28), randomGrey(8, 28, 28)}}
	rgbImg := Image{H: 32, W: 32, C: 3, Pix: make([]uint8, 32*32*3)}
	r := rng(9)
	for i := range rgbImg.Pix {
		rgbImg.Pix[i] = uint8(r.IntN(256))
	}
	rgb := &Dataset{Name: "cifar10", Shape: Shape{32, 32, 3}, Train: imgSource{rgbImg, rgbImg}}
	for _, ds := range []*Dataset{grey, rgb} {
		tr, ev, err := Transforms(ds, 32, "padcrop")
		if err != nil {
			t.Fatal(err)
		}
		img, err := ds.Train.Image(0)
		if err != nil {
			t.Fatal(err)
		}
		for _, layout := range []Layout{NHWC, NCHW} {
			for seed := uint64(0); seed < 30; seed++ {
				for _, tf := range []Transform{tr, ev} {
					run := func(copyOff bool) []float32 {
						noWholeCrop = copyOff
						out := make([]float32, tf.OutChannels(img.C)*32*32)
						if err := tf.Apply(img, rng(seed), out, layout); err != nil {
							t.Fatal(err)
						}
						return out
					}
					copied, filtered := run(false), run(true)
					for i := range copied {
						if math.Float32bits(copied[i]) != math.Float32bits(filtered[i]) {
							t.Fatalf("%s %v seed %d (train %v): value %d is %v copied, %v filtered", ds.Name, layout, seed, tf.Train, i, copied[i], filtered[i])
						}
					}
				}
			}
		}
	}
	noWholeCrop = false
	if _, _, ok := wholeCrop(region{1, 2, 28, 28}, 32, 36, 36); ok {
		t.Fatal("a scaled region counted as a whole crop")
	}
	if _, _, ok := wholeCrop(region{1.5, 2, 32, 32}, 32, 36, 36); ok {
		t.Fatal("a region off the pixel grid counted as a whole crop")
	}
	if x0, y0, ok := wholeCrop(region{4, 0, 32, 32}, 32, 36, 36); !ok || x0 != 4 || y0 != 0 {
		t.Fatalf("whole crop (4, 0) read as (%d, %d, %v)", x0, y0, ok)
	}
}
