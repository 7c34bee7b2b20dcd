package datasets

import (
	"bytes"
	"sync"
	"testing"
)

var (
	fashionOnce sync.Once
	fashionDS   *Dataset
	fashionErr  error
)

// fashion opens the installed Fashion-MNIST once for all derived-task tests (verifying it reads 47 MB).
func fashion(t *testing.T) *Dataset {
	t.Helper()
	fashionOnce.Do(func() { fashionDS, fashionErr = Open("fashion-mnist", Options{Dir: t.TempDir()}) })
	if fashionErr != nil {
		t.Fatalf("fashion-mnist is needed for the derived segmentation task (run scripts/setup): %v", fashionErr)
	}
	return fashionDS
}

func fashionSeg(t *testing.T, name string) *Dataset {
	t.Helper()
	_, cfg, ok, err := ParseSegName(name)
	if err != nil || !ok {
		t.Fatalf("ParseSegName(%q): ok %v, %v", name, ok, err)
	}
	ds, err := SegTask(name, fashion(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func canvas(t *testing.T, src Source, i int) (Image, Mask) {
	t.Helper()
	c, ok := src.(*SegCanvases)
	if !ok {
		t.Fatalf("source is %T, not *SegCanvases", src)
	}
	img, m, err := c.Canvas(i)
	if err != nil {
		t.Fatal(err)
	}
	return img, m
}

// TestSegCanvasDeterministic: the same name gives the same canvases and masks, built twice independently
// (and through Image/Mask as the loader calls them); another seed, or the other split, gives other canvases.
func TestSegCanvasDeterministic(t *testing.T) {
	a := fashionSeg(t, "fashion-seg:seed=5,train=100,test=50")
	b := fashionSeg(t, "fashion-seg:seed=5,train=100,test=50")
	c := fashionSeg(t, "fashion-seg:seed=6,train=100,test=50")
	if a.Shape != (Shape{64, 64, 1}) || a.NumClasses != 11 || a.ClassNames[0] != "background" || a.ClassNames[1] != "T-shirt/top" ||
		!a.Segmentation || a.Train.Len() != 100 || a.Test.Len() != 50 || a.Train.Label(0) != -1 {
		t.Fatalf("dataset %+v", a)
	}
	differs := 0
	for _, i := range []int{0, 1, 37, 99} {
		ia, ma := canvas(t, a.Train, i)
		ib, mb := canvas(t, b.Train, i)
		if !bytes.Equal(ia.Pix, ib.Pix) || !bytes.Equal(ma.Pix, mb.Pix) {
			t.Fatalf("canvas %d differs between two openings with the same seed", i)
		}
		im, _ := a.Train.Image(i)
		mm, _ := a.Train.(MaskSource).Mask(i)
		if !bytes.Equal(im.Pix, ia.Pix) || !bytes.Equal(mm.Pix, ma.Pix) {
			t.Fatalf("canvas %d: Image/Mask differ from Canvas", i)
		}
		ic, _ := canvas(t, c.Train, i)
		if !bytes.Equal(ia.Pix, ic.Pix) {
			differs++
		}
		if it, _ := canvas(t, a.Test, i%50); bytes.Equal(ia.Pix, it.Pix) {
			t.Fatalf("train canvas %d equals test canvas %d", i, i%50)
		}
	}
	if differs != 4 {
		t.Fatalf("seed 6 gives the same canvas as seed 5 at %d of 4 indices", 4-differs)
	}
}

// TestSegCanvasMaskAgreesWithPixels: on real Fashion-MNIST canvases of two sizes, the mask is nonzero exactly
// where the canvas reaches the threshold, every class is in 0..10, and every labelled pixel lies inside the
// box of a placed item of that class (pixels outside every box are background and black).
func TestSegCanvasMaskAgreesWithPixels(t *testing.T) {
	for _, name := range []string{"fashion-seg:train=40,test=10", "fashion-seg:size=96,items=5,threshold=50,train=40,test=10"} {
		ds := fashionSeg(t, name)
		src := ds.Train.(*SegCanvases)
		thr := src.Config().Threshold
		S := src.Config().Size
		fg := 0
		for i := 0; i < src.Len(); i++ {
			img, m := canvas(t, src, i)
			if img.H != S || img.W != S || img.C != 1 || m.H != S || m.W != S {
				t.Fatalf("%s canvas %d: image %dx%dx%d mask %dx%d", name, i, img.H, img.W, img.C, m.H, m.W)
			}
			items, err := src.Placements(i)
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != src.Config().Items {
				t.Fatalf("%d items, want %d", len(items), src.Config().Items)
			}
			for p, v := range m.Pix {
				x, y := p%S, p/S
				if (v != 0) != (int(img.Pix[p]) >= thr) {
					t.Fatalf("%s canvas %d pixel (%d,%d): mask %d but intensity %d (threshold %d)", name, i, x, y, v, img.Pix[p], thr)
				}
				if v > 10 {
					t.Fatalf("%s canvas %d: class %d outside 0..10", name, i, v)
				}
				if v == 0 {
					continue
				}
				fg++
				inside := false
				for _, it := range items {
					if it.Class == int(v) && x >= it.X && x < it.X+it.Side && y >= it.Y && y < it.Y+it.Side {
						inside = true
					}
				}
				if !inside {
					t.Fatalf("%s canvas %d pixel (%d,%d) has class %d outside every item of that class: %+v", name, i, x, y, v, items)
				}
			}
		}
		if share := float64(fg) / float64(src.Len()*S*S); share < 0.05 || share > 0.8 {
			t.Fatalf("%s: foreground is %.3f of the pixels, want a visible but not full cover", name, share)
		}
	}
}

// TestSegCanvasClassHistogram: over 300 training canvases every one of the 10 item classes and background
// covers a real share of the pixels (no class is lost to the threshold or to overlaps).
func TestSegCanvasClassHistogram(t *testing.T) {
	ds := fashionSeg(t, "fashion-seg:train=300,test=10")
	hist := make([]int, 11)
	for i := 0; i < ds.Train.Len(); i++ {
		_, m := canvas(t, ds.Train, i)
		for _, v := range m.Pix {
			hist[v]++
		}
	}
	total := 300 * 64 * 64
	for k, n := range hist {
		if float64(n)/float64(total) < 0.005 {
			t.Fatalf("class %d (%s) covers %d of %d pixels: histogram %v", k, ds.ClassNames[k], n, total, hist)
		}
	}
}

// TestSegCanvasSplitsStaySeparate: train canvases use only training items and test canvases only test items,
// seen through the pixels: the two item sources are constant images of different values.
func TestSegCanvasSplitsStaySeparate(t *testing.T) {
	mk := func(v uint8, n int) imgSource {
		s := make(imgSource, n)
		for i := range s {
			s[i] = Image{H: 28, W: 28, C: 1, Pix: bytes.Repeat([]byte{v}, 28*28)}
		}
		return s
	}
	src := &Dataset{Name: "fake", Train: mk(200, 30), Test: mk(90, 20), NumClasses: 10,
		ClassNames: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}}
	ds, err := SegTask("fake-seg", src, SegTaskConfig{TrainSize: 20, TestSize: 20})
	if err != nil {
		t.Fatal(err)
	}
	for split, want := range map[Source]uint8{ds.Train: 200, ds.Test: 90} {
		for i := 0; i < split.Len(); i++ {
			img, m := canvas(t, split, i)
			for p, v := range img.Pix {
				if (v != 0 && v != want) || (v == want) != (m.Pix[p] != 0) {
					t.Fatalf("canvas %d pixel %d: value %d, mask %d: want only 0 or %d, labelled exactly where %d", i, p, v, m.Pix[p], want, want)
				}
			}
		}
	}
	for _, idx := range []int{0, 5, 19} {
		items, _ := ds.Test.(*SegCanvases).Placements(idx)
		for _, it := range items {
			if it.Index >= 20 || it.Class != it.Index%10+1 {
				t.Fatalf("test canvas %d placement %+v: index outside the test split or class not label+1", idx, it)
			}
		}
	}
}

// TestSegNames: Open knows the derived names, rejects bad parameters with one-line errors, and canvases feed
// the loader as [N,H,W,C] images and [N,H,W] masks (the eval geometry at native size keeps the mask as is).
func TestSegNames(t *testing.T) {
	for _, c := range []struct{ name, want string }{
		{"fashion-seg:size=abc", `parameter size: "abc" is not a number`},
		{"fashion-seg:colour=red", `unknown parameter "colour"`},
		{"fashion-seg:size", "is not key=value"},
		{"mnist-seg:size=4", "canvas size 4 outside 8..4096"},
		{"fashion-seg:min=0.7,max=0.5", "item side range"},
		{"fashion-seg:train=0", "both must be positive"},
	} {
		_, err := Open(c.name, Options{Dir: t.TempDir()})
		wantErr(t, err, c.name, c.want)
	}
	if _, _, ok, _ := ParseSegName("fashion-mnist"); ok {
		t.Fatal("fashion-mnist parsed as a derived task")
	}
	ds := fashionSeg(t, "fashion-seg:train=8,test=4")
	ld, err := NewLoader(ds.Train, LoaderConfig{BatchSize: 4, Layout: NHWC, Workers: 1,
		Transform: Transform{Size: 64, CropRatio: 1}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ld.MakeBatch([]int{2, 3, 4, 5}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b.Shape != [4]int{4, 64, 64, 1} || len(b.Masks) != 4*64*64 {
		t.Fatalf("batch shape %v with %d mask values", b.Shape, len(b.Masks))
	}
	_, m := canvas(t, ds.Train, 3)
	for p, v := range m.Pix {
		if b.Masks[64*64+p] != int32(v) {
			t.Fatalf("batch mask of canvas 3 differs at pixel %d: %d, want %d", p, b.Masks[64*64+p], v)
		}
	}
}
