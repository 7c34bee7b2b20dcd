package datasets

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// The derived segmentation tasks: canvases composed from real Fashion-MNIST or MNIST items. They are not VOC
// and not any published segmentation benchmark; they exist so that segmentation training can be tested on
// real pixels on a machine without segmentation data.
const (
	FashionSegName = "fashion-seg"
	MNISTSegName   = "mnist-seg"
)

// segSources maps each derived task to the classification dataset its items come from.
var segSources = map[string]string{FashionSegName: "fashion-mnist", MNISTSegName: "mnist"}

// SegCanvasConfig describes one split of a derived segmentation task. The zero value of each field means
// its default.
type SegCanvasConfig struct {
	// Size is the side of the square canvas (default 64).
	Size int
	// Items is the number of items drawn on each canvas (default 3).
	Items int
	// MinSide and MaxSide bound each item's side as a share of Size (default 0.3 and 0.6): the item is
	// resized to a square of a side drawn uniformly between them.
	MinSide, MaxSide float64
	// Threshold is the intensity (max over channels) below which an item's pixel is not drawn and counts as
	// background (default 32), so the mask follows the item's shape rather than its 28x28 box.
	Threshold int
	// Count is the number of canvases in the split (required).
	Count int
	// Seed fixes the composition: canvas i is a function of (Seed, the split's stream, i) and the item source.
	Seed uint64
}

func (c SegCanvasConfig) withDefaults() SegCanvasConfig {
	if c.Size == 0 {
		c.Size = 64
	}
	if c.Items == 0 {
		c.Items = 3
	}
	if c.MinSide == 0 && c.MaxSide == 0 {
		c.MinSide, c.MaxSide = 0.3, 0.6
	}
	if c.Threshold == 0 {
		c.Threshold = 32
	}
	return c
}

func (c SegCanvasConfig) validate() error {
	switch {
	case c.Size < 8 || c.Size > 4096:
		return fmt.Errorf("canvas size %d outside 8..4096", c.Size)
	case c.Items < 1 || c.Items > 64:
		return fmt.Errorf("%d items per canvas, want 1..64", c.Items)
	case c.MinSide <= 0 || c.MaxSide > 1 || c.MinSide > c.MaxSide:
		return fmt.Errorf("item side range [%g, %g] of the canvas: want 0 < min <= max <= 1", c.MinSide, c.MaxSide)
	case int(c.MinSide*float64(c.Size)) < 2:
		return fmt.Errorf("items of side %g x %d pixels are too small to see", c.MinSide, c.Size)
	case c.Threshold < 1 || c.Threshold > 255:
		return fmt.Errorf("threshold %d outside 1..255", c.Threshold)
	case c.Count < 1:
		return fmt.Errorf("%d canvases: the split needs at least one", c.Count)
	}
	return nil
}

// SegItem is one item placed on a canvas: source sample Index of label Class-1, resized to Side x Side with its
// top-left corner at (X, Y). Items are drawn in order, so a later one covers an earlier one where they overlap.
type SegItem struct {
	Index, Class, X, Y, Side int
}

// SegCanvases is a MaskSource of canvases composed on demand from the items of a classification source.
// Mask class 0 is background and class k+1 is the source's label k.
type SegCanvases struct {
	items     Source
	numLabels int
	channels  int
	cfg       SegCanvasConfig
	stream    uint64
}

// NewSegCanvases returns the canvases of one split composed from items (labels 0..numLabels-1). stream tells
// splits apart: the same config with another stream gives other canvases. Train canvases must be composed
// from a training split only and test canvases from a test split only; OpenSegCanvases does so.
func NewSegCanvases(items Source, numLabels int, cfg SegCanvasConfig, stream uint64) (*SegCanvases, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("seg canvases: %w", err)
	}
	if items == nil || items.Len() == 0 {
		return nil, fmt.Errorf("seg canvases: the item source is empty")
	}
	if numLabels < 1 || numLabels > 254 {
		return nil, fmt.Errorf("seg canvases: %d item labels, want 1..254 (mask values are uint8, 255 is the ignore label)", numLabels)
	}
	first, err := items.Image(0)
	if err != nil {
		return nil, fmt.Errorf("seg canvases: %w", err)
	}
	return &SegCanvases{items: items, numLabels: numLabels, channels: first.C, cfg: cfg, stream: stream}, nil
}

// Config returns the split's configuration with defaults filled in.
func (s *SegCanvases) Config() SegCanvasConfig { return s.cfg }

func (s *SegCanvases) Len() int      { return s.cfg.Count }
func (s *SegCanvases) Label(int) int { return -1 }

