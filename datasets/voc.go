package datasets

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// VOCClasses are the 21 PASCAL VOC segmentation classes, background first, in the standard order.
var VOCClasses = []string{"background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
	"cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"}

// VOCPalette returns the 256-colour PASCAL VOC palette (index i's colour interleaves the bits of i).
func VOCPalette() color.Palette {
	p := make(color.Palette, 256)
	for i := range p {
		var r, g, b uint8
		c := i
		for j := 0; j < 8; j++ {
			r |= uint8((c>>0)&1) << (7 - j)
			g |= uint8((c>>1)&1) << (7 - j)
			b |= uint8((c>>2)&1) << (7 - j)
			c >>= 3
		}
		p[i] = color.RGBA{r, g, b, 255}
	}
	return p
}

type vocPair struct{ img, mask string }

// vocSource decodes image/mask pairs on demand (VOC folders and OpenEDS-style mask folders).
type vocSource struct {
	pairs    []vocPair
	nClasses int
	kind     string // error prefix: "voc" or "openeds"
}

func (s *vocSource) Len() int                   { return len(s.pairs) }
func (s *vocSource) Label(int) int              { return -1 }
func (s *vocSource) Image(i int) (Image, error) { return DecodeImageFile(s.pairs[i].img) }
func (s *vocSource) Mask(i int) (Mask, error) {
	m, err := DecodeMaskFile(s.pairs[i].mask, s.nClasses)
	if err != nil {
		return Mask{}, err
	}
	cfg, err := decodeConfig(s.pairs[i].img)
	if err != nil {
		return Mask{}, err
	}
	if cfg.Width != m.W || cfg.Height != m.H {
		return Mask{}, fmt.Errorf("%s: mask %s is %dx%d but its image %s is %dx%d", s.kind, s.pairs[i].mask, m.W, m.H, s.pairs[i].img, cfg.Width, cfg.Height)
	}
	return m, nil
}

// Files returns the image and mask file of sample i.
func (s *vocSource) Files(i int) (img, mask string) { return s.pairs[i].img, s.pairs[i].mask }

func decodeConfig(path string) (image.Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return image.Config{}, fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(bufio.NewReader(f))
	if err != nil {
		return image.Config{}, fmt.Errorf("image: %s: cannot read the header (%v): not a valid JPEG/PNG", path, err)
	}
	return cfg, nil
}

// DecodeMaskFile decodes a segmentation mask PNG: a palette PNG (the index is the class, as VOC stores them),
// an 8-bit grey PNG (the value is the class) or an RGB PNG in VOC colours. Every value must be a class below
// numClasses (if > 0) or IgnoreIndex; the error names the file and the first bad pixel.
func DecodeMaskFile(path string, numClasses int) (Mask, error) {
	f, err := os.Open(path)
	if err != nil {
		return Mask{}, fmt.Errorf("mask: %w", err)
	}
	defer f.Close()
	img, _, err := image.Decode(bufio.NewReader(f))
	if err != nil {
		return Mask{}, fmt.Errorf("mask: %s: cannot decode (%v): not a valid PNG, or truncated", path, err)
	}
	b := img.Bounds()
	m := Mask{H: b.Dy(), W: b.Dx(), Pix: make([]uint8, b.Dx()*b.Dy())}
	switch t := img.(type) {
	case *image.Paletted:
		for y := 0; y < m.H; y++ {
			copy(m.Pix[y*m.W:(y+1)*m.W], t.Pix[y*t.Stride:y*t.Stride+m.W])
		}
	case *image.Gray:
		for y := 0; y < m.H; y++ {
			copy(m.Pix[y*m.W:(y+1)*m.W], t.Pix[y*t.Stride:y*t.Stride+m.W])
		}
	default:
		pal := VOCPalette()
		lut := map[color.RGBA]uint8{}
		for i, c := range pal {
			lut[c.(color.RGBA)] = uint8(i)
		}
		for y := 0; y < m.H; y++ {
			for x := 0; x < m.W; x++ {
				r, g, bb, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
				c := color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bb >> 8), 255}
				v, ok := lut[c]
				if !ok {
					return Mask{}, fmt.Errorf("mask: %s: pixel (%d,%d) has colour %v, which is not in the VOC palette", path, x, y, c)
				}
				m.Pix[y*m.W+x] = v
			}
		}
	}
	if numClasses > 0 {
		for i, v := range m.Pix {
			if int(v) >= numClasses && v != IgnoreIndex {
				return Mask{}, fmt.Errorf("mask: %s: pixel (%d,%d) has value %d, neither a class below %d nor the ignore label %d",
					path, i%m.W, i/m.W, v, numClasses, IgnoreIndex)
			}
		}
	}
	return m, nil
}

