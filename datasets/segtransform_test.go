package datasets

import (
	"math"
	"testing"
)

// interior reports whether the (2r+1)^2 neighbourhood of pixel (x, y) in an S x S mask has one class: there
// bilinear resampling of the image reads only source pixels of that class when the crop is enlarged (the
// mask's samples then step at most one source pixel, and r = 3 covers the filter's reach for the crops
// SegTransforms draws), so the image must still agree with the mask. Pixels within r of the output's
// border are never interior: their filter also reads source pixels just outside the crop.
func interior(m []int32, S, x, y, r int) bool {
	v := m[y*S+x]
	for dy := -r; dy <= r; dy++ {
		for dx := -r; dx <= r; dx++ {
			qx, qy := x+dx, y+dy
			if qx < 0 || qx >= S || qy < 0 || qy >= S || m[qy*S+qx] != v {
				return false
			}
		}
	}
	return true
}

func classSet[T int32 | uint8](pix []T) map[int]bool {
	s := map[int]bool{}
	for _, v := range pix {
		s[int(v)] = true
	}
	return s
}

// TestSegTransformKeepsCanvasMaskDerivable: a derived canvas's mask is derivable from its pixels (item where
// the intensity reaches the threshold, background where it is 0). After SegTransforms' random scale, crop and
// flip the transformed mask must still be derivable from the transformed image away from class boundaries, and
// it holds only classes of the original mask (no padding, so no ignore label either).
func TestSegTransformKeepsCanvasMaskDerivable(t *testing.T) {
	ds := fashionSeg(t, "fashion-seg:train=10,test=2")
	// At the canvas's own size every crop is enlarged (at most 64 source pixels onto 64), so the nearest-neighbour
	// mask samples every source pixel the image filter reads; shrinking would let the mask step over thin
	// background gaps that the filter still blends in.
	tr, _ := SegTransforms(ds, 64)
	tr.Mean, tr.Std = nil, nil // read the [0,1] values back
	thr := float32(ds.Train.(*SegCanvases).Config().Threshold) / 255
	const S = 64
	out, mo := make([]float32, 3*S*S), make([]int32, S*S)
	checked := 0
	for i := 0; i < ds.Train.Len(); i++ {
		img, m := canvas(t, ds.Train, i)
		in := classSet(m.Pix)
		for s := uint64(0); s < 20; s++ {
			if err := tr.ApplyWithMask(img, m, rng(s), out, mo, NCHW); err != nil {
				t.Fatal(err)
			}
			for p, cl := range mo {
				if !in[int(cl)] {
					t.Fatalf("canvas %d seed %d: class %d appeared, not in the canvas's %v", i, s, cl, in)
				}
				if !interior(mo, S, p%S, p/S, 3) {
					continue
				}
				checked++
				for c := 0; c < 3; c++ {
					v := out[c*S*S+p]
					if (cl == 0 && v > 0.5/255) || (cl != 0 && v < thr-1e-4) {
						t.Fatalf("canvas %d seed %d pixel %d channel %d: mask %d but intensity %.4f (threshold %.4f)", i, s, p, c, cl, v, thr)
					}
				}
			}
		}
	}
	if checked < 10*20*S*S/3 {
		t.Fatalf("only %d interior pixels checked", checked)
	}
}

// blockImage is an h x w grey image of 6x6 blocks, block (bx, by) of class 1+(3bx+5by)%7 and intensity
// 30*class: the class is derivable from the pixel value, and the layout is not mirror-symmetric.
func blockImage(h, w int) (Image, Mask) {
	img := Image{H: h, W: w, C: 1, Pix: make([]uint8, h*w)}
	m := Mask{H: h, W: w, Pix: make([]uint8, h*w)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			cl := 1 + (3*(x/6)+5*(y/6))%7
			m.Pix[y*w+x], img.Pix[y*w+x] = uint8(cl), uint8(30*cl)
		}
	}
	return img, m
}

