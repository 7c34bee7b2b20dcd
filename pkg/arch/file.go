package arch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// FileFormat names the JSON layout of a model file; Load refuses others, so that a later layout is never
// misread as this one.
const FileFormat = "shiftaddaug-arch/1"

// The file mirrors Model with operators and activations as words: Model's Op and Act are ints whose order is
// code, not data, and a file must read the same after they change.
type fileModel struct {
	Format     string      `json:"format"`
	Name       string      `json:"name"`
	Classes    int         `json:"classes"`
	Res        int         `json:"res,omitempty"`
	Stem       fileConv    `json:"stem"`
	Blocks     []fileBlock `json:"blocks"`
	Head       []fileConv  `json:"head,omitempty"`
	Classifier fileLinear  `json:"classifier"`
	Seg        *fileSeg    `json:"seg,omitempty"`
	AugWidth   []float64   `json:"aug_width,omitempty"`
	AugExpand  []float64   `json:"aug_expand,omitempty"`
}

type fileConv struct {
	Name     string `json:"name"`
	In       int    `json:"in"`
	Out      int    `json:"out"`
	K        int    `json:"k"`
	Stride   int    `json:"stride"`
	Act      string `json:"act"`
	BN       bool   `json:"bn,omitempty"`
	Bias     bool   `json:"bias,omitempty"`
	OnPooled bool   `json:"on_pooled,omitempty"`
	Op       string `json:"op"`
}

type fileBlock struct {
	Name         string `json:"name"`
	In           int    `json:"in"`
	Mid          int    `json:"mid"`
	Out          int    `json:"out"`
	K            int    `json:"k"`
	Stride       int    `json:"stride"`
	Expand       bool   `json:"expand"`
	SE           int    `json:"se,omitempty"`
	Act          string `json:"act"`
	Residual     bool   `json:"residual,omitempty"`
	FirstInStage bool   `json:"first_in_stage,omitempty"`
	Op           string `json:"op"`
	DepthAug     bool   `json:"depth_aug,omitempty"`
}

// fileSeg is SegHead: the skip block's name and the head's four convs.
type fileSeg struct {
	Skip    string   `json:"skip"`
	Inner   fileConv `json:"inner"`
	Gate    fileConv `json:"gate"`
	Out     fileConv `json:"out"`
	SkipOut fileConv `json:"skip_out"`
}

type fileLinear struct {
	Name string `json:"name"`
	In   int    `json:"in"`
	Out  int    `json:"out"`
	Op   string `json:"op"`
}

// ParseOp reads an operator name: mult, shift or add (what Op.String writes).
func ParseOp(s string) (Op, error) {
	for _, o := range []Op{Mult, Shift, Add} {
		if strings.EqualFold(s, o.String()) {
			return o, nil
		}
	}
	return 0, fmt.Errorf("unknown block type %q: want mult, shift or add", s)
}

// ParseAct reads an activation name as Act.String writes it.
func ParseAct(s string) (Act, error) {
	for a := ActNone; a <= ActHSigmoid; a++ {
		if strings.EqualFold(s, a.String()) {
			return a, nil
		}
	}
	return 0, fmt.Errorf("unknown activation %q: want none, relu, relu6, hswish or hsigmoid", s)
}

func toFileConv(c Conv) fileConv {
	return fileConv{Name: c.Name, In: c.In, Out: c.Out, K: c.K, Stride: c.Stride, Act: c.Act.String(), BN: c.BN, Bias: c.Bias,
		OnPooled: c.OnPooled, Op: c.Op.String()}
}

func (f *fileSeg) model() (*SegHead, error) {
	s := &SegHead{Skip: f.Skip}
	for _, c := range []struct {
		dst *Conv
		src fileConv
	}{{&s.Inner, f.Inner}, {&s.Gate, f.Gate}, {&s.Out, f.Out}, {&s.SkipOut, f.SkipOut}} {
		v, err := c.src.model()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.src.Name, err)
		}
		*c.dst = v
	}
	return s, nil
}

func (f fileConv) model() (Conv, error) {
	op, err := ParseOp(f.Op)
	if err != nil {
		return Conv{}, err
	}
	act, err := ParseAct(f.Act)
	if err != nil {
		return Conv{}, err
	}
	return Conv{Name: f.Name, In: f.In, Out: f.Out, K: f.K, Stride: f.Stride, Act: act, BN: f.BN, Bias: f.Bias, OnPooled: f.OnPooled, Op: op}, nil
}

