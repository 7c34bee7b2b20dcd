package datasets

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // JPEG decoder for image.Decode
	_ "image/png"  // PNG decoder for image.Decode
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// imageExts are the file extensions image folders read.
var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true}

func isImageFile(name string) bool { return imageExts[strings.ToLower(filepath.Ext(name))] }

// fileEntry is one image file and its class.
type fileEntry struct {
	path  string
	label int
}

// folderSource decodes image files on demand.
type folderSource struct{ files []fileEntry }

func (s *folderSource) Len() int        { return len(s.files) }
func (s *folderSource) Label(i int) int { return s.files[i].label }
func (s *folderSource) Image(i int) (Image, error) {
	return DecodeImageFile(s.files[i].path)
}

// Path returns the file of sample i.
func (s *folderSource) Path(i int) string { return s.files[i].path }

// DecodeImageFile decodes a JPEG or PNG file into an 8-bit RGB image (grey and palette images are expanded).
// The error names the file and the problem.
func DecodeImageFile(path string) (Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return Image{}, fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	img, format, err := image.Decode(bufio.NewReader(f))
	if err != nil {
		return Image{}, fmt.Errorf("image: %s: cannot decode (%v): not a valid JPEG/PNG, or truncated", path, err)
	}
	b := img.Bounds()
	if b.Empty() {
		return Image{}, fmt.Errorf("image: %s: empty %s image", path, format)
	}
	return toRGB(img), nil
}

// toRGB converts any image.Image to interleaved 8-bit RGB.
func toRGB(img image.Image) Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := Image{H: h, W: w, C: 3, Pix: make([]uint8, w*h*3)}
	switch m := img.(type) {
	case *image.YCbCr:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				yi := m.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := m.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bb := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				o := (y*w + x) * 3
				out.Pix[o], out.Pix[o+1], out.Pix[o+2] = r, g, bb
			}
		}
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride:]
			for x := 0; x < w; x++ {
				v := row[x]
				o := (y*w + x) * 3
				out.Pix[o], out.Pix[o+1], out.Pix[o+2] = v, v, v
			}
		}
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride:]
			for x := 0; x < w; x++ {
				o := (y*w + x) * 3
				copy(out.Pix[o:o+3], row[4*x:4*x+3])
			}
		}
	case *image.RGBA:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride:]
			for x := 0; x < w; x++ {
				o := (y*w + x) * 3
				copy(out.Pix[o:o+3], row[4*x:4*x+3])
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				o := (y*w + x) * 3
				out.Pix[o], out.Pix[o+1], out.Pix[o+2] = c.R, c.G, c.B
			}
		}
	}
	return out
}

// listImages returns the image files directly inside dir, sorted.
func listImages(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && isImageFile(e.Name()) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// classDirs returns the sorted names of the sub-folders of dir (hidden ones skipped).
func classDirs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// scanClassFolder reads root/CLASS/IMAGE files. classes, if non-nil, fixes the class list (a split folder must
// use the classes of the train folder); otherwise it is the sorted list of sub-folders.
func scanClassFolder(root string, classes []string) ([]fileEntry, []string, error) {
	if classes == nil {
		var err error
		if classes, err = classDirs(root); err != nil {
			return nil, nil, fmt.Errorf("imagefolder: %w", err)
		}
		if len(classes) == 0 {
			return nil, nil, fmt.Errorf("imagefolder: %s: no class folders and no images (expected %s/CLASS/IMAGE.jpg)", root, root)
		}
	}
	var files []fileEntry
	for li, c := range classes {
		imgs, err := listImages(filepath.Join(root, c))
		if err != nil && !os.IsNotExist(err) {
			return nil, nil, fmt.Errorf("imagefolder: %w", err)
		}
		if len(imgs) == 0 && err == nil {
			return nil, nil, fmt.Errorf("imagefolder: %s: class folder has no JPEG or PNG images", filepath.Join(root, c))
		}
		for _, p := range imgs {
			files = append(files, fileEntry{p, li})
		}
	}
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("imagefolder: %s: no JPEG or PNG images found", root)
	}
	return files, classes, nil
}