// TestSegTransformClassCoded: on a non-square image whose every pixel's value encodes its class, the train and
// eval transforms keep image and mask aligned (away from boundaries the value decodes to the mask's class),
// create no class, and flip image and mask together: with the same seed, HFlip on gives either the unflipped
// result or its exact mirror, both occurring over 60 seeds.
func TestSegTransformClassCoded(t *testing.T) {
	img, m := blockImage(40, 57)
	in := classSet(m.Pix)
	ds := &Dataset{Name: "blocks", Shape: Shape{C: 1}}
	tr, ev := SegTransforms(ds, 32)
	if !tr.HFlip || !tr.Train || tr.ScaleMin != SegScaleMin || ev.Train || ev.CropRatio != 1 || !tr.GreyToRGB {
		t.Fatalf("SegTransforms: train %+v eval %+v", tr, ev)
	}
	if tr2, _ := SegTransforms(&Dataset{Name: "mnist-seg:size=96", Shape: Shape{C: 1}}, 32); tr2.HFlip {
		t.Fatal("mnist-seg digits must not be flipped")
	}
	const S = 32
	check := func(name string, out []float32, mo []int32) {
		t.Helper()
		for p, cl := range mo {
			if !in[int(cl)] {
				t.Fatalf("%s: class %d appeared", name, cl)
			}
			if interior(mo, S, p%S, p/S, 3) {
				if got := math.Round(float64(out[p]*255) / 30); int(got) != int(cl) || math.Abs(float64(out[p]*255)-30*got) > 0.05 {
					t.Fatalf("%s pixel (%d,%d): mask %d but the image value %.2f encodes %.0f", name, p%S, p/S, cl, out[p]*255, got)
				}
			}
		}
	}
	noflip := tr
	noflip.HFlip = false
	for _, x := range []*Transform{&tr, &ev, &noflip} {
		x.Mean, x.Std, x.GreyToRGB = nil, nil, false
	}
	out, mo := make([]float32, S*S), make([]int32, S*S)
	ref, mref := make([]float32, S*S), make([]int32, S*S)
	if err := ev.ApplyWithMask(img, m, rng(0), out, mo, NHWC); err != nil {
		t.Fatal(err)
	}
	check("eval", out, mo)
	flipped := 0
	for s := uint64(0); s < 60; s++ {
		if err := tr.ApplyWithMask(img, m, rng(s), out, mo, NHWC); err != nil {
			t.Fatal(err)
		}
		check("train", out, mo)
		if err := noflip.ApplyWithMask(img, m, rng(s), ref, mref, NHWC); err != nil {
			t.Fatal(err)
		}
		same, mirror := true, true
		for p := range mo {
			x, y := p%S, p/S
			q := y*S + S - 1 - x
			same = same && mo[p] == mref[p] && out[p] == ref[p]
			mirror = mirror && mo[p] == mref[q] && out[p] == ref[q]
		}
		switch {
		case mirror && !same:
			flipped++
		case !same:
			t.Fatalf("seed %d: the flip is neither identity nor an exact mirror of image and mask together", s)
		}
	}
	if flipped < 15 || flipped > 45 {
		t.Fatalf("%d of 60 seeds flipped, want about half", flipped)
	}
}

// TestSegTransformVOCAndNativeEval: on the three real VOC images the training transform keeps only classes
// of each mask (255 borders included); on a derived canvas at its native size the eval transform is the
// identity for the mask and maps pixel v to (v/255-mean)/std.
func TestSegTransformVOCAndNativeEval(t *testing.T) {
	voc, err := Open("voc:"+LabelmeVOCDir, Options{ValFraction: -1})
	if err != nil {
		t.Fatalf("the labelme VOC examples (scripts/setup installs labelme-examples): %v", err)
	}
	tr, _ := SegTransforms(voc, 64)
	out, mo := make([]float32, 3*64*64), make([]int32, 64*64)
	for i := 0; i < voc.Train.Len(); i++ {
		img, _ := voc.Train.Image(i)
		m, err := voc.Train.(MaskSource).Mask(i)
		if err != nil {
			t.Fatal(err)
		}
		in := classSet(m.Pix)
		for s := uint64(0); s < 5; s++ {
			if err := tr.ApplyWithMask(img, m, rng(s), out, mo, NHWC); err != nil {
				t.Fatal(err)
			}
			for _, cl := range mo {
				if !in[int(cl)] {
					t.Fatalf("VOC sample %d seed %d: class %d not in the mask's %v", i, s, cl, in)
				}
			}
		}
	}
	ds := fashionSeg(t, "fashion-seg:train=3,test=1")
	_, ev := SegTransforms(ds, 64)
	img, m := canvas(t, ds.Train, 2)
	out = make([]float32, 3*64*64)
	if err := ev.ApplyWithMask(img, m, rng(0), out, mo, NCHW); err != nil {
		t.Fatal(err)
	}
	for p, v := range m.Pix {
		if mo[p] != int32(v) {
			t.Fatalf("native eval changed the mask at %d: %d, want %d", p, mo[p], v)
		}
		for c := 0; c < 3; c++ {
			want := (float32(img.Pix[p])/255 - ImageNetMean[c]) / ImageNetStd[c]
			if math.Abs(float64(out[c*64*64+p]-want)) > 1e-4 {
				t.Fatalf("native eval pixel %d channel %d: %v, want %v", p, c, out[c*64*64+p], want)
			}
		}
	}
}
