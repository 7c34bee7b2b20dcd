package datasets

import (
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
)

const labelmeVOCDir = LabelmeVOCDir

func maskClasses(m Mask) []int {
	seen := map[int]bool{}
	for _, v := range m.Pix {
		seen[int(v)] = true
	}
	var out []int
	for v := range seen {
		out = append(out, v)
	}
	sort.Ints(out)
	return out
}

func TestVOCRealImages(t *testing.T) {
	if _, err := os.Stat(labelmeVOCDir); err != nil {
		t.Fatalf("the labelme VOC examples are not installed: run scripts/setup (it installs labelme-examples): %v", err)
	}
	ds, err := Open("voc:"+labelmeVOCDir, Options{ValFraction: -1})
	if err != nil {
		t.Fatal(err)
	}
	if !ds.Segmentation || ds.NumClasses != 21 || ds.ClassNames[15] != "person" || ds.Train.Len() != 3 || ds.Test.Len() != 0 {
		t.Fatalf("dataset: %+v", ds)
	}
	src := ds.Train.(MaskSource)
	want := []struct {
		w, h    int
		classes []int
	}{
		{500, 338, []int{0, 5, 15, 255}},
		{500, 375, []int{0, 9, 15, 18, 255}},
		{500, 375, []int{0, 6, 7}},
	}
	conf := NewConfusion(ds.NumClasses)
	for i, w := range want {
		img, err := src.Image(i)
		if err != nil {
			t.Fatal(err)
		}
		m, err := src.Mask(i)
		if err != nil {
			t.Fatal(err)
		}
		if img.W != w.w || img.H != w.h || m.W != w.w || m.H != w.h {
			t.Fatalf("sample %d: image %dx%d mask %dx%d, want %dx%d", i, img.W, img.H, m.W, m.H, w.w, w.h)
		}
		if got := maskClasses(m); !reflect.DeepEqual(got, w.classes) {
			t.Fatalf("sample %d: mask classes %v, want %v", i, got, w.classes)
		}
		target := make([]int32, len(m.Pix))
		for k, v := range m.Pix {
			target[k] = int32(v)
		}
		if err := conf.Add(target, target); err != nil {
			t.Fatal(err)
		}
	}
	if got := conf.MeanIoU(); got != 1 {
		t.Fatalf("mIoU of the masks against themselves: %v", got)
	}
	if iou := conf.IoU(); !math.IsNaN(iou[1]) || iou[5] != 1 {
		t.Fatalf("IoU %v", iou)
	}

	// The pipeline crops image and mask together: 64x64 eval batches of all three.
	_, ev := DefaultTransforms(ds, 64)
	ld, err := NewLoader(ds.Train, LoaderConfig{BatchSize: 3, Transform: ev, Layout: NHWC})
	if err != nil {
		t.Fatal(err)
	}
	it := ld.Epoch(0)
	defer it.Close()
	b, err := it.Next()
	if err != nil {
		t.Fatal(err)
	}
	if b.Shape != [4]int{3, 64, 64, 3} || len(b.Masks) != 3*64*64 || b.Labels[0] != -1 {
		t.Fatalf("batch shape %v, %d mask values", b.Shape, len(b.Masks))
	}
	bus := 0
	for _, v := range b.Masks[2*64*64:] {
		if v == 6 {
			bus++
		}
	}
	if bus == 0 {
		t.Fatal("the bus (class 6) of 2011_000025 vanished from its transformed mask")
	}
}

// writeVOC writes a VOC folder with ids of size w x h; mask pixel (x, y) is class (x/4)%3, the top row 255.
func writeVOC(t testing.TB, root string, ids []string, w, h int) {
	pal := VOCPalette()
	for _, id := range ids {
		writeJPEG(t, filepath.Join(root, "JPEGImages", id+".jpg"), testImage(w, h, 90))
		m := image.NewPaletted(image.Rect(0, 0, w, h), pal)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := uint8((x / 4) % 3)
				if y == 0 {
					v = 255
				}
				m.SetColorIndex(x, y, v)
			}
		}
		writePNG(t, filepath.Join(root, "SegmentationClass", id+".png"), m)
	}
}

