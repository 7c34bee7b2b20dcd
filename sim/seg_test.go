package sim

import (
	"strings"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
)

// TestCostSegModel: the simulator costs a segmentation model's LR-ASPP head like any other layers: the four
// head convs are there, with their operators' kinds, and the whole network's MACs are the counts'.
func TestCostSegModel(t *testing.T) {
	m, _ := arch.Get("mbv2-w0.35", 11)
	seg, err := m.WithSegHead(11, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range arch.Methods {
		nc, err := CostModel(DefaultConfig(), seg, method, 64, ModelOptions{DW: DWChannelOne})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := seg.WithMethod(method).Count(64)
		if nc.MACs != c.MACs {
			t.Errorf("%s: sim MACs %d, counts %d", method, nc.MACs, c.MACs)
		}
		var head float64
		kinds := map[string]Kind{}
		for _, l := range nc.Layers {
			if strings.HasPrefix(l.Layer.Name, "seg.") {
				head += l.EnergyMJ
				kinds[l.Layer.Name] = l.Layer.Kind
			}
		}
		if len(kinds) != 4 || head <= 0 {
			t.Errorf("%s: costed head layers %v, energy %g mJ", method, kinds, head)
		}
		wantInner, wantOut := map[arch.Method]Kind{arch.MethodBase: Conv, arch.MethodShift: Shift, arch.MethodAdd: Add}[method],
			map[arch.Method]Kind{arch.MethodBase: Conv, arch.MethodShift: Shift, arch.MethodAdd: Conv}[method]
		if kinds["seg.inner"] != wantInner || kinds["seg.out"] != wantOut {
			t.Errorf("%s: seg.inner costed as %v, seg.out as %v; want %v, %v", method, kinds["seg.inner"], kinds["seg.out"], wantInner, wantOut)
		}
	}
}
