package datasets

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// cifarRecords makes n records; record i has label i%classes (CIFAR-100: coarse i%20, fine i%100) and
// R plane = i, G plane = 100+pixel%50, B plane = 200.
func cifarRecords(n int, c100 bool) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		if c100 {
			b.WriteByte(byte(i % 20))
			b.WriteByte(byte((i * 7) % 100))
		} else {
			b.WriteByte(byte(i % 10))
		}
		for p := 0; p < 1024; p++ {
			b.WriteByte(byte(i))
		}
		for p := 0; p < 1024; p++ {
			b.WriteByte(byte(100 + p%50))
		}
		for p := 0; p < 1024; p++ {
			b.WriteByte(200)
		}
	}
	return b.Bytes()
}

func TestReadCIFAR(t *testing.T) {
	dir := t.TempDir()
	p10 := filepath.Join(dir, "c10.bin")
	writeFile(t, p10, cifarRecords(13, false))
	s, err := ReadCIFAR(p10, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Labels) != 13 || s.Labels[12] != 2 || s.Coarse != nil {
		t.Fatalf("labels %v", s.Labels)
	}
	// Pixel (x=3, y=1) = index 35 of record 5: R 5, G 100+35%50, B 200, interleaved.
	o := 5*3072 + 35*3
	if s.Pix[o] != 5 || s.Pix[o+1] != 135 || s.Pix[o+2] != 200 {
		t.Fatalf("pixel %v", s.Pix[o:o+3])
	}
	p100 := filepath.Join(dir, "c100.bin")
	writeFile(t, p100, cifarRecords(3, true))
	s, err = ReadCIFAR(p100, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Labels) != 3 || s.Labels[2] != 14 || s.Coarse[2] != 2 {
		t.Fatalf("fine %v coarse %v", s.Labels, s.Coarse)
	}
}

func TestReadCIFARErrors(t *testing.T) {
	dir := t.TempDir()
	good := cifarRecords(2, false)
	badLabel := append([]byte(nil), good...)
	badLabel[3073] = 10
	bad100 := cifarRecords(2, true)
	bad100[1] = 100
	cases := []struct {
		name  string
		data  []byte
		c100  bool
		parts []string
	}{
		{"truncated", good[:len(good)-100], false, []string{"not a whole number of 3073-byte records", "truncated"}},
		{"empty", nil, false, []string{"empty file"}},
		{"label", badLabel, false, []string{"record 1", "label 10 out of range"}},
		{"label100", bad100, true, []string{"record 0", "fine 100"}},
		{"c10-as-c100", good, true, []string{"3074-byte records"}},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name+".bin")
		writeFile(t, p, c.data)
		_, err := ReadCIFAR(p, c.c100)
		wantErr(t, err, append([]string{p}, c.parts...)...)
	}
}

// writeCIFARLayout writes the official folder layout with a few records per file.
func writeCIFARLayout(t testing.TB, root, name string, perFile int) {
	s := cifarSpecs[name]
	c100 := name == "cifar100"
	for _, f := range append(append([]string(nil), s.train...), s.test...) {
		writeFile(t, filepath.Join(root, s.dir, f), cifarRecords(perFile, c100))
	}
}