// OpenImageFolder opens an image-classification folder. The layouts it recognises, in order:
//
//	ROOT/train/CLASS/*.jpg and ROOT/val/CLASS/*.jpg (or test/)   ImageNet style
//	ROOT/meta/{train,test}.txt + ROOT/images/CLASS/NAME.jpg        Food-101 (lines "CLASS/NAME")
//	ROOT/annotations/{trainval,test}.txt + ROOT/images/NAME.jpg    Oxford-IIIT Pets (lines "NAME CLASSID ...")
//	ROOT/{train,test or val}.txt listing CLASS/IMAGE paths           generic split files
//	ROOT/CLASS/*.jpg                                                 no split: opts.ValFraction of each class, chosen with opts.Seed, is the test split
//
// Class indices follow the sorted class folder names. Images are decoded (JPEG or PNG, to RGB) when a batch
// needs them, so an undecodable file is reported, with its path, by the batch that hits it.
func OpenImageFolder(root string, opts Options) (*Dataset, error) {
	if root == "" {
		return nil, fmt.Errorf("imagefolder: empty path (use imagefolder:PATH)")
	}
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("imagefolder: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("imagefolder: %s is not a folder", root)
	}
	var train, test []fileEntry
	var classes []string
	exists := func(p ...string) bool {
		_, err := os.Stat(filepath.Join(append([]string{root}, p...)...))
		return err == nil
	}
	switch {
	case exists("train") && (exists("val") || exists("test")):
		if train, classes, err = scanClassFolder(filepath.Join(root, "train"), nil); err != nil {
			return nil, err
		}
		testDir := filepath.Join(root, "val")
		if !exists("val") {
			testDir = filepath.Join(root, "test")
		}
		if test, _, err = scanClassFolder(testDir, classes); err != nil {
			return nil, err
		}
	case exists("meta", "train.txt") && exists("meta", "test.txt") && exists("images"):
		if classes, err = classDirs(filepath.Join(root, "images")); err != nil {
			return nil, fmt.Errorf("imagefolder: %w", err)
		}
		if train, err = readSplitList(filepath.Join(root, "meta", "train.txt"), filepath.Join(root, "images"), classes); err != nil {
			return nil, err
		}
		if test, err = readSplitList(filepath.Join(root, "meta", "test.txt"), filepath.Join(root, "images"), classes); err != nil {
			return nil, err
		}
	case exists("annotations", "trainval.txt") && exists("annotations", "test.txt") && exists("images"):
		if train, classes, err = readPetsList(filepath.Join(root, "annotations", "trainval.txt"), filepath.Join(root, "images"), nil); err != nil {
			return nil, err
		}
		if test, _, err = readPetsList(filepath.Join(root, "annotations", "test.txt"), filepath.Join(root, "images"), classes); err != nil {
			return nil, err
		}
	case exists("train.txt") && (exists("test.txt") || exists("val.txt")):
		if classes, err = classDirs(root); err != nil {
			return nil, fmt.Errorf("imagefolder: %w", err)
		}
		if train, err = readSplitList(filepath.Join(root, "train.txt"), root, classes); err != nil {
			return nil, err
		}
		tf := filepath.Join(root, "test.txt")
		if !exists("test.txt") {
			tf = filepath.Join(root, "val.txt")
		}
		if test, err = readSplitList(tf, root, classes); err != nil {
			return nil, err
		}
	default:
		var all []fileEntry
		if all, classes, err = scanClassFolder(root, nil); err != nil {
			return nil, err
		}
		train, test = holdout(all, len(classes), opts.valFraction(), opts.Seed)
	}
	return &Dataset{
		Name: "imagefolder:" + root, Train: &folderSource{train}, Test: &folderSource{test},
		Shape: Shape{C: 3}, NumClasses: len(classes), ClassNames: classes, Location: root,
	}, nil
}

