package export

import (
	"fmt"

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
)

// The architecture is stored as its own JSON description, with operators and activations by name, so that an
// exported file does not depend on the model zoo (or the numbering of arch's enums) staying the same.

type convJSON struct {
	Name     string `json:"name"`
	In       int    `json:"in"`
	Out      int    `json:"out"`
	K        int    `json:"k"`
	Stride   int    `json:"stride"`
	Act      string `json:"act"`
	BN       bool   `json:"bn"`
	Bias     bool   `json:"bias"`
	OnPooled bool   `json:"on_pooled"`
	Op       string `json:"op"`
}

type blockJSON struct {
	Name         string `json:"name"`
	In           int    `json:"in"`
	Mid          int    `json:"mid"`
	Out          int    `json:"out"`
	K            int    `json:"k"`
	Stride       int    `json:"stride"`
	Expand       bool   `json:"expand"`
	SE           int    `json:"se"`
	Act          string `json:"act"`
	Residual     bool   `json:"residual"`
	FirstInStage bool   `json:"first_in_stage"`
	Op           string `json:"op"`
}

type linearJSON struct {
	Name string `json:"name"`
	In   int    `json:"in"`
	Out  int    `json:"out"`
	Op   string `json:"op"`
}

type archJSON struct {
	Name       string      `json:"name"`
	Classes    int         `json:"classes"`
	Res        int         `json:"res"`
	Stem       convJSON    `json:"stem"`
	Blocks     []blockJSON `json:"blocks"`
	Head       []convJSON  `json:"head"`
	Classifier linearJSON  `json:"classifier"`
	Seg        *segJSON    `json:"seg,omitempty"`
	AugWidth   []float64   `json:"aug_width,omitempty"`
	AugExpand  []float64   `json:"aug_expand,omitempty"`
}

// segJSON is arch.SegHead: the skip block and the head's four convs.
type segJSON struct {
	Skip    string   `json:"skip"`
	Inner   convJSON `json:"inner"`
	Gate    convJSON `json:"gate"`
	Out     convJSON `json:"out"`
	SkipOut convJSON `json:"skip_out"`
}

var allOps = []arch.Op{arch.Mult, arch.Shift, arch.Add}

var allActs = []arch.Act{arch.ActNone, arch.ActReLU, arch.ActReLU6, arch.ActHSwish, arch.ActHSigmoid}

func parseOp(s string) (arch.Op, error) {
	for _, o := range allOps {
		if o.String() == s {
			return o, nil
		}
	}
	return 0, fmt.Errorf("unknown operator %q (want mult, shift or add)", s)
}

func parseAct(s string) (arch.Act, error) {
	for _, a := range allActs {
		if a.String() == s {
			return a, nil
		}
	}
	return 0, fmt.Errorf("unknown activation %q", s)
}

func actName(a arch.Act) string {
	if a < 0 || int(a) >= len(allActs) {
		return fmt.Sprintf("act(%d)", int(a))
	}
	return a.String()
}

func convToJSON(c arch.Conv) convJSON {
	return convJSON{Name: c.Name, In: c.In, Out: c.Out, K: c.K, Stride: c.Stride, Act: actName(c.Act), BN: c.BN,
		Bias: c.Bias, OnPooled: c.OnPooled, Op: c.Op.String()}
}

func archToJSON(m *arch.Model) archJSON {
	j := archJSON{Name: m.Name, Classes: m.Classes, Res: m.Res, Stem: convToJSON(m.Stem),
		Classifier: linearJSON{Name: m.Classifier.Name, In: m.Classifier.In, Out: m.Classifier.Out, Op: m.Classifier.Op.String()},
		AugWidth:   m.AugWidth, AugExpand: m.AugExpand}
	for _, b := range m.Blocks {
		j.Blocks = append(j.Blocks, blockJSON{Name: b.Name, In: b.In, Mid: b.Mid, Out: b.Out, K: b.K, Stride: b.Stride,
			Expand: b.Expand, SE: b.SE, Act: actName(b.Act), Residual: b.Residual, FirstInStage: b.FirstInStage, Op: b.Op.String()})
	}
	for _, c := range m.Head {
		j.Head = append(j.Head, convToJSON(c))
	}
	if s := m.Seg; s != nil {
		j.Seg = &segJSON{Skip: s.Skip, Inner: convToJSON(s.Inner), Gate: convToJSON(s.Gate), Out: convToJSON(s.Out),
			SkipOut: convToJSON(s.SkipOut)}
	}
	return j
}

func convFromJSON(j convJSON) (arch.Conv, error) {
	op, err := parseOp(j.Op)
	if err != nil {
		return arch.Conv{}, fmt.Errorf("layer %s: %w", j.Name, err)
	}
	act, err := parseAct(j.Act)
	if err != nil {
		return arch.Conv{}, fmt.Errorf("layer %s: %w", j.Name, err)
	}
	return arch.Conv{Name: j.Name, In: j.In, Out: j.Out, K: j.K, Stride: j.Stride, Act: act, BN: j.BN, Bias: j.Bias,
		OnPooled: j.OnPooled, Op: op}, nil
}