func TestOpenCIFARLayouts(t *testing.T) {
	dir := t.TempDir()
	writeCIFARLayout(t, dir, "cifar10", 4)
	writeFile(t, filepath.Join(dir, "cifar-10-batches-bin", "batches.meta.txt"), []byte(strings.Join(cifar10Classes, "\n")+"\n\n"))
	ds, err := Open("cifar10", Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Train.Len() != 20 || ds.Test.Len() != 4 || ds.NumClasses != 10 || ds.ClassNames[0] != "airplane" || ds.Verified {
		t.Fatalf("cifar10: train %d test %d classes %v verified %v", ds.Train.Len(), ds.Test.Len(), ds.ClassNames, ds.Verified)
	}
	img, _ := ds.Train.Image(5)
	if img.H != 32 || img.C != 3 || img.Pix[0] != 1 || ds.Train.Label(5) != 1 {
		t.Fatalf("record 5 of the train split (record 1 of file 2) decoded wrong: label %d pix %v", ds.Train.Label(5), img.Pix[:3])
	}

	writeCIFARLayout(t, dir, "cifar100", 5)
	ds, err = Open("cifar100", Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if ds.NumClasses != 100 || ds.Train.Label(3) != 21 || ds.ClassNames[21] != "chimpanzee" {
		t.Fatalf("cifar100 fine: %d classes, label %d", ds.NumClasses, ds.Train.Label(3))
	}
	ds, err = Open("cifar100", Options{Dir: dir, Coarse: true})
	if err != nil {
		t.Fatal(err)
	}
	if ds.NumClasses != 20 || ds.Train.Label(3) != 3 || ds.ClassNames[19] != "vehicles_2" {
		t.Fatalf("cifar100 coarse: %d classes, label %d", ds.NumClasses, ds.Train.Label(3))
	}
	if len(cifar100Fine) != 100 || len(cifar100Coarse) != 20 {
		t.Fatalf("name lists: %d fine, %d coarse", len(cifar100Fine), len(cifar100Coarse))
	}

	// A truncated batch file in the layout is reported by Open with its path.
	bad := filepath.Join(dir, "cifar-10-batches-bin", "data_batch_3.bin")
	writeFile(t, bad, cifarRecords(4, false)[:5000])
	_, err = Open("cifar10", Options{Dir: dir})
	wantErr(t, err, bad, "whole number")
}

// cifarArchive builds a .tar.gz in the official layout.
func cifarArchive(t testing.TB, name string, perFile int) []byte {
	s := cifarSpecs[name]
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: s.dir + "/", Typeflag: tar.TypeDir, Mode: 0o755})
	for _, f := range append(append([]string(nil), s.train...), s.test...) {
		data := cifarRecords(perFile, name == "cifar100")
		tw.WriteHeader(&tar.Header{Name: s.dir + "/" + f, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))})
		tw.Write(data)
	}
	tw.Close()
	zw.Close()
	return b.Bytes()
}

// rangeServer serves content with Range support and records the Range headers it saw.
type rangeServer struct {
	mu      sync.Mutex
	content []byte
	ranges  []string
}

func (s *rangeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	c := s.content
	s.mu.Unlock()
	http.ServeContent(w, r, "x.tar.gz", time.Time{}, bytes.NewReader(c))
}

// withCIFARSpec points cifar10 at url with the checksums of content for the duration of the test.
func withCIFARSpec(t *testing.T, url string, content []byte, perFile int) {
	s := cifarSpecs["cifar10"]
	saved := *s
	m, h := md5.Sum(content), sha256.Sum256(content)
	s.archive = remoteFile{URL: url, Size: int64(len(content)), MD5: hex.EncodeToString(m[:]), SHA256: hex.EncodeToString(h[:])}
	s.fileSize = map[string]int64{}
	for _, f := range append(append([]string(nil), s.train...), s.test...) {
		s.fileSize[f] = int64(perFile * 3073)
	}
	t.Cleanup(func() { *s = saved })
}

func TestFetchCIFARResumesAndVerifies(t *testing.T) {
	content := cifarArchive(t, "cifar10", 3)
	srv := &rangeServer{content: content}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	withCIFARSpec(t, ts.URL+"/cifar-10-binary.tar.gz", content, 3)
	dir := t.TempDir()
	// A previous, interrupted download left the first half.
	half := len(content) / 2
	writeFile(t, filepath.Join(dir, "cifar-10-binary.tar.gz.part"), content[:half])
	ds, err := Open("cifar10", Options{Dir: dir, Download: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("bytes=%d-", half); len(srv.ranges) != 1 || srv.ranges[0] != want {
		t.Fatalf("server saw ranges %q, want one %q", srv.ranges, want)
	}
	if !ds.Verified || ds.Train.Len() != 15 || ds.Test.Len() != 3 {
		t.Fatalf("verified %v, %d/%d samples", ds.Verified, ds.Train.Len(), ds.Test.Len())
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) != 1 || filepath.Base(left[0]) != "cifar-10-batches-bin" {
		t.Fatalf("download left %v behind, want only the extracted folder", left)
	}
}

func TestFetchChecksumMismatchCachesNothing(t *testing.T) {
	content := cifarArchive(t, "cifar10", 2)
	srv := &rangeServer{content: content}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	withCIFARSpec(t, ts.URL+"/cifar-10-binary.tar.gz", content, 2)
	bad := append([]byte(nil), content...)
	bad[len(bad)/2] ^= 0x55
	srv.content = bad
	dir := t.TempDir()
	_, err := Open("cifar10", Options{Dir: dir, Download: true})
	wantErr(t, err, "checksum mismatch", "MD5", "removed")
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("a failed download left %v behind", left)
	}
	// The server is fixed: the next attempt starts from scratch and succeeds.
	srv.content = content
	if _, err := Open("cifar10", Options{Dir: dir, Download: true}); err != nil {
		t.Fatal(err)
	}
}

func TestFetchOffline(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there any more: connection refused, as without a network
	content := cifarArchive(t, "cifar10", 1)
	withCIFARSpec(t, "http://"+addr+"/cifar-10-binary.tar.gz", content, 1)
	dir := t.TempDir()
	_, err = Open("cifar10", Options{Dir: dir, Download: true, Timeout: 2 * time.Second})
	wantErr(t, err, "cifar10", "download http://"+addr, "no network")
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("left %v behind", left)
	}
}

