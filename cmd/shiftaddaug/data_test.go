package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/datasets"
)

func runDataCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = runMain(append([]string{"data"}, args...), &o, &e)
	return code, o.String(), e.String()
}

func TestDataList(t *testing.T) {
	code, stdout, stderr := runDataCmd(t, "list", "--data-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"fashion-mnist  verified   " + datasets.FashionMNISTDebianDir, "mnist          verified", "cifar10        missing", "voc:", "openeds:",
		"fashion-seg    derived", "mnist-seg      derived"} {
		if !strings.Contains(stdout, want) {
			t.Fatalf("list output lacks %q (run scripts/setup if a dataset is missing):\n%s", want, stdout)
		}
	}
	if code, _, stderr := runDataCmd(t, "list", "--bogus"); code != 1 || !strings.Contains(stderr, "-bogus") {
		t.Fatalf("bad flag: exit %d %q, want 1 and a message naming the flag", code, stderr)
	}
	if code, stdout, _ := runDataCmd(t, "--help"); code != 0 || !strings.Contains(stdout, "data show NAME") {
		t.Fatalf("--help: exit %d %q", code, stdout)
	}
}

func TestDataShow(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "grid.png")
	code, stdout, stderr := runDataCmd(t, "show", "fashion-mnist", "--n", "6", "--split", "test", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "wrote "+out+": 6 test samples of fashion-mnist") {
		t.Fatalf("stdout %q", stdout)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// 6 samples: 3 columns x 2 rows of tiles.
	if b := img.Bounds(); b.Dx() != 3*(tileSide+tileGap)+tileGap || b.Dy() != 2*(tileSide+labelH+tileGap)+tileGap {
		t.Fatalf("grid is %v", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}
	// Flags before the name, a segmentation folder.
	code, _, stderr = runDataCmd(t, "show", "--n", "2", "--out", filepath.Join(dir, "voc.png"), "voc:"+datasets.LabelmeVOCDir)
	if code != 0 {
		t.Fatalf("voc: exit %d: %s (run scripts/setup to install labelme-examples)", code, stderr)
	}
}

func TestDataErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"show"}, "missing dataset NAME"},
		{[]string{"show", "nope"}, `unknown dataset "nope"`},
		{[]string{"show", "mnist", "cifar10"}, `unexpected argument "cifar10"`},
		{[]string{"show", "fashion-mnist", "--n", "0"}, "--n must be in 1..1024"},
		{[]string{"show", "fashion-mnist", "--split", "val"}, "--split must be train or test"},
		{[]string{"show", "imagefolder:" + dir}, "no class folders and no images"},
		{[]string{"show", "cifar100", "--data-dir", dir}, "shiftaddaug data fetch cifar100"},
		{[]string{"fetch", "imagefolder:" + dir}, "nothing to fetch"},
		{[]string{"frobnicate"}, "unknown data subcommand"},
	}
	for _, c := range cases {
		code, _, stderr := runDataCmd(t, c.args...)
		if code != 1 || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and one line containing %q", c.args, code, stderr, c.want)
		}
	}
}

func TestDataFetch(t *testing.T) {
	code, stdout, stderr := runDataCmd(t, "fetch", "fashion-mnist")
	if code != 0 || !strings.Contains(stdout, "fashion-mnist: already here") || !strings.Contains(stdout, "verified true") {
		t.Fatalf("exit %d %q %q (run scripts/setup)", code, stdout, stderr)
	}
	// Without a network (a proxy nobody listens on stands in for one): a one-line error, nothing cached.
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
	t.Setenv("https_proxy", "http://127.0.0.1:1")
	dir := t.TempDir()
	code, _, stderr = runDataCmd(t, "fetch", "cifar10", "--dir", dir, "--timeout", "2s")
	if code != 1 || !strings.Contains(stderr, "cifar-10-binary.tar.gz") || !strings.Contains(stderr, "no network") {
		t.Fatalf("offline fetch: exit %d, %q", code, stderr)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("a failed fetch left %v", ents)
	}
}
