package datasets

import (
	"image"
	"image/color"
	"path/filepath"
	"sort"
	"testing"
)

// makeClassFolder writes root/CLASS/imgK.{png,jpg} for the given classes, n images each.
func makeClassFolder(t testing.TB, root string, classes []string, n int) {
	for ci, c := range classes {
		for k := 0; k < n; k++ {
			img := testImage(20+k, 16, uint8(40*ci))
			if k%2 == 0 {
				writePNG(t, filepath.Join(root, c, "img"+string(rune('a'+k))+".png"), img)
			} else {
				writeJPEG(t, filepath.Join(root, c, "img"+string(rune('a'+k))+".jpg"), img)
			}
		}
	}
}

func TestImageFolderHoldout(t *testing.T) {
	root := t.TempDir()
	makeClassFolder(t, root, []string{"dog", "cat", "bird"}, 10)
	writeFile(t, filepath.Join(root, "cat", "notes.txt"), []byte("not an image"))
	ds, err := Open("imagefolder:"+root, Options{ValFraction: 0.2, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if ds.NumClasses != 3 || ds.ClassNames[0] != "bird" || ds.ClassNames[2] != "dog" {
		t.Fatalf("classes %v", ds.ClassNames)
	}
	if ds.Train.Len() != 24 || ds.Test.Len() != 6 {
		t.Fatalf("split %d/%d, want 24/6", ds.Train.Len(), ds.Test.Len())
	}
	if got := classCounts(ds.Test, 3); got[0] != 2 || got[1] != 2 || got[2] != 2 {
		t.Fatalf("test classes %v", got)
	}
	// Deterministic in the seed.
	again, _ := Open("imagefolder:"+root, Options{ValFraction: 0.2, Seed: 3})
	for i := 0; i < ds.Test.Len(); i++ {
		if ds.Test.(*folderSource).Path(i) != again.Test.(*folderSource).Path(i) {
			t.Fatal("holdout differs between two opens with the same seed")
		}
	}
	// Decoding: PNG exactly, JPEG approximately; class "cat" has R = 40.
	for i := 0; i < ds.Train.Len(); i++ {
		img, err := ds.Train.Image(i)
		if err != nil {
			t.Fatal(err)
		}
		if img.C != 3 || img.H != 16 {
			t.Fatalf("image %d is %dx%dx%d", i, img.W, img.H, img.C)
		}
		if ds.Train.Label(i) == 1 {
			if r := int(img.At(5, 5, 0)); r < 35 || r > 45 {
				t.Fatalf("cat image red %d, want about 40", r)
			}
		}
	}
	none, err := Open("imagefolder:"+root, Options{ValFraction: -1})
	if err != nil || none.Train.Len() != 30 || none.Test.Len() != 0 {
		t.Fatalf("no holdout: %v %d", err, none.Train.Len())
	}
}

func TestImageFolderSplits(t *testing.T) {
	// ImageNet style: train/ and val/.
	root := t.TempDir()
	makeClassFolder(t, filepath.Join(root, "train"), []string{"a", "b"}, 3)
	makeClassFolder(t, filepath.Join(root, "val"), []string{"a", "b"}, 1)
	ds, err := OpenImageFolder(root, Options{})
	if err != nil || ds.Train.Len() != 6 || ds.Test.Len() != 2 {
		t.Fatalf("train/val: %v", err)
	}

	// Food-101 style.
	food := t.TempDir()
	makeClassFolder(t, filepath.Join(food, "images"), []string{"apple_pie", "sushi"}, 3)
	writeFile(t, filepath.Join(food, "meta", "train.txt"), []byte("apple_pie/imga\napple_pie/imgb\nsushi/imga\nsushi/imgc\n"))
	writeFile(t, filepath.Join(food, "meta", "test.txt"), []byte("apple_pie/imgc\nsushi/imgb\n"))
	ds, err = OpenImageFolder(food, Options{})
	if err != nil || ds.Train.Len() != 4 || ds.Test.Len() != 2 || ds.Test.Label(1) != 1 {
		t.Fatalf("food101: %v", err)
	}
	if p := ds.Train.(*folderSource).Path(1); filepath.Base(p) != "imgb.jpg" {
		t.Fatalf("extension not resolved: %s", p)
	}
	writeFile(t, filepath.Join(food, "meta", "test.txt"), []byte("apple_pie/imgz\n"))
	_, err = OpenImageFolder(food, Options{})
	wantErr(t, err, filepath.Join(food, "meta", "test.txt")+":1", "no image file")

	// Oxford-IIIT Pets style.
	pets := t.TempDir()
	for _, n := range []string{"Abyssinian_1", "Abyssinian_2", "great_pyrenees_1", "great_pyrenees_7"} {
		writeJPEG(t, filepath.Join(pets, "images", n+".jpg"), testImage(8, 8, 1))
	}
	writeFile(t, filepath.Join(pets, "annotations", "trainval.txt"), []byte("#Image CLASS-ID SPECIES BREED ID\nAbyssinian_1 1 1 1\ngreat_pyrenees_1 2 2 1\n"))
	writeFile(t, filepath.Join(pets, "annotations", "test.txt"), []byte("Abyssinian_2 1 1 1\ngreat_pyrenees_7 2 2 1\n"))
	ds, err = OpenImageFolder(pets, Options{})
	if err != nil || ds.NumClasses != 2 || ds.ClassNames[1] != "great_pyrenees" || ds.Test.Label(1) != 1 {
		t.Fatalf("pets: %v %v", err, ds)
	}

	// Generic split files.
	gen := t.TempDir()
	makeClassFolder(t, gen, []string{"x", "y"}, 2)
	writeFile(t, filepath.Join(gen, "train.txt"), []byte("x/imga.png\ny/imga.png\n"))
	writeFile(t, filepath.Join(gen, "val.txt"), []byte("x/imgb.jpg\ny/imgb\n"))
	ds, err = OpenImageFolder(gen, Options{})
	if err != nil || ds.Train.Len() != 2 || ds.Test.Len() != 2 {
		t.Fatalf("generic lists: %v", err)
	}
}

func TestImageFolderBadInput(t *testing.T) {
	empty := t.TempDir()
	_, err := Open("imagefolder:"+empty, Options{})
	wantErr(t, err, empty, "no class folders and no images")

	noImages := t.TempDir()
	writeFile(t, filepath.Join(noImages, "cls", "readme.txt"), []byte("x"))
	_, err = Open("imagefolder:"+noImages, Options{})
	wantErr(t, err, filepath.Join(noImages, "cls"), "no JPEG or PNG images")

	_, err = Open("imagefolder:"+filepath.Join(empty, "missing"), Options{})
	wantErr(t, err, "missing", "no such file")

	// An undecodable image and a truncated PNG are reported with their paths by the source and the loader.
	root := t.TempDir()
	makeClassFolder(t, root, []string{"a"}, 2)
	bad := filepath.Join(root, "a", "broken.jpg")
	writeFile(t, bad, []byte("this is not a jpeg"))
	ds, err := Open("imagefolder:"+root, Options{ValFraction: -1})
	if err != nil {
		t.Fatal(err)
	}
	files := ds.Train.(*folderSource).files
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	_, err = ds.Train.Image(0)
	wantErr(t, err, bad, "cannot decode")

	var pngBytes []byte
	{
		g := image.NewGray(image.Rect(0, 0, 40, 40))
		for i := range g.Pix {
			g.Pix[i] = uint8(i * 7)
		}
		p := filepath.Join(t.TempDir(), "full.png")
		writePNG(t, p, g)
		pngBytes = readAll(t, p)
	}
	trunc := filepath.Join(t.TempDir(), "trunc.png")
	writeFile(t, trunc, pngBytes[:len(pngBytes)/2])
	_, err = DecodeImageFile(trunc)
	wantErr(t, err, trunc, "cannot decode")

	ld, err := NewLoader(ds.Train, LoaderConfig{BatchSize: 2, Transform: EvalTransform(8), Indices: []int{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	it := ld.Epoch(0)
	defer it.Close()
	if _, err := it.Next(); err != nil {
		t.Fatal(err)
	}
	ld, _ = NewLoader(ds.Train, LoaderConfig{BatchSize: 2, Transform: EvalTransform(8), Indices: []int{1, 0}})
	it2 := ld.Epoch(0)
	defer it2.Close()
	_, err = it2.Next()
	wantErr(t, err, bad, "cannot decode")
}

func TestDecodeGreyAndPalette(t *testing.T) {
	dir := t.TempDir()
	g := image.NewGray(image.Rect(0, 0, 3, 2))
	g.Pix = []uint8{0, 50, 100, 150, 200, 250}
	writePNG(t, filepath.Join(dir, "g.png"), g)
	img, err := DecodeImageFile(filepath.Join(dir, "g.png"))
	if err != nil || img.C != 3 || img.At(2, 1, 0) != 250 || img.At(2, 1, 2) != 250 {
		t.Fatalf("grey: %v %+v", err, img)
	}
	p := image.NewPaletted(image.Rect(0, 0, 2, 2), color.Palette{color.RGBA{10, 20, 30, 255}, color.RGBA{40, 50, 60, 255}})
	p.Pix = []uint8{0, 1, 1, 0}
	writePNG(t, filepath.Join(dir, "p.png"), p)
	img, err = DecodeImageFile(filepath.Join(dir, "p.png"))
	if err != nil || img.At(1, 0, 1) != 50 {
		t.Fatalf("palette: %v %+v", err, img)
	}
}