func TestFetchNeverHangs(t *testing.T) {
	content := cifarArchive(t, "cifar10", 1)
	block := make(chan struct{})
	defer close(block)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stall" { // send half, then go silent
			w.Header().Set("Content-Length", fmt.Sprint(len(content)))
			w.Write(content[:len(content)/2])
			w.(http.Flusher).Flush()
		}
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer ts.Close()

	withCIFARSpec(t, ts.URL+"/silent", content, 1)
	start := time.Now()
	_, err := Open("cifar10", Options{Dir: t.TempDir(), Download: true, Timeout: 300 * time.Millisecond})
	wantErr(t, err, "no answer within 300ms")
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}

	withCIFARSpec(t, ts.URL+"/stall", content, 1)
	dir := t.TempDir()
	_, err = Open("cifar10", Options{Dir: dir, Download: true, Timeout: 300 * time.Millisecond})
	wantErr(t, err, "stalled", "run again to resume")
	st, serr := os.Stat(filepath.Join(dir, "stall.part")) // named after the URL
	if serr != nil || st.Size() != int64(len(content)/2) {
		t.Fatalf("partial file: %v %v", st, serr)
	}
	if _, err := os.Stat(filepath.Join(dir, "cifar-10-batches-bin")); err == nil {
		t.Fatal("an incomplete download was extracted")
	}
}

func TestFetchIDX(t *testing.T) {
	// A fake fashion-mnist: four tiny files served over HTTP with their published checksums.
	spec := idxSpecs["fashion-mnist"]
	saved := *spec
	t.Cleanup(func() { *spec = saved })
	spec.systemDirs = func() []string { return nil }
	t.Setenv(DataDirEnv, t.TempDir())
	files := map[string][]byte{}
	mux := http.NewServeMux()
	ts := httptest.NewServer(mux)
	defer ts.Close()
	for i := range spec.files {
		f := &spec.files[i]
		n := 3
		var raw []byte
		if f.magic == IDXImageMagic {
			raw = idxBytes(f.magic, []int{n, 28, 28}, bytes.Repeat([]byte{7}, n*784))
		} else {
			raw = idxBytes(f.magic, []int{n}, []byte{0, 9, 4})
		}
		z := gz(raw)
		files[f.name] = z
		h, m := sha256.Sum256(raw), md5.Sum(z)
		f.count, f.sha256 = n, hex.EncodeToString(h[:])
		f.remote = remoteFile{URL: ts.URL + "/" + f.name + ".gz", Size: int64(len(z)), MD5: hex.EncodeToString(m[:])}
		mux.HandleFunc("/"+f.name+".gz", func(w http.ResponseWriter, r *http.Request) {
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(files[f.name]))
		})
	}
	dir := t.TempDir()
	ds, err := Open("fashion-mnist", Options{Dir: dir, Download: true})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Train.Len() != 3 || ds.Train.Label(1) != 9 || !ds.Verified || ds.Location != filepath.Join(dir, "fashion-mnist") {
		t.Fatalf("got %+v", ds)
	}
	// Opening again uses the downloaded files without a network.
	ts.Close()
	if _, err := Open("fashion-mnist", Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
}
