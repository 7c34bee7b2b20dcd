package datasets

import (
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// greyPNG is a w x h 8-bit grey image with pixel (x, y) = f(x, y).
func greyPNG(w, h int, f func(x, y int) uint8) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			g.SetGray(x, y, color.Gray{f(x, y)})
		}
	}
	return g
}

// eyeMask is an OpenEDS-like mask: class (x/5)%4 by columns, the bottom row ignored (255).
func eyeMask(w, h int) *image.Gray {
	return greyPNG(w, h, func(x, y int) uint8 {
		if y == h-1 {
			return IgnoreIndex
		}
		return uint8((x / 5) % 4)
	})
}

// writeMaskFolder writes dir/images/STEM.png (grey, value 10*k+x) and dir/masks/STEM.png for each stem.
func writeMaskFolder(t *testing.T, dir string, stems []string, w, h int) {
	for k, s := range stems {
		writePNG(t, filepath.Join(dir, "images", s+".png"), greyPNG(w, h, func(x, y int) uint8 { return uint8(10*k + x) }))
		writePNG(t, filepath.Join(dir, "masks", s+".png"), eyeMask(w, h))
	}
}

// TestMaskFolderReads: a pooled images/+masks/ folder opens with OpenEDS's four classes, pairs each image with
// the mask of its stem (pixels and classes as written, 255 kept), holds out ValFraction, and feeds the loader
// [N,H,W,C] images with [N,H,W] masks; train/ + validation/ folders give those splits; class_names.txt
// overrides the classes.
func TestMaskFolderReads(t *testing.T) {
	root := t.TempDir()
	writeMaskFolder(t, root, []string{"000002", "000000", "000001"}, 20, 16)
	ds, err := Open("openeds:"+root, Options{ValFraction: -1})
	if err != nil {
		t.Fatal(err)
	}
	if !ds.Segmentation || ds.NumClasses != 4 || ds.ClassNames[3] != "pupil" || ds.Train.Len() != 3 || ds.Test.Len() != 0 {
		t.Fatalf("dataset %+v", ds)
	}
	src := ds.Train.(MaskSource)
	for i, k := range []int{1, 2, 0} { // sorted by file: 000000 was written second
		img, err := src.Image(i)
		if err != nil {
			t.Fatal(err)
		}
		m, err := src.Mask(i)
		if err != nil {
			t.Fatal(err)
		}
		if img.W != 20 || img.H != 16 || img.C != 3 || m.W != 20 || m.H != 16 {
			t.Fatalf("sample %d: image %dx%dx%d mask %dx%d", i, img.W, img.H, img.C, m.W, m.H)
		}
		if got := img.At(7, 3, 1); got != uint8(10*k+7) {
			t.Fatalf("sample %d is not its file's image: pixel %d, want %d", i, got, 10*k+7)
		}
		if m.Pix[3*20+7] != 1 || m.Pix[3*20+16] != 3 || m.Pix[15*20+2] != IgnoreIndex {
			t.Fatalf("sample %d mask values %d %d %d", i, m.Pix[3*20+7], m.Pix[3*20+16], m.Pix[15*20+2])
		}
	}
	_, ev := SegTransforms(ds, 16)
	ld, err := NewLoader(ds.Train, LoaderConfig{BatchSize: 3, Layout: NHWC, Workers: 1, Transform: ev})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ld.MakeBatch([]int{0, 1, 2}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b.Shape != [4]int{3, 16, 16, 3} || len(b.Masks) != 3*16*16 {
		t.Fatalf("batch %v with %d mask values", b.Shape, len(b.Masks))
	}
	if held, _ := Open("openeds:"+root, Options{}); held.Train.Len() != 2 || held.Test.Len() != 1 {
		t.Fatalf("default hold-out: %d train, %d test", held.Train.Len(), held.Test.Len())
	}

	split := t.TempDir()
	writeMaskFolder(t, filepath.Join(split, "train"), []string{"a", "b"}, 12, 10)
	writeMaskFolder(t, filepath.Join(split, "validation"), []string{"c"}, 12, 10)
	writeFile(t, filepath.Join(split, "class_names.txt"), []byte("bg\nsclera\niris\npupil\neyelid\n"))
	ds, err = Open("openeds:"+split, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Train.Len() != 2 || ds.Test.Len() != 1 || ds.NumClasses != 5 || ds.ClassNames[4] != "eyelid" {
		t.Fatalf("split folder: %d train, %d test, classes %v", ds.Train.Len(), ds.Test.Len(), ds.ClassNames)
	}
	if img, _ := ds.Test.(*vocSource).Files(0); filepath.Base(img) != "c.png" {
		t.Fatalf("test image %s", img)
	}
}

// TestMaskFolderBadInput: each bad input is refused with a one-line error naming the file at fault.
func TestMaskFolderBadInput(t *testing.T) {
	oneLineErr := func(err error, parts ...string) {
		t.Helper()
		wantErr(t, err, parts...)
		if strings.Contains(err.Error(), "\n") {
			t.Fatalf("error spans lines: %q", err)
		}
	}
	// A mask whose size differs from its image: refused on open.
	root := t.TempDir()
	writeMaskFolder(t, root, []string{"a", "b"}, 20, 16)
	bad := filepath.Join(root, "masks", "b.png")
	writePNG(t, bad, eyeMask(20, 15))
	_, err := Open("openeds:"+root, Options{})
	oneLineErr(err, "mask "+bad+" is 20x15 but its image "+filepath.Join(root, "images", "b.png")+" is 20x16")

	// A class beyond the class count (255 is allowed, 4 is not with four classes): refused on use.
	root = t.TempDir()
	writeMaskFolder(t, root, []string{"a", "b"}, 20, 16)
	bad = filepath.Join(root, "masks", "b.png")
	writePNG(t, bad, greyPNG(20, 16, func(x, y int) uint8 { return uint8(min(x/4, 4)) }))
	ds, err := Open("openeds:"+root, Options{ValFraction: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ds.Train.(MaskSource).Mask(0); err != nil {
		t.Fatalf("the good mask (with 255s) was refused: %v", err)
	}
	_, err = ds.Train.(MaskSource).Mask(1)
	oneLineErr(err, bad, "pixel (16,0) has value 4", "below 4")
	ld, _ := NewLoader(ds.Train, LoaderConfig{BatchSize: 2, Transform: Transform{Size: 8}, Workers: 1})
	_, err = ld.MakeBatch([]int{0, 1}, 0, 0)
	oneLineErr(err, bad) // the loader passes the error on, still naming the file

	// An image without a mask, and a mask without an image.
	root = t.TempDir()
	writeMaskFolder(t, root, []string{"a", "b"}, 20, 16)
	lonely := filepath.Join(root, "images", "c.jpg")
	writeJPEG(t, lonely, testImage(20, 16, 5))
	_, err = Open("openeds:"+root, Options{})
	oneLineErr(err, "image "+lonely+" has no mask", filepath.Join(root, "masks", "c.png"))
	os.Remove(lonely)
	stray := filepath.Join(root, "masks", "z.png")
	writePNG(t, stray, eyeMask(20, 16))
	_, err = Open("openeds:"+root, Options{})
	oneLineErr(err, "mask "+stray+" has no image")

	// Missing folders, a corrupt image, an ambiguous stem.
	oneLineErr(func() error { _, err := Open("openeds:"+filepath.Join(root, "nope"), Options{}); return err }(), "nope is not a folder")
	empty := t.TempDir()
	oneLineErr(func() error { _, err := Open("openeds:"+empty, Options{}); return err }(), empty, "no images/ folder")
	root = t.TempDir()
	writeMaskFolder(t, root, []string{"a"}, 20, 16)
	corrupt := filepath.Join(root, "images", "a.png")
	writeFile(t, corrupt, []byte("not a png"))
	_, err = Open("openeds:"+root, Options{})
	oneLineErr(err, corrupt, "not a valid JPEG/PNG")
	writePNG(t, corrupt, greyPNG(20, 16, func(x, y int) uint8 { return 1 }))
	writeJPEG(t, filepath.Join(root, "images", "a.jpg"), testImage(20, 16, 5))
	_, err = Open("openeds:"+root, Options{})
	oneLineErr(err, "share the stem \"a\"")
}