func archFromJSON(j archJSON) (*arch.Model, error) {
	m := &arch.Model{Name: j.Name, Classes: j.Classes, Res: j.Res, AugWidth: j.AugWidth, AugExpand: j.AugExpand}
	var err error
	if m.Stem, err = convFromJSON(j.Stem); err != nil {
		return nil, err
	}
	for _, b := range j.Blocks {
		op, err := parseOp(b.Op)
		if err != nil {
			return nil, fmt.Errorf("block %s: %w", b.Name, err)
		}
		act, err := parseAct(b.Act)
		if err != nil {
			return nil, fmt.Errorf("block %s: %w", b.Name, err)
		}
		m.Blocks = append(m.Blocks, arch.Block{Name: b.Name, In: b.In, Mid: b.Mid, Out: b.Out, K: b.K, Stride: b.Stride,
			Expand: b.Expand, SE: b.SE, Act: act, Residual: b.Residual, FirstInStage: b.FirstInStage, Op: op})
	}
	for _, c := range j.Head {
		hc, err := convFromJSON(c)
		if err != nil {
			return nil, err
		}
		m.Head = append(m.Head, hc)
	}
	op, err := parseOp(j.Classifier.Op)
	if err != nil {
		return nil, fmt.Errorf("classifier: %w", err)
	}
	m.Classifier = arch.Linear{Name: j.Classifier.Name, In: j.Classifier.In, Out: j.Classifier.Out, Op: op}
	if j.Seg != nil {
		m.Seg = &arch.SegHead{Skip: j.Seg.Skip}
		for _, c := range []struct {
			dst *arch.Conv
			src convJSON
		}{{&m.Seg.Inner, j.Seg.Inner}, {&m.Seg.Gate, j.Seg.Gate}, {&m.Seg.Out, j.Seg.Out}, {&m.Seg.SkipOut, j.Seg.SkipOut}} {
			if *c.dst, err = convFromJSON(c.src); err != nil {
				return nil, fmt.Errorf("segmentation head: %w", err)
			}
		}
	}
	if err := CheckArch(m); err != nil {
		return nil, err
	}
	return m, nil
}

// CheckArch verifies that a model description is one that pkg/models can build and the deployment runner can
// run: channel counts chain from the 3-channel input through every layer to the classifier, kernels are odd,
// strides positive, shortcuts join equal shapes, layer names are unique and non-empty.
func CheckArch(m *arch.Model) error {
	names := map[string]bool{}
	name := func(n string) error {
		if n == "" {
			return fmt.Errorf("a layer has no name")
		}
		if names[n] {
			return fmt.Errorf("layer name %q is used twice", n)
		}
		names[n] = true
		return nil
	}
	geom := func(n string, k, s int) error {
		if k < 1 || k%2 == 0 {
			return fmt.Errorf("layer %s: kernel %d must be odd and positive", n, k)
		}
		if s < 1 {
			return fmt.Errorf("layer %s: stride %d must be positive", n, s)
		}
		return nil
	}
	conv := func(c arch.Conv, in int) error {
		if err := name(c.Name); err != nil {
			return err
		}
		if c.In != in {
			return fmt.Errorf("layer %s takes %d channels, but its input has %d", c.Name, c.In, in)
		}
		if c.Out < 1 {
			return fmt.Errorf("layer %s: %d output channels", c.Name, c.Out)
		}
		return geom(c.Name, c.K, c.Stride)
	}
	if m.Seg != nil {
		// A segmentation head is checked against its blocks by arch's own validation.
		if err := m.Validate(); err != nil {
			return fmt.Errorf("model %s: %w", m.Name, err)
		}
		return nil
	}
	if m.Classes < 2 || m.Classifier.Out != m.Classes {
		return fmt.Errorf("model %s: %d classes with a classifier of %d outputs", m.Name, m.Classes, m.Classifier.Out)
	}
	if err := conv(m.Stem, 3); err != nil {
		return err
	}
	in := m.Stem.Out
	for _, b := range m.Blocks {
		if err := name(b.Name); err != nil {
			return err
		}
		if b.In != in {
			return fmt.Errorf("block %s takes %d channels, but its input has %d", b.Name, b.In, in)
		}
		if b.Mid < 1 || b.Out < 1 || b.SE < 0 {
			return fmt.Errorf("block %s: channels %d/%d/%d (SE %d)", b.Name, b.In, b.Mid, b.Out, b.SE)
		}
		if !b.Expand && b.Mid != b.In {
			return fmt.Errorf("block %s has no expand conv but %d mid channels for %d inputs", b.Name, b.Mid, b.In)
		}
		if b.Residual && (b.Stride != 1 || b.In != b.Out) {
			return fmt.Errorf("block %s: a shortcut needs stride 1 and equal widths (stride %d, %d→%d)", b.Name, b.Stride, b.In, b.Out)
		}
		if err := geom(b.Name, b.K, b.Stride); err != nil {
			return err
		}
		in = b.Out
	}
	for _, c := range m.Head {
		if err := conv(c, in); err != nil {
			return err
		}
		in = c.Out
	}
	if err := name(m.Classifier.Name); err != nil {
		return err
	}
	if m.Classifier.In != in {
		return fmt.Errorf("classifier takes %d features, but the network gives %d", m.Classifier.In, in)
	}
	return nil
}
