package sim

import (
	"testing"
	"time"
)

// mbv2Layers is MobileNetV2-w0.35 as NetAug defines it (sim.md §6), at
// res×res, 100 classes, with the per-variant operator kinds of sim.md §3.4:
// base all Conv/FC; add: depthwise convs and the classifier stay
// multiplicative, every other conv is Add; shift: everything Shift. It exists
// to check the simulator end to end against Table 3 without pkg/arch.
func mbv2Layers(method string, res int) []Layer {
	kind := func(dw, fc bool) Kind {
		switch {
		case method == "shift":
			return Shift
		case fc:
			return FC
		case method == "add" && !dw:
			return Add
		}
		return Conv
	}
	var ls []Layer
	h := res
	conv := func(name string, cin, cout, k, s int) {
		ls = append(ls, ConvLayer(name, kind(false, false), 1, cin, h, cout, k, s))
		h = OutSize(h, k, s)
	}
	dw := func(name string, ch, k, s int) {
		ls = append(ls, DepthwiseLayer(name, kind(true, false), 1, ch, h, k, s, DWChannelOne))
		h = OutSize(h, k, s)
	}
	conv("stem", 3, 16, 3, 2)
	dw("blk0.dw", 16, 3, 1)
	conv("blk0.pw", 16, 8, 1, 1)
	in := 8
	// (expand, out, repeats, stride) with widths already ×0.35, divisible by 8.
	for _, st := range [][4]int{{6, 8, 2, 2}, {6, 16, 3, 2}, {6, 24, 4, 2}, {6, 32, 3, 1}, {6, 56, 3, 2}, {6, 112, 1, 1}} {
		for i := 0; i < st[2]; i++ {
			s := st[3]
			if i > 0 {
				s = 1
			}
			mid := (st[0]*in + 4) / 8 * 8
			conv("expand", in, mid, 1, 1)
			dw("dw", mid, 3, s)
			conv("project", mid, st[1], 1, 1)
			in = st[1]
		}
	}
	conv("head.conv", 112, 1280, 1, 1)
	ls = append(ls, FCLayer("fc", kind(false, true), 1, 1280, 100))
	return ls
}

// TestTable3MBV2: the MBV2-w0.35 rows of Table 3 (mJ, ms), through
// CostNetworkOpts with the paper Shift quirk on the Shift row. The paper
// prints 2.345/0.73, 0.74/0.246, 1.091/0.753; sim.md §5 reproduces them as
// 2.3448/0.7305, 0.7398/0.2465 (plain 0.702/0.228), 1.0910/0.7529.
func TestTable3MBV2(t *testing.T) {
	cfg := DefaultConfig()
	for _, tc := range []struct {
		method           string
		quirk            bool
		mj, ms           float64 // paper
		plainMJ, plainMS float64 // sim.md §5, plain sums (shift only)
	}{
		{"base", false, 2.345, 0.73, 0, 0},
		{"shift", true, 0.74, 0.246, 0.702, 0.228},
		{"add", false, 1.091, 0.753, 0, 0},
	} {
		ls := mbv2Layers(tc.method, 160)
		nc, err := CostNetworkOpts(cfg, ls, NetworkOptions{PaperShiftQuirk: tc.quirk})
		if err != nil {
			t.Fatal(err)
		}
		if nc.MACs != 29722800 && tc.method == "base" {
			t.Errorf("MACs %d, want 29.723 M", nc.MACs)
		}
		// Paper rounding: ±0.0005 mJ on 3-4 significant digits, latency to
		// 0.2% (0.2465 prints as 0.246).
		if !relClose(nc.EnergyMJ, tc.mj, 6e-4) || !relClose(nc.LatencyMS, tc.ms, 2.5e-3) {
			t.Errorf("%s: %.4f mJ / %.4f ms, paper %.3f / %.3f", tc.method, nc.EnergyMJ, nc.LatencyMS, tc.mj, tc.ms)
		}
		if !relClose(nc.Breakdown.Total(), nc.EnergyMJ, 1e-12) {
			t.Errorf("%s: breakdown total %g != %g", tc.method, nc.Breakdown.Total(), nc.EnergyMJ)
		}
		if tc.quirk {
			if !nc.Quirk || !relClose(nc.PlainEnergyMJ, tc.plainMJ, 1e-3) || !relClose(nc.PlainLatencyMS, tc.plainMS, 3e-3) {
				t.Errorf("%s plain: %.4f / %.4f, want %.3f / %.3f", tc.method, nc.PlainEnergyMJ, nc.PlainLatencyMS, tc.plainMJ, tc.plainMS)
			}
			n := len(nc.Layers)
			wantE := nc.PlainEnergyMJ - nc.Layers[n-1].EnergyMJ + nc.Layers[0].EnergyMJ
			if !relClose(nc.EnergyMJ, wantE, 1e-12) {
				t.Errorf("quirk energy %g, want %g", nc.EnergyMJ, wantE)
			}
		} else if nc.EnergyMJ != nc.PlainEnergyMJ || nc.LatencyMS != nc.PlainLatencyMS || nc.Quirk {
			t.Errorf("%s: reported totals differ from plain sums without the quirk", tc.method)
		}
	}
	// Base breakdown, sim.md §5: 0.110 / 1.082 / 0.174 / 0.232 / 0.747 mJ.
	nc, err := CostNetwork(cfg, mbv2Layers("base", 160))
	if err != nil {
		t.Fatal(err)
	}
	b := nc.Breakdown
	for i, p := range [][2]float64{{b.Compute, 0.110}, {b.DRAM, 1.082}, {b.Buffer, 0.174}, {b.NoC, 0.232}, {b.RF, 0.747}} {
		if !relClose(p[0], p[1], 3e-3) {
			t.Errorf("breakdown component %d: %.4f, want %.3f", i, p[0], p[1])
		}
	}
}

func TestCostNetworkErrors(t *testing.T) {
	cfg := DefaultConfig()
	if _, err := CostNetwork(cfg, nil); err == nil {
		t.Error("empty network accepted")
	}
	if _, err := CostNetworkOpts(cfg, []Layer{FCLayer("fc", FC, 1, 8, 8)}, NetworkOptions{PaperShiftQuirk: true}); err == nil {
		t.Error("quirk on a one-layer network accepted")
	}
	ls := []Layer{FCLayer("fc", FC, 1, 8, 8), ConvLayer("bad", Conv, 1, 8, 32, 8, 13, 1)}
	if _, err := CostNetwork(cfg, ls); err == nil {
		t.Error("uncostable layer accepted")
	}
}

// BenchmarkCostNetworkMBV2x3 costs MBV2's three Table 3 variants with a cold
// cache each iteration: a fifth of Table 3's work.
func BenchmarkCostNetworkMBV2x3(b *testing.B) {
	cfg := DefaultConfig()
	nets := [][]Layer{mbv2Layers("base", 160), mbv2Layers("shift", 160), mbv2Layers("add", 160)}
	for b.Loop() {
		cacheMu.Lock()
		clear(cache)
		cacheMu.Unlock()
		for _, ls := range nets {
			if _, err := CostNetwork(cfg, ls); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func TestMBV2ColdTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	cacheMu.Lock()
	clear(cache)
	cacheMu.Unlock()
	start := time.Now()
	for _, m := range []string{"base", "shift", "add"} {
		if _, err := CostNetwork(DefaultConfig(), mbv2Layers(m, 160)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("MBV2 base+shift+add, cold cache: %v", time.Since(start))
}