func TestVOCGenerated(t *testing.T) {
	root := t.TempDir()
	writeVOC(t, root, []string{"a", "b", "c", "d"}, 24, 12)
	writeFile(t, filepath.Join(root, "ImageSets", "Segmentation", "train.txt"), []byte("a\nb\nc\n"))
	writeFile(t, filepath.Join(root, "ImageSets", "Segmentation", "val.txt"), []byte("d\n"))
	ds, err := OpenVOC(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Train.Len() != 3 || ds.Test.Len() != 1 || ds.NumClasses != 21 || ds.ClassNames[0] != "background" {
		t.Fatalf("%+v", ds)
	}
	m, err := ds.Test.(MaskSource).Mask(0)
	if err != nil || m.Pix[0] != 255 || m.Pix[24+5] != 1 || m.Pix[24+9] != 2 {
		t.Fatalf("mask: %v %v", err, m.Pix[:40])
	}

	// Colour (RGB) masks in VOC colours decode to the same indices.
	rgb := image.NewRGBA(image.Rect(0, 0, 24, 12))
	for y := 0; y < 12; y++ {
		for x := 0; x < 24; x++ {
			rgb.Set(x, y, VOCPalette()[m.Pix[y*24+x]])
		}
	}
	writePNG(t, filepath.Join(root, "SegmentationClass", "d.png"), rgb)
	m2, err := ds.Test.(MaskSource).Mask(0)
	if err != nil || !reflect.DeepEqual(m.Pix, m2.Pix) {
		t.Fatalf("RGB mask: %v", err)
	}
}

func TestVOCBadInput(t *testing.T) {
	root := t.TempDir()
	writeVOC(t, root, []string{"a", "b"}, 16, 8)
	// A mask whose size differs from its image.
	writePNG(t, filepath.Join(root, "SegmentationClass", "b.png"), image.NewPaletted(image.Rect(0, 0, 15, 8), VOCPalette()))
	_, err := OpenVOC(root, Options{})
	wantErr(t, err, filepath.Join(root, "SegmentationClass", "b.png"), "is 15x8 but its image", filepath.Join(root, "JPEGImages", "b.jpg"), "16x8")

	// A value that is neither a class nor 255.
	bad := image.NewPaletted(image.Rect(0, 0, 16, 8), VOCPalette())
	bad.SetColorIndex(3, 2, 40)
	writePNG(t, filepath.Join(root, "SegmentationClass", "b.png"), bad)
	ds, err := OpenVOC(root, Options{ValFraction: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ds.Train.(MaskSource).Mask(1)
	wantErr(t, err, "b.png", "pixel (3,2) has value 40")

	// An undecodable mask; a colour that is not in the palette.
	writeFile(t, filepath.Join(root, "SegmentationClass", "b.png"), []byte("\x89PNG broken"))
	_, err = OpenVOC(root, Options{})
	wantErr(t, err, filepath.Join(root, "SegmentationClass", "b.png"), "not a valid JPEG/PNG")
	odd := image.NewRGBA(image.Rect(0, 0, 16, 8))
	odd.Set(1, 1, color.RGBA{1, 2, 3, 255})
	p := filepath.Join(t.TempDir(), "odd.png")
	writePNG(t, p, odd)
	_, err = DecodeMaskFile(p, 21)
	wantErr(t, err, p, "not in the VOC palette")

	// A split listing a missing image; a folder without masks.
	writeVOC(t, root, []string{"b"}, 16, 8)
	writeFile(t, filepath.Join(root, "ImageSets", "Segmentation", "train.txt"), []byte("a\nzz\n"))
	_, err = OpenVOC(root, Options{})
	wantErr(t, err, "zz", "train.txt")
	_, err = OpenVOC(t.TempDir(), Options{})
	wantErr(t, err, "no JPEGImages folder")
}

func TestMeanIoU(t *testing.T) {
	c := NewConfusion(3)
	target := []int32{0, 0, 1, 1, 2, 255, 255}
	pred := []int32{0, 1, 1, 1, 0, 2, 9} // predictions on ignored pixels do not count, even invalid ones
	if err := c.Add(target, pred); err != nil {
		t.Fatal(err)
	}
	// class 0: tp 1, fp 1 (the 2), fn 1 -> 1/3; class 1: tp 2, fp 1 -> 2/3; class 2: tp 0, fn 1 -> 0.
	iou := c.IoU()
	want := []float64{1.0 / 3, 2.0 / 3, 0}
	for i := range want {
		if math.Abs(iou[i]-want[i]) > 1e-12 {
			t.Fatalf("IoU %v, want %v", iou, want)
		}
	}
	if m := c.MeanIoU(); math.Abs(m-1.0/3) > 1e-12 {
		t.Fatalf("mIoU %v", m)
	}
	if a := c.PixelAccuracy(); math.Abs(a-0.6) > 1e-12 {
		t.Fatalf("pixel accuracy %v", a)
	}
	wantErr(t, c.Add([]int32{0}, []int32{3}), "prediction 3")
	wantErr(t, c.Add([]int32{0}, nil), "1 targets but 0 predictions")
}