// MarshalJSON writes the model in the file format (FileFormat).
func (m Model) MarshalJSON() ([]byte, error) {
	f := fileModel{Format: FileFormat, Name: m.Name, Classes: m.Classes, Res: m.Res, Stem: toFileConv(m.Stem),
		Classifier: fileLinear{Name: m.Classifier.Name, In: m.Classifier.In, Out: m.Classifier.Out, Op: m.Classifier.Op.String()},
		AugWidth:   m.AugWidth, AugExpand: m.AugExpand}
	for _, b := range m.Blocks {
		f.Blocks = append(f.Blocks, fileBlock{Name: b.Name, In: b.In, Mid: b.Mid, Out: b.Out, K: b.K, Stride: b.Stride, Expand: b.Expand,
			SE: b.SE, Act: b.Act.String(), Residual: b.Residual, FirstInStage: b.FirstInStage, Op: b.Op.String(),
			DepthAug: b.DepthAug})
	}
	for _, c := range m.Head {
		f.Head = append(f.Head, toFileConv(c))
	}
	if s := m.Seg; s != nil {
		f.Seg = &fileSeg{Skip: s.Skip, Inner: toFileConv(s.Inner), Gate: toFileConv(s.Gate), Out: toFileConv(s.Out),
			SkipOut: toFileConv(s.SkipOut)}
	}
	return json.MarshalIndent(f, "", "  ")
}

// UnmarshalJSON reads the file format and validates the model (Validate).
func (m *Model) UnmarshalJSON(data []byte) error {
	var f fileModel
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields() // a misspelt field would otherwise be silently zero
	if err := dec.Decode(&f); err != nil {
		return err
	}
	if f.Format != FileFormat {
		return fmt.Errorf("format %q: want %q", f.Format, FileFormat)
	}
	var r Model
	var err error
	r.Name, r.Classes, r.Res, r.AugWidth, r.AugExpand = f.Name, f.Classes, f.Res, f.AugWidth, f.AugExpand
	if r.Stem, err = f.Stem.model(); err != nil {
		return fmt.Errorf("stem: %w", err)
	}
	for i, b := range f.Blocks {
		op, err := ParseOp(b.Op)
		if err != nil {
			return fmt.Errorf("block %d (%s): %w", i, b.Name, err)
		}
		act, err := ParseAct(b.Act)
		if err != nil {
			return fmt.Errorf("block %d (%s): %w", i, b.Name, err)
		}
		r.Blocks = append(r.Blocks, Block{Name: b.Name, In: b.In, Mid: b.Mid, Out: b.Out, K: b.K, Stride: b.Stride, Expand: b.Expand,
			SE: b.SE, Act: act, Residual: b.Residual, FirstInStage: b.FirstInStage, Op: op,
			DepthAug: b.DepthAug})
	}
	for i, h := range f.Head {
		c, err := h.model()
		if err != nil {
			return fmt.Errorf("head %d (%s): %w", i, h.Name, err)
		}
		r.Head = append(r.Head, c)
	}
	op, err := ParseOp(f.Classifier.Op)
	if err != nil {
		return fmt.Errorf("classifier: %w", err)
	}
	r.Classifier = Linear{Name: f.Classifier.Name, In: f.Classifier.In, Out: f.Classifier.Out, Op: op}
	if f.Seg != nil {
		if r.Seg, err = f.Seg.model(); err != nil {
			return fmt.Errorf("segmentation head: %w", err)
		}
	}
	if err := r.Validate(); err != nil {
		return err
	}
	*m = r
	return nil
}