// Placements returns the items of canvas i in drawing order: a function of the config, the stream and i.
func (s *SegCanvases) Placements(i int) ([]SegItem, error) {
	if i < 0 || i >= s.cfg.Count {
		return nil, fmt.Errorf("seg canvases: canvas %d outside 0..%d", i, s.cfg.Count-1)
	}
	rng := rand.New(rand.NewPCG(mix(s.cfg.Seed, s.stream), mix(0x7365676376, uint64(i))))
	S := s.cfg.Size
	lo := max(int(math.Round(s.cfg.MinSide*float64(S))), 2)
	hi := max(int(math.Round(s.cfg.MaxSide*float64(S))), lo)
	out := make([]SegItem, s.cfg.Items)
	for k := range out {
		idx := rng.IntN(s.items.Len())
		side := lo + rng.IntN(hi-lo+1)
		// Fully inside the canvas, so every drawn item is whole and its class is seen at its full shape.
		out[k] = SegItem{Index: idx, Side: side, X: rng.IntN(S - side + 1), Y: rng.IntN(S - side + 1)}
		l := s.items.Label(idx)
		if l < 0 || l >= s.numLabels {
			return nil, fmt.Errorf("seg canvases: item %d has label %d outside 0..%d", idx, l, s.numLabels-1)
		}
		out[k].Class = l + 1
	}
	return out, nil
}

// Canvas composes canvas i and its mask. An item pixel is drawn (and its class written to the mask) only where
// its resized intensity reaches Threshold, so the mask is nonzero exactly where the canvas (black otherwise)
// reaches Threshold, and a later item wins where items overlap.
func (s *SegCanvases) Canvas(i int) (Image, Mask, error) {
	items, err := s.Placements(i)
	if err != nil {
		return Image{}, Mask{}, err
	}
	S, c := s.cfg.Size, s.channels
	img := Image{H: S, W: S, C: c, Pix: make([]uint8, S*S*c)}
	m := Mask{H: S, W: S, Pix: make([]uint8, S*S)}
	for _, it := range items {
		src, err := s.items.Image(it.Index)
		if err != nil {
			return Image{}, Mask{}, fmt.Errorf("seg canvases: canvas %d: %w", i, err)
		}
		if src.C != c {
			return Image{}, Mask{}, fmt.Errorf("seg canvases: item %d has %d channels, item 0 has %d", it.Index, src.C, c)
		}
		r := resizePix(src.Pix, src.H, src.W, c, it.Side, it.Side)
		for y := 0; y < it.Side; y++ {
			for x := 0; x < it.Side; x++ {
				p := r[(y*it.Side+x)*c : (y*it.Side+x+1)*c]
				if int(maxByte(p)) < s.cfg.Threshold {
					continue
				}
				o := (it.Y+y)*S + it.X + x
				copy(img.Pix[o*c:(o+1)*c], p)
				m.Pix[o] = uint8(it.Class)
			}
		}
	}
	return img, m, nil
}

// Image returns canvas i.
func (s *SegCanvases) Image(i int) (Image, error) {
	img, _, err := s.Canvas(i)
	return img, err
}

// Mask returns the mask of canvas i.
func (s *SegCanvases) Mask(i int) (Mask, error) {
	_, m, err := s.Canvas(i)
	return m, err
}

func maxByte(p []uint8) uint8 {
	v := p[0]
	for _, x := range p[1:] {
		v = max(v, x)
	}
	return v
}

// resizePix resamples an interleaved h x w x c image to oh x ow with the transforms' antialiased bilinear
// filter (filterTaps), rounding to 8 bits.
func resizePix(pix []uint8, h, w, c, oh, ow int) []uint8 {
	tx := filterTaps(ow, 0, float64(w), w)
	ty := filterTaps(oh, 0, float64(h), h)
	tmp := make([]float32, h*ow*c)
	for y := 0; y < h; y++ {
		for ox, tp := range tx {
			for ch := 0; ch < c; ch++ {
				var v float32
				for k, wt := range tp.w {
					v += wt * float32(pix[(y*w+tp.start+k)*c+ch])
				}
				tmp[(y*ow+ox)*c+ch] = v
			}
		}
	}
	out := make([]uint8, oh*ow*c)
	for oy, tp := range ty {
		for i := 0; i < ow*c; i++ {
			var v float32
			for k, wt := range tp.w {
				v += wt * tmp[(tp.start+k)*ow*c+i]
			}
			out[oy*ow*c+i] = uint8(min(max(math.Round(float64(v)), 0), 255))
		}
	}
	return out
}

// SegTaskConfig is a derived task's configuration: the canvas config shared by both splits and their sizes.
type SegTaskConfig struct {
	Canvas              SegCanvasConfig
	TrainSize, TestSize int
}

