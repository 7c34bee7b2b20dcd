package datasets

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func openInstalled(t *testing.T, name string) *Dataset {
	t.Helper()
	ds, err := Open(name, Options{Dir: t.TempDir()})
	if errors.Is(err, ErrNotFound) {
		t.Fatalf("%s is not installed on this machine: run scripts/setup first (%v)", name, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func classCounts(src Source, n int) []int {
	c := make([]int, n)
	for i := 0; i < src.Len(); i++ {
		c[src.Label(i)]++
	}
	return c
}

func TestFashionMNISTFull(t *testing.T) {
	ds := openInstalled(t, "fashion-mnist")
	if ds.Train.Len() != 60000 || ds.Test.Len() != 10000 {
		t.Fatalf("splits %d/%d, want 60000/10000", ds.Train.Len(), ds.Test.Len())
	}
	if !ds.Verified || ds.NumClasses != 10 || ds.Shape != (Shape{28, 28, 1}) || ds.ClassNames[9] != "Ankle boot" {
		t.Fatalf("dataset facts wrong: %+v", ds)
	}
	for c, n := range classCounts(ds.Train, 10) {
		if n != 6000 {
			t.Errorf("train class %d has %d images, want 6000", c, n)
		}
	}
	for c, n := range classCounts(ds.Test, 10) {
		if n != 1000 {
			t.Errorf("test class %d has %d images, want 1000", c, n)
		}
	}
	if ds.Train.Label(0) != 9 {
		t.Errorf("first train label %d, want 9 (ankle boot)", ds.Train.Label(0))
	}
	img, _ := ds.Train.Image(0)
	if img.H != 28 || img.W != 28 || img.C != 1 {
		t.Fatalf("image shape %dx%dx%d", img.H, img.W, img.C)
	}
}

func TestMNISTFull(t *testing.T) {
	ds := openInstalled(t, "mnist")
	want := map[Source][]int{
		ds.Train: {5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949},
		ds.Test:  {980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009},
	}
	for src, w := range want {
		got := classCounts(src, 10)
		for c := range w {
			if got[c] != w[c] {
				t.Errorf("class %d: %d images, want %d", c, got[c], w[c])
			}
		}
	}
	if ds.Train.Len() != 60000 || ds.Test.Len() != 10000 || !ds.Verified {
		t.Fatalf("splits %d/%d verified %v", ds.Train.Len(), ds.Test.Len(), ds.Verified)
	}
}

func TestReadIDX(t *testing.T) {
	dir := t.TempDir()
	data := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	raw := idxBytes(IDXImageMagic, []int{3, 2, 2}, data)
	sum := sha256.Sum256(raw)
	good := filepath.Join(dir, "good.gz")
	writeFile(t, good, gz(raw))
	a, err := ReadIDX(good, IDXImageMagic, hex.EncodeToString(sum[:]))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Dims) != 3 || a.Dims[0] != 3 || a.Data[11] != 12 {
		t.Fatalf("got %+v", a)
	}
	plain := filepath.Join(dir, "plain")
	writeFile(t, plain, raw)
	if _, err := ReadIDX(plain, 0, ""); err != nil {
		t.Fatal(err)
	}

	gzRaw := gz(raw)
	corrupt := append([]byte(nil), gzRaw...)
	corrupt[len(corrupt)-6] ^= 0xff // breaks the gzip CRC/length trailer
	cases := []struct {
		name  string
		file  []byte
		magic uint32
		sha   string
		want  []string
	}{
		{"wrong-magic", gz(idxBytes(IDXLabelMagic, []int{12}, data)), IDXImageMagic, "", []string{"wrong magic number 2049"}},
		{"not-idx", gz([]byte("hello world, not idx")), 0, "", []string{"wrong magic number", "not an IDX file"}},
		{"truncated-data", gz(raw[:len(raw)-3]), 0, "", []string{"truncated", "promises 12 data bytes", "read 9"}},
		{"truncated-gzip", gzRaw[:len(gzRaw)/2], 0, "", []string{"unexpected end of file"}},
		{"corrupt-gzip", corrupt, 0, "", []string{"corrupt"}},
		{"extra-bytes", gz(append(append([]byte(nil), raw...), 0, 0)), 0, "", []string{"2 bytes after"}},
		{"checksum", gzRaw, 0, "00" + hex.EncodeToString(sum[1:]), []string{"checksum mismatch", "SHA-256"}},
		{"empty", nil, 0, "", []string{"truncated", "magic"}},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name+".gz")
		writeFile(t, p, c.file)
		_, err := ReadIDX(p, c.magic, c.sha)
		wantErr(t, err, append([]string{p}, c.want...)...)
	}
}

// A folder with well-formed but different IDX files must not pass as Fashion-MNIST.
func TestOpenIDXRejectsWrongContent(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "fashion-mnist")
	for _, f := range idxSpecs["fashion-mnist"].files {
		var raw []byte
		if f.magic == IDXImageMagic {
			raw = idxBytes(f.magic, []int{2, 28, 28}, make([]byte, 2*784))
		} else {
			raw = idxBytes(f.magic, []int{2}, []byte{1, 2})
		}
		writeFile(t, filepath.Join(sub, f.name+".gz"), gz(raw))
	}
	_, err := Open("fashion-mnist", Options{Dir: dir})
	wantErr(t, err, filepath.Join(sub, "train-images-idx3-ubyte.gz"), "checksum mismatch")
}

func TestOpenIDXNotFound(t *testing.T) {
	spec := idxSpecs["fashion-mnist"]
	saved := spec.systemDirs
	spec.systemDirs = func() []string { return nil }
	defer func() { spec.systemDirs = saved }()
	t.Setenv(DataDirEnv, t.TempDir())
	_, err := Open("fashion-mnist", Options{Dir: t.TempDir()})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
	wantErr(t, err, "scripts/setup", "dataset-fashion-mnist")
}

func TestGoMNISTDataDir(t *testing.T) {
	d := GoMNISTDataDir()
	if d == "" {
		t.Fatal("module cache not found")
	}
	if _, err := os.Stat(d); err != nil {
		t.Fatalf("GoMNIST data not in the module cache: run scripts/setup (%v)", err)
	}
}
