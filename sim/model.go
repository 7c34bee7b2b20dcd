package sim

import (
	"fmt"

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
)

// KindOf is the simulator kind of an arch layer: multiplicative convs are Conv, the multiplicative classifier FC,
// and Shift and Add layers their own kinds whatever their shape.
func KindOf(l arch.Layer) Kind {
	switch l.Op {
	case arch.Shift:
		return Shift
	case arch.Add:
		return Add
	}
	if l.Kind == arch.KindLinear {
		return FC
	}
	return Conv
}

// ModelLayers derives the costed layers of a model (with its operators already set, see arch.Model.WithMethod)
// at input resolution res, batch 1, in execution order: the stem first and the classifier last, which the paper
// Shift quirk relies on. Depthwise convs follow policy dw. Batch norm, activations, pooling, residual adds and SE
// scaling are not costed, as in the paper's cal_energy.py.
func ModelLayers(m *arch.Model, res int, dw DWPolicy) ([]Layer, error) {
	als, err := m.Layers(res)
	if err != nil {
		return nil, err
	}
	ls := make([]Layer, 0, len(als))
	for _, a := range als {
		k := KindOf(a)
		switch a.Kind {
		case arch.KindDWConv:
			ls = append(ls, DepthwiseLayer(a.Name, k, 1, a.Cin, a.Hin, a.K, a.Stride, dw))
		case arch.KindLinear:
			ls = append(ls, FCLayer(a.Name, k, 1, a.Cin, a.Cout))
		default:
			ls = append(ls, ConvLayer(a.Name, k, 1, a.Cin, a.Hin, a.Cout, a.K, a.Stride))
		}
	}
	return ls, nil
}

// ModelOptions selects how a model is costed.
type ModelOptions struct {
	DW DWPolicy
	// PaperShiftQuirk applies the Shift-row quirk (see NetworkOptions) when the method is shift.
	PaperShiftQuirk bool
}

// CostModel costs a named model under a deployment method at resolution res.
func CostModel(cfg Config, m *arch.Model, method arch.Method, res int, opts ModelOptions) (NetworkCost, error) {
	ls, err := ModelLayers(m.WithMethod(method), res, opts.DW)
	if err != nil {
		return NetworkCost{}, err
	}
	nc, err := CostNetworkOpts(cfg, ls, NetworkOptions{PaperShiftQuirk: opts.PaperShiftQuirk && method == arch.MethodShift})
	if err != nil {
		return NetworkCost{}, fmt.Errorf("%s (%s, %dx%d): %w", m.Name, method, res, res, err)
	}
	return nc, nil
}
