package datasets

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// CIFARRecordSize returns the size of one binary record: 1 label byte (CIFAR-10) or 2 (CIFAR-100: coarse,
// fine), then 3,072 pixel bytes (R plane, G plane, B plane, each 32x32 row-major).
func CIFARRecordSize(cifar100 bool) int {
	if cifar100 {
		return 2 + 3072
	}
	return 1 + 3072
}

// CIFARSet holds decoded CIFAR records: images as 32x32x3 interleaved HWC bytes, labels and, for CIFAR-100,
// coarse labels.
type CIFARSet struct {
	Pix    []uint8
	Labels []uint8 // class (CIFAR-10) or fine label (CIFAR-100)
	Coarse []uint8 // CIFAR-100 only
}

// ReadCIFAR reads a CIFAR binary file with any number of records. It checks that the file holds a whole number
// of records and that labels are in range (10 classes; CIFAR-100: 20 coarse, 100 fine).
func ReadCIFAR(path string, cifar100 bool) (*CIFARSet, error) {
	set := &CIFARSet{}
	if err := set.appendFile(path, cifar100); err != nil {
		return nil, err
	}
	return set, nil
}

func (set *CIFARSet) appendFile(path string, cifar100 bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cifar: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("cifar: %w", err)
	}
	rs := int64(CIFARRecordSize(cifar100))
	if st.Size() == 0 {
		return fmt.Errorf("cifar: %s: empty file, no records", path)
	}
	if st.Size()%rs != 0 {
		return fmt.Errorf("cifar: %s: size %d is not a whole number of %d-byte records (truncated or not a CIFAR-%s file)",
			path, st.Size(), rs, map[bool]string{false: "10", true: "100"}[cifar100])
	}
	n := int(st.Size() / rs)
	rec := make([]uint8, rs)
	r := bufio.NewReaderSize(f, 1<<20)
	base := len(set.Labels)
	set.Pix = append(set.Pix, make([]uint8, n*3072)...)
	for i := 0; i < n; i++ {
		if _, err := io.ReadFull(r, rec); err != nil {
			return fmt.Errorf("cifar: %s: record %d: %v", path, i, readErr(err))
		}
		lab := rec[0]
		px := rec[1:]
		if cifar100 {
			if rec[0] >= 20 || rec[1] >= 100 {
				return fmt.Errorf("cifar: %s: record %d: labels coarse %d / fine %d out of range [0,20) / [0,100) (corrupted?)", path, i, rec[0], rec[1])
			}
			set.Coarse = append(set.Coarse, rec[0])
			lab, px = rec[1], rec[2:]
		} else if lab >= 10 {
			return fmt.Errorf("cifar: %s: record %d: label %d out of range [0,10) (corrupted, or a CIFAR-100 file?)", path, i, lab)
		}
		set.Labels = append(set.Labels, lab)
		dst := set.Pix[(base+i)*3072 : (base+i+1)*3072]
		for p := 0; p < 1024; p++ {
			dst[3*p], dst[3*p+1], dst[3*p+2] = px[p], px[1024+p], px[2048+p]
		}
	}
	return nil
}

type cifarSource struct {
	set    *CIFARSet
	coarse bool
}

func (s *cifarSource) Len() int { return len(s.set.Labels) }
func (s *cifarSource) Label(i int) int {
	if s.coarse {
		return int(s.set.Coarse[i])
	}
	return int(s.set.Labels[i])
}
func (s *cifarSource) Image(i int) (Image, error) {
	return Image{H: 32, W: 32, C: 3, Pix: s.set.Pix[i*3072 : (i+1)*3072 : (i+1)*3072]}, nil
}

// cifarSpec describes an official CIFAR binary archive and its layout.
type cifarSpec struct {
	name       string
	archive    remoteFile
	dir        string // folder inside the archive
	train      []string
	test       []string
	fileSize   map[string]int64 // official sizes, for the verified check
	names      string           // label names file
	coarseName string
}

var cifarSpecs = map[string]*cifarSpec{
	"cifar10": {
		name: "cifar10",
		archive: remoteFile{URL: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", Size: 170052171,
			MD5: "c32a1d4ab5d03f1284b67883e8d87530", SHA256: "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"},
		dir:   "cifar-10-batches-bin",
		train: []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"},
		test:  []string{"test_batch.bin"},
		fileSize: map[string]int64{"data_batch_1.bin": 30730000, "data_batch_2.bin": 30730000, "data_batch_3.bin": 30730000,
			"data_batch_4.bin": 30730000, "data_batch_5.bin": 30730000, "test_batch.bin": 30730000},
		names: "batches.meta.txt",
	},
	"cifar100": {
		name: "cifar100",
		archive: remoteFile{URL: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz", Size: 168513733,
			MD5: "03b5dce01913d631647c71ecec9e9cb8"},
		dir:        "cifar-100-binary",
		train:      []string{"train.bin"},
		test:       []string{"test.bin"},
		fileSize:   map[string]int64{"train.bin": 50000 * 3074, "test.bin": 10000 * 3074},
		names:      "fine_label_names.txt",
		coarseName: "coarse_label_names.txt",
	},
}

// verifiedStamp is written next to the extracted files after the archive's published checksums matched.
const verifiedStamp = ".shiftaddaug-verified"

var cifar10Classes = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

var cifar100Coarse = strings.Fields(`aquatic_mammals fish flowers food_containers fruit_and_vegetables
household_electrical_devices household_furniture insects large_carnivores large_man-made_outdoor_things
large_natural_outdoor_scenes large_omnivores_and_herbivores medium_mammals non-insect_invertebrates people
reptiles small_mammals trees vehicles_1 vehicles_2`)

