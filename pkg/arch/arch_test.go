package arch

import (
	"math"
	"strings"
	"testing"
)

// TestMACsAndParamsAt160 checks the all-layer MAC totals and parameter counts that sim.md's independent
// re-implementation of NetAug's models found (three decimals, i.e. finer than Table 3 prints).
func TestMACsAndParamsAt160(t *testing.T) {
	want := map[string][2]float64{ // MACs (M), params (M)
		"mbv2-w0.35":      {29.723, 0.524},
		"mbv3-w0.35":      {18.344, 0.957},
		"mcunet-in3":      {65.719, 0.593},
		"proxyless-w0.35": {34.565, 0.628},
		"mbv2-tiny":       {27.310, 0.346},
	}
	for name, w := range want {
		m, _ := Get(name, 0)
		c, err := m.Count(160)
		if err != nil {
			t.Fatal(err)
		}
		if got := math.Round(float64(c.MACs)/1e3) / 1e3; got != w[0] {
			t.Errorf("%s MACs %.3f M, want %.3f", name, got, w[0])
		}
		if got := math.Round(float64(c.Params)/1e3) / 1e3; got != w[1] {
			t.Errorf("%s params %.3f M, want %.3f", name, got, w[1])
		}
	}
}

func TestLayerShapesMBV2(t *testing.T) {
	m, _ := Get("mbv2-w0.35", 10)
	ls, err := m.Layers(160)
	if err != nil {
		t.Fatal(err)
	}
	first, last := ls[0], ls[len(ls)-1]
	if first.Name != "stem" || first.Hin != 160 || first.Hout != 80 || first.Cout != 16 {
		t.Errorf("stem %+v", first)
	}
	if last.Kind != KindLinear || last.Cin != 1280 || last.Cout != 10 {
		t.Errorf("classifier %+v", last)
	}
	head := ls[len(ls)-2]
	if head.Name != "head.conv" || head.Hin != 5 || head.Cin != 112 || head.Cout != 1280 {
		t.Errorf("head conv %+v: want 112→1280 at 5x5", head)
	}
	// Channels chain: every layer's input is the previous (non-SE) layer's output.
	prev := 3
	for _, l := range ls[:len(ls)-1] {
		if l.OnPooled {
			continue
		}
		if l.Cin != prev {
			t.Fatalf("%s takes %d channels after a layer that gives %d", l.Name, l.Cin, prev)
		}
		prev = l.Cout
	}
}

func TestMethodRules(t *testing.T) {
	m, _ := Get("mbv3-w0.35", 0)
	for _, method := range Methods {
		ls, _ := m.WithMethod(method).Layers(160)
		for _, l := range ls {
			want := method.BlockOp()
			switch {
			case l.Kind == KindLinear:
				want = method.ClassifierOp()
			case method == MethodAdd && l.Kind == KindDWConv:
				want = Mult
			}
			if l.Op != want {
				t.Errorf("%s: %s runs %v, want %v", method, l.Name, l.Op, want)
			}
		}
	}
	// The original stays untouched (WithMethod copies).
	if m.Blocks[3].Op != Mult {
		t.Error("WithMethod changed the receiver")
	}
}

func TestBadInput(t *testing.T) {
	if _, err := Get("resnet50", 0); err == nil || !strings.Contains(err.Error(), "unknown model") {
		t.Errorf("unknown model: %v", err)
	}
	m, _ := Get("mbv2-w0.35", 0)
	for _, res := range []int{0, -3, 16} {
		if _, err := m.Layers(res); err == nil {
			t.Errorf("resolution %d accepted", res)
		}
	}
	if _, err := ParseMethod("mul"); err == nil {
		t.Error("unknown method accepted")
	}
	if got, _ := ParseMethod("augshift"); got != MethodShift {
		t.Errorf("augshift deploys %v, want shift", got)
	}
}

func TestAnyResolutionAndClasses(t *testing.T) {
	for _, name := range PaperModels {
		m, _ := Get(name, 10)
		for _, res := range []int{32, 96, 224} {
			ls, err := m.Layers(res)
			if err != nil {
				t.Fatalf("%s at %d: %v", name, res, err)
			}
			if ls[len(ls)-1].Cout != 10 {
				t.Fatalf("%s: classifier has %d outputs", name, ls[len(ls)-1].Cout)
			}
		}
	}
}

func TestMakeDivisible(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want int
	}{{5.6, 8}, {11.2, 16}, {22.4, 24}, {33.6, 32}, {56, 56}, {112, 112}, {58, 56}, {42, 40}} {
		if got := MakeDivisible(c.v, 8, 0); got != c.want {
			t.Errorf("MakeDivisible(%v) = %d, want %d", c.v, got, c.want)
		}
	}
}
