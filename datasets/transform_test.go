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