// Validate checks what a hand-edited or generated description can get wrong: channels chain from layer to
// layer, strides are 1 or 2, depthwise kernels are 3, 5 or 7, shortcuts only where shapes allow them, and the
// augmentation lists start at the target (1.0).
func (m *Model) Validate() error {
	switch {
	case strings.TrimSpace(m.Name) == "" || strings.ContainsAny(m.Name, " \t\n"):
		return fmt.Errorf("model name %q: must be one word", m.Name)
	case m.Classes < 2:
		return fmt.Errorf("classes %d: need at least 2", m.Classes)
	case m.Seg == nil && m.Classifier.Out != m.Classes:
		return fmt.Errorf("classifier has %d outputs for %d classes", m.Classifier.Out, m.Classes)
	case len(m.Blocks) == 0:
		return errors.New("no blocks")
	case m.Stem.In != 3:
		return fmt.Errorf("stem takes %d channels: want 3 (RGB)", m.Stem.In)
	}
	names := map[string]bool{}
	unique := func(n string) error {
		if n == "" {
			return errors.New("a layer has no name")
		}
		if names[n] {
			return fmt.Errorf("two layers are named %q", n)
		}
		names[n] = true
		return nil
	}
	conv := func(c Conv, in int) error {
		if err := unique(c.Name); err != nil {
			return err
		}
		switch {
		case c.In != in:
			return fmt.Errorf("%s takes %d channels after a layer that gives %d", c.Name, c.In, in)
		case c.Out <= 0:
			return fmt.Errorf("%s: %d output channels", c.Name, c.Out)
		case c.Stride != 1 && c.Stride != 2:
			return fmt.Errorf("%s: stride %d, want 1 or 2", c.Name, c.Stride)
		case c.K < 1 || c.K%2 == 0:
			return fmt.Errorf("%s: kernel %d, want an odd size", c.Name, c.K)
		}
		return nil
	}
	if err := conv(m.Stem, 3); err != nil {
		return err
	}
	if m.Stem.OnPooled {
		return errors.New("stem: cannot run after pooling")
	}
	in := m.Stem.Out
	blockOut := map[string]int{}
	for _, b := range m.Blocks {
		if err := unique(b.Name); err != nil {
			return err
		}
		blockOut[b.Name] = b.Out
		switch {
		case b.In != in:
			return fmt.Errorf("%s takes %d channels after a layer that gives %d", b.Name, b.In, in)
		case b.Mid <= 0 || b.Out <= 0 || b.SE < 0:
			return fmt.Errorf("%s: channels %d→%d→%d (SE %d) must be positive", b.Name, b.In, b.Mid, b.Out, b.SE)
		case !b.Expand && b.Mid != b.In:
			return fmt.Errorf("%s: no expand conv, so its depthwise conv has %d channels, not %d", b.Name, b.In, b.Mid)
		case b.K != 3 && b.K != 5 && b.K != 7:
			return fmt.Errorf("%s: kernel %d, want 3, 5 or 7", b.Name, b.K)
		case b.Stride != 1 && b.Stride != 2:
			return fmt.Errorf("%s: stride %d, want 1 or 2", b.Name, b.Stride)
		case b.Residual && (b.Stride != 1 || b.In != b.Out):
			return fmt.Errorf("%s: an identity shortcut needs stride 1 and equal channels, not stride %d and %d→%d", b.Name, b.Stride, b.In, b.Out)
		}
		in = b.Out
	}
	if m.Seg != nil {
		for _, c := range m.Seg.Convs() {
			if err := unique(c.Name); err != nil {
				return err
			}
		}
		if err := m.validateSeg(in, blockOut); err != nil {
			return err
		}
		return m.validateAug()
	}
	pooled := false
	for _, c := range m.Head {
		if err := conv(c, in); err != nil {
			return err
		}
		if c.K != 1 {
			return fmt.Errorf("%s: head kernel %d, want 1", c.Name, c.K)
		}
		if pooled && !c.OnPooled {
			return fmt.Errorf("%s runs on the feature map after a conv that ran on the pooled map", c.Name)
		}
		pooled = pooled || c.OnPooled
		in = c.Out
	}
	if err := unique(m.Classifier.Name); err != nil {
		return err
	}
	if m.Classifier.In != in {
		return fmt.Errorf("%s takes %d features after a layer that gives %d", m.Classifier.Name, m.Classifier.In, in)
	}
	return m.validateAug()
}

// validateAug checks the augmentation lists and, when the model states its resolution, that its strides fit it.
func (m *Model) validateAug() error {
	for _, l := range []struct {
		name string
		v    []float64
	}{{"aug_width", m.AugWidth}, {"aug_expand", m.AugExpand}} {
		for i, f := range l.v {
			if (i == 0 && f != 1) || f < 1 {
				return fmt.Errorf("%s %v: the first multiplier must be 1.0 (the target) and none below 1", l.name, l.v)
			}
		}
	}
	if m.Res != 0 {
		if _, err := m.Layers(m.Res); err != nil {
			return err
		}
	}
	return nil
}

// Save writes the model to path in the file format, through a temporary file and a rename so that a reader
// never sees half a file.
func Save(path string, m *Model) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("saving %s: %w", path, err)
	}
	data, err := m.MarshalJSON()
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, append(data, '\n'))
}

// Load reads and validates a model file; errors name the file and the problem on one line.
func Load(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading model file: %w", err)
	}
	m := new(Model)
	if err := m.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("model file %s: %w", path, err)
	}
	return m, nil
}

// WriteFileAtomic writes data to path through a temporary file in the same directory and a rename.
func WriteFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// Register makes a model that is not in the zoo (loaded from a file, found by NAS) available to Get under its
// name, so that code that names its model (pkg/train's Config.Model) can run it. Registering a name again
// replaces the model; the zoo's own names are refused. Not safe to call concurrently with Get.
func Register(m *Model) error {
	if err := m.Validate(); err != nil {
		return err
	}
	name := strings.ToLower(m.Name)
	for _, p := range PaperModels {
		if name == p {
			return fmt.Errorf("model name %q is a built-in model's: rename it", m.Name)
		}
	}
	c := m.Clone()
	zoo[name] = func() *Model { return c.Clone() }
	return nil
}