// OpenVOC opens a PASCAL-VOC-style segmentation folder: ROOT/JPEGImages/ID.jpg with masks
// ROOT/SegmentationClass/ID.png (or SegmentationClassPNG/, as labelme writes them). The splits come from
// ROOT/ImageSets/Segmentation/{train,val}.txt when present; otherwise every image that has a mask is used and
// opts.ValFraction of them form the test split. Class names come from ROOT/class_names.txt if present
// (labelme), else VOCClasses. Each image's size is checked against its mask's when the dataset is opened.
func OpenVOC(root string, opts Options) (*Dataset, error) {
	if root == "" {
		return nil, fmt.Errorf("voc: empty path (use voc:PATH)")
	}
	imgDir := filepath.Join(root, "JPEGImages")
	if _, err := os.Stat(imgDir); err != nil {
		return nil, fmt.Errorf("voc: %s: no JPEGImages folder (%v)", root, err)
	}
	maskDir := ""
	for _, d := range []string{"SegmentationClass", "SegmentationClassPNG"} {
		p := filepath.Join(root, d)
		if pngs, _ := filepath.Glob(filepath.Join(p, "*.png")); len(pngs) > 0 {
			maskDir = p
			break
		}
	}
	if maskDir == "" {
		return nil, fmt.Errorf("voc: %s: no PNG masks in SegmentationClass/ or SegmentationClassPNG/", root)
	}
	classes := classNames(root, VOCClasses)
	pair := func(id string) (vocPair, error) {
		p := vocPair{filepath.Join(imgDir, id+".jpg"), filepath.Join(maskDir, id+".png")}
		for _, f := range []string{p.img, p.mask} {
			if _, err := os.Stat(f); err != nil {
				return p, fmt.Errorf("voc: %s: %v", id, err)
			}
		}
		ci, err := decodeConfig(p.img)
		if err != nil {
			return p, fmt.Errorf("voc: %w", err)
		}
		cm, err := decodeConfig(p.mask)
		if err != nil {
			return p, fmt.Errorf("voc: %w", err)
		}
		if ci.Width != cm.Width || ci.Height != cm.Height {
			return p, fmt.Errorf("voc: mask %s is %dx%d but its image %s is %dx%d", p.mask, cm.Width, cm.Height, p.img, ci.Width, ci.Height)
		}
		return p, nil
	}
	readList := func(list string) ([]vocPair, error) {
		b, err := os.ReadFile(list)
		if err != nil {
			return nil, fmt.Errorf("voc: %w", err)
		}
		var out []vocPair
		for _, l := range strings.Fields(string(b)) {
			p, err := pair(l)
			if err != nil {
				return nil, fmt.Errorf("%w (listed in %s)", err, list)
			}
			out = append(out, p)
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("voc: %s lists no images", list)
		}
		return out, nil
	}
	var train, test []vocPair
	sets := filepath.Join(root, "ImageSets", "Segmentation")
	if _, err := os.Stat(filepath.Join(sets, "train.txt")); err == nil {
		if train, err = readList(filepath.Join(sets, "train.txt")); err != nil {
			return nil, err
		}
		if _, err := os.Stat(filepath.Join(sets, "val.txt")); err == nil {
			if test, err = readList(filepath.Join(sets, "val.txt")); err != nil {
				return nil, err
			}
		}
	} else {
		masks, _ := filepath.Glob(filepath.Join(maskDir, "*.png"))
		sort.Strings(masks)
		var all []fileEntry
		var pairs []vocPair
		for _, m := range masks {
			id := strings.TrimSuffix(filepath.Base(m), ".png")
			if _, err := os.Stat(filepath.Join(imgDir, id+".jpg")); err != nil {
				continue // masks without a JPEG are not samples
			}
			p, err := pair(id)
			if err != nil {
				return nil, err
			}
			all = append(all, fileEntry{path: p.img, label: 0})
			pairs = append(pairs, p)
		}
		if len(pairs) == 0 {
			return nil, fmt.Errorf("voc: %s: no image in JPEGImages/ has a mask in %s", root, maskDir)
		}
		byImg := map[string]vocPair{}
		for _, p := range pairs {
			byImg[p.img] = p
		}
		tr, te := holdout(all, 1, opts.valFraction(), opts.Seed)
		for _, f := range tr {
			train = append(train, byImg[f.path])
		}
		for _, f := range te {
			test = append(test, byImg[f.path])
		}
	}
	return &Dataset{
		Name: "voc:" + root, Train: &vocSource{train, len(classes), "voc"}, Test: &vocSource{test, len(classes), "voc"},
		Shape: Shape{C: 3}, NumClasses: len(classes), ClassNames: classes, Segmentation: true, Location: root,
	}, nil
}