// holdout moves frac of each class's files (chosen with seed; at least one when a class has two or more)
// into the test split.
func holdout(all []fileEntry, nClasses int, frac float64, seed uint64) (train, test []fileEntry) {
	if frac <= 0 {
		return all, nil
	}
	byClass := make([][]fileEntry, nClasses)
	for _, f := range all {
		byClass[f.label] = append(byClass[f.label], f)
	}
	rng := rand.New(rand.NewPCG(seed, 0x686f6c646f7574))
	for _, fs := range byClass {
		k := int(frac * float64(len(fs)))
		if k == 0 && len(fs) >= 2 {
			k = 1
		}
		perm := rng.Perm(len(fs))
		isTest := make([]bool, len(fs))
		for _, p := range perm[:k] {
			isTest[p] = true
		}
		for i, f := range fs {
			if isTest[i] {
				test = append(test, f)
			} else {
				train = append(train, f)
			}
		}
	}
	return train, test
}

// readSplitList reads a list of CLASS/NAME[.ext] lines relative to imgRoot.
func readSplitList(list, imgRoot string, classes []string) ([]fileEntry, error) {
	idx := map[string]int{}
	for i, c := range classes {
		idx[c] = i
	}
	b, err := os.ReadFile(list)
	if err != nil {
		return nil, fmt.Errorf("imagefolder: %w", err)
	}
	var out []fileEntry
	for ln, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rel := strings.Fields(line)[0]
		cls, _, ok := strings.Cut(rel, "/")
		li, known := idx[cls]
		if !ok || !known {
			return nil, fmt.Errorf("imagefolder: %s:%d: %q is not CLASS/IMAGE with a class folder in %s", list, ln+1, rel, imgRoot)
		}
		p := filepath.Join(imgRoot, filepath.FromSlash(rel))
		if !isImageFile(p) {
			found := ""
			for ext := range imageExts {
				if _, err := os.Stat(p + ext); err == nil {
					found = p + ext
					break
				}
			}
			if found == "" {
				return nil, fmt.Errorf("imagefolder: %s:%d: no image file for %q", list, ln+1, rel)
			}
			p = found
		} else if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("imagefolder: %s:%d: %v", list, ln+1, err)
		}
		out = append(out, fileEntry{p, li})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("imagefolder: %s: split file lists no images", list)
	}
	return out, nil
}

// readPetsList reads an Oxford-IIIT Pets annotation list: "NAME CLASSID SPECIES BREEDID" with 1-based CLASSID;
// the class name is NAME without its trailing _NUMBER.
func readPetsList(list, imgDir string, classes []string) ([]fileEntry, []string, error) {
	b, err := os.ReadFile(list)
	if err != nil {
		return nil, nil, fmt.Errorf("imagefolder: %w", err)
	}
	names := map[int]string{}
	var out []fileEntry
	for ln, line := range strings.Split(string(b), "\n") {
		fs := strings.Fields(line)
		if len(fs) == 0 || strings.HasPrefix(fs[0], "#") {
			continue
		}
		if len(fs) < 2 {
			return nil, nil, fmt.Errorf("imagefolder: %s:%d: want NAME CLASSID, got %q", list, ln+1, line)
		}
		id, err := strconv.Atoi(fs[1])
		if err != nil || id < 1 {
			return nil, nil, fmt.Errorf("imagefolder: %s:%d: bad class id %q", list, ln+1, fs[1])
		}
		if i := strings.LastIndex(fs[0], "_"); i > 0 {
			names[id-1] = fs[0][:i]
		}
		p := filepath.Join(imgDir, fs[0]+".jpg")
		if _, err := os.Stat(p); err != nil {
			return nil, nil, fmt.Errorf("imagefolder: %s:%d: %v", list, ln+1, err)
		}
		out = append(out, fileEntry{p, id - 1})
	}
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("imagefolder: %s: lists no images", list)
	}
	if classes == nil {
		classes = make([]string, len(names))
		for id, n := range names {
			if id >= len(classes) {
				return nil, nil, fmt.Errorf("imagefolder: %s: class ids are not 1..%d", list, len(names))
			}
			classes[id] = n
		}
	}
	for _, f := range out {
		if f.label >= len(classes) {
			return nil, nil, fmt.Errorf("imagefolder: %s: class id %d beyond the %d classes", list, f.label+1, len(classes))
		}
	}
	return out, classes, nil
}