var cifar100Fine = strings.Fields(`apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge
bus butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup
dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion
lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear
pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew
skunk skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television
tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm`)

func (s *cifarSpec) candidates(opts Options) []string {
	var c []string
	for _, d := range opts.dirs() {
		c = append(c, filepath.Join(d, s.dir), filepath.Join(d, s.name, s.dir))
	}
	return c
}

func (s *cifarSpec) locate(opts Options) string {
	for _, d := range s.candidates(opts) {
		if _, err := os.Stat(filepath.Join(d, s.train[0])); err == nil {
			return d
		}
	}
	return ""
}

// verified reports whether dir holds the official files: the stamp of a verified fetch and the official sizes.
func (s *cifarSpec) verified(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, verifiedStamp)); err != nil {
		return false
	}
	for f, size := range s.fileSize {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() != size {
			return false
		}
	}
	return true
}

func readNames(path string, fallback []string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return append([]string(nil), fallback...)
	}
	var names []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			names = append(names, l)
		}
	}
	if len(names) != len(fallback) {
		return append([]string(nil), fallback...)
	}
	return names
}

func openCIFAR(name string, opts Options) (*Dataset, error) {
	s := cifarSpecs[name]
	dir := s.locate(opts)
	if dir == "" && opts.Download {
		var err error
		if dir, err = fetchCIFAR(s, opts); err != nil {
			return nil, err
		}
	}
	if dir == "" {
		return nil, fmt.Errorf("%s: %w in %s; run 'shiftaddaug data fetch %s' where a network exists, or unpack %s into %s",
			name, ErrNotFound, strings.Join(s.candidates(opts), ", "), name, filepath.Base(s.archive.URL), opts.downloadDir())
	}
	return loadCIFARDir(s, dir, opts.Coarse)
}

func loadCIFARDir(s *cifarSpec, dir string, coarse bool) (*Dataset, error) {
	c100 := s.name == "cifar100"
	read := func(files []string) (*CIFARSet, error) {
		set := &CIFARSet{}
		for _, f := range files {
			if err := set.appendFile(filepath.Join(dir, f), c100); err != nil {
				return nil, err
			}
		}
		return set, nil
	}
	train, err := read(s.train)
	if err != nil {
		return nil, err
	}
	test, err := read(s.test)
	if err != nil {
		return nil, err
	}
	ds := &Dataset{Name: s.name, Shape: Shape{32, 32, 3}, Location: dir, Verified: s.verified(dir),
		Train: &cifarSource{set: train, coarse: coarse && c100}, Test: &cifarSource{set: test, coarse: coarse && c100}}
	switch {
	case !c100:
		ds.ClassNames = readNames(filepath.Join(dir, s.names), cifar10Classes)
	case coarse:
		ds.ClassNames = readNames(filepath.Join(dir, s.coarseName), cifar100Coarse)
	default:
		ds.ClassNames = readNames(filepath.Join(dir, s.names), cifar100Fine)
	}
	ds.NumClasses = len(ds.ClassNames)
	return ds, nil
}

// fetchCIFAR downloads (resumably) and verifies the official archive, then extracts it into a temporary folder
// that is renamed into place only when every expected file is there with a whole number of records.
func fetchCIFAR(s *cifarSpec, opts Options) (string, error) {
	root := opts.downloadDir()
	archive := filepath.Join(root, filepath.Base(s.archive.URL))
	if _, err := os.Stat(archive); err != nil || verifyChecksums(archive, s.archive) != nil {
		os.Remove(archive)
		if err := fetchFile(s.archive, archive, opts); err != nil {
			return "", fmt.Errorf("%s: %w; or put %s (from another machine) into %s", s.name, err, filepath.Base(s.archive.URL), root)
		}
	}
	tmp, err := os.MkdirTemp(root, "."+s.name+"-extract-*")
	if err != nil {
		return "", fmt.Errorf("%s: %w", s.name, err)
	}
	defer os.RemoveAll(tmp)
	if err := extractTarGz(archive, tmp); err != nil {
		os.Remove(archive)
		return "", fmt.Errorf("%s: %w; the archive was removed", s.name, err)
	}
	got := filepath.Join(tmp, s.dir)
	for _, f := range append(append([]string(nil), s.train...), s.test...) {
		if _, err := ReadCIFAR(filepath.Join(got, f), s.name == "cifar100"); err != nil {
			return "", fmt.Errorf("%s: archive %s: %w", s.name, archive, err)
		}
	}
	stamp := fmt.Sprintf("%s\nmd5 %s\nsha256 %s\n", s.archive.URL, s.archive.MD5, s.archive.SHA256)
	if err := os.WriteFile(filepath.Join(got, verifiedStamp), []byte(stamp), 0o644); err != nil {
		return "", fmt.Errorf("%s: %w", s.name, err)
	}
	dest := filepath.Join(root, s.dir)
	os.RemoveAll(dest)
	if err := os.Rename(got, dest); err != nil {
		return "", fmt.Errorf("%s: %w", s.name, err)
	}
	os.Remove(archive)
	return dest, nil
}

// extractTarGz unpacks regular files and folders of a .tar.gz into dir, refusing paths that leave it.
func extractTarGz(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return fmt.Errorf("%s: corrupt gzip: %w", path, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: corrupt archive: %v", path, readErr(err))
		}
		name := filepath.Clean(h.Name)
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, ".."+string(filepath.Separator)) {
			return fmt.Errorf("%s: entry %q leaves the target folder", path, h.Name)
		}
		target := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.Create(target)
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, tr); err != nil {
				out.Close()
				return fmt.Errorf("%s: entry %s: %v", path, h.Name, readErr(err))
			}
			if err := out.Close(); err != nil {
				return err
			}
		}
	}
}