// ParseSegName splits a derived task name, "fashion-seg" or "mnist-seg" optionally followed by
// ":key=value,..." with keys size, items, min, max, threshold, train, test and seed, into the source dataset's
// name and the task's configuration (defaults: 64x64 canvases, 3 items, 20000 train and 2000 test canvases,
// seed 0). ok is false when name is not a derived task at all.
func ParseSegName(name string) (source string, cfg SegTaskConfig, ok bool, err error) {
	base, params, _ := strings.Cut(name, ":")
	source, ok = segSources[base]
	if !ok {
		return "", cfg, false, nil
	}
	cfg = SegTaskConfig{TrainSize: 20000, TestSize: 2000}
	if params == "" {
		cfg.Canvas = cfg.Canvas.withDefaults()
		return source, cfg, true, nil
	}
	for _, kv := range strings.Split(params, ",") {
		k, v, found := strings.Cut(kv, "=")
		if !found {
			return "", cfg, true, fmt.Errorf("%s: parameter %q is not key=value (keys: size, items, min, max, threshold, train, test, seed)", name, kv)
		}
		var perr error
		switch k {
		case "size":
			cfg.Canvas.Size, perr = strconv.Atoi(v)
		case "items":
			cfg.Canvas.Items, perr = strconv.Atoi(v)
		case "min":
			cfg.Canvas.MinSide, perr = strconv.ParseFloat(v, 64)
		case "max":
			cfg.Canvas.MaxSide, perr = strconv.ParseFloat(v, 64)
		case "threshold":
			cfg.Canvas.Threshold, perr = strconv.Atoi(v)
		case "train":
			cfg.TrainSize, perr = strconv.Atoi(v)
		case "test":
			cfg.TestSize, perr = strconv.Atoi(v)
		case "seed":
			cfg.Canvas.Seed, perr = strconv.ParseUint(v, 10, 64)
		default:
			return "", cfg, true, fmt.Errorf("%s: unknown parameter %q (keys: size, items, min, max, threshold, train, test, seed)", name, k)
		}
		if perr != nil {
			return "", cfg, true, fmt.Errorf("%s: parameter %s: %q is not a number", name, k, v)
		}
	}
	if (cfg.Canvas.MinSide == 0) != (cfg.Canvas.MaxSide == 0) { // one given: the other keeps its default
		d := SegCanvasConfig{}.withDefaults()
		if cfg.Canvas.MinSide == 0 {
			cfg.Canvas.MinSide = min(d.MinSide, cfg.Canvas.MaxSide)
		} else {
			cfg.Canvas.MaxSide = max(d.MaxSide, cfg.Canvas.MinSide)
		}
	}
	cfg.Canvas = cfg.Canvas.withDefaults()
	if cfg.TrainSize < 1 || cfg.TestSize < 1 {
		return "", cfg, true, fmt.Errorf("%s: train=%d and test=%d canvases: both must be positive", name, cfg.TrainSize, cfg.TestSize)
	}
	return source, cfg, true, nil
}

// Stream ids of the two splits (mixed with the seed), so that train and test layouts differ.
const (
	segTrainStream = 1
	segTestStream  = 2
)

// OpenSegCanvases opens a derived segmentation task by name (see ParseSegName). Train canvases are composed
// from the source's training split only and test canvases from its test split only, so no test item is ever
// seen in training. ClassNames are "background" then the source's classes.
func OpenSegCanvases(name string, opts Options) (*Dataset, error) {
	srcName, cfg, ok, err := ParseSegName(name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%q is not a derived segmentation task (%s, %s)", name, FashionSegName, MNISTSegName)
	}
	src, err := Open(srcName, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: items come from %s: %w", name, srcName, err)
	}
	return SegTask(name, src, cfg)
}

// SegTask builds a derived segmentation dataset named name from the classification dataset src.
func SegTask(name string, src *Dataset, cfg SegTaskConfig) (*Dataset, error) {
	c := cfg.Canvas
	c.Count = cfg.TrainSize
	train, err := NewSegCanvases(src.Train, src.NumClasses, c, segTrainStream)
	if err != nil {
		return nil, fmt.Errorf("%s: train split: %w", name, err)
	}
	c.Count = cfg.TestSize
	test, err := NewSegCanvases(src.Test, src.NumClasses, c, segTestStream)
	if err != nil {
		return nil, fmt.Errorf("%s: test split: %w", name, err)
	}
	c = train.Config()
	return &Dataset{
		Name: name, Train: train, Test: test,
		Shape:      Shape{H: c.Size, W: c.Size, C: train.channels},
		NumClasses: src.NumClasses + 1, ClassNames: append([]string{"background"}, src.ClassNames...),
		Segmentation: true, Verified: src.Verified,
		Location: fmt.Sprintf("derived from %s at %s: %dx%d canvases of %d items (side %.2f-%.2f, threshold %d, seed %d), %d train / %d test",
			src.Name, src.Location, c.Size, c.Size, c.Items, c.MinSide, c.MaxSide, c.Threshold, c.Seed, cfg.TrainSize, cfg.TestSize),
	}, nil
}
