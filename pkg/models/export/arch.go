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
// run: arch.Model.Validate, the one set of rules (channels chain from the 3-channel input through every layer to
// the classifier, kernels and strides the kernels support, shortcuts join equal shapes, unique layer names), with
// the model's name in the error.
func CheckArch(m *arch.Model) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("model %s: %w", m.Name, err)
	}
	return nil
}