// Confusion accumulates a segmentation confusion matrix over pixels whose target is not IgnoreIndex.
type Confusion struct {
	N int
	// M[t*N+p] counts pixels of target class t predicted as p.
	M []int64
}

// NewConfusion returns an empty confusion matrix for n classes.
func NewConfusion(n int) *Confusion { return &Confusion{N: n, M: make([]int64, n*n)} }

// Add counts one batch of target and predicted class maps (same length, any shape). Targets equal to
// IgnoreIndex are skipped; any other out-of-range value is an error.
func (c *Confusion) Add(target, pred []int32) error {
	if len(target) != len(pred) {
		return fmt.Errorf("miou: %d targets but %d predictions", len(target), len(pred))
	}
	for i, t := range target {
		if t == IgnoreIndex {
			continue
		}
		p := pred[i]
		if t < 0 || int(t) >= c.N || p < 0 || int(p) >= c.N {
			return fmt.Errorf("miou: pixel %d: target %d / prediction %d outside [0,%d)", i, t, p, c.N)
		}
		c.M[int(t)*c.N+int(p)]++
	}
	return nil
}

// IoU returns each class's intersection over union; NaN for a class that is neither in a target nor predicted.
func (c *Confusion) IoU() []float64 {
	out := make([]float64, c.N)
	for k := 0; k < c.N; k++ {
		var tp, rowSum, colSum int64
		tp = c.M[k*c.N+k]
		for j := 0; j < c.N; j++ {
			rowSum += c.M[k*c.N+j]
			colSum += c.M[j*c.N+k]
		}
		union := rowSum + colSum - tp
		if union == 0 {
			out[k] = math.NaN()
		} else {
			out[k] = float64(tp) / float64(union)
		}
	}
	return out
}

// MeanIoU is the mean of IoU over the classes that occur (in a target or a prediction).
func (c *Confusion) MeanIoU() float64 {
	var s float64
	n := 0
	for _, v := range c.IoU() {
		if !math.IsNaN(v) {
			s += v
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}

// PixelAccuracy is the share of non-ignored pixels predicted correctly.
func (c *Confusion) PixelAccuracy() float64 {
	var tp, all int64
	for t := 0; t < c.N; t++ {
		for p := 0; p < c.N; p++ {
			all += c.M[t*c.N+p]
		}
		tp += c.M[t*c.N+t]
	}
	if all == 0 {
		return math.NaN()
	}
	return float64(tp) / float64(all)
}

// classNames reads root/class_names.txt (one name per line, blank lines skipped), or returns def when the file is
// missing or empty: the class names of a segmentation folder (VOC, OpenEDS style).
func classNames(root string, def []string) []string {
	b, err := os.ReadFile(filepath.Join(root, "class_names.txt"))
	if err != nil {
		return def
	}
	var names []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			names = append(names, l)
		}
	}
	if len(names) == 0 {
		return def
	}
	return names
}
