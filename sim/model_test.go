package sim

import (
	"math"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
)

// table3Hardware is the right half of the paper's Table 3 as printed (energy mJ, latency ms), copied from the
// paper, not from this package.
var table3Hardware = []struct {
	model, method   string
	energy, latency float64
}{
	{"mbv2-w0.35", "base", 2.345, 0.73}, {"mbv2-w0.35", "shift", 0.74, 0.246}, {"mbv2-w0.35", "add", 1.091, 0.753},
	{"mbv3-w0.35", "base", 1.726, 0.485}, {"mbv3-w0.35", "shift", 0.536, 0.16}, {"mbv3-w0.35", "add", 0.699, 0.512},
	{"mcunet-in3", "base", 4.28, 1.682}, {"mcunet-in3", "shift", 1.323, 0.545}, {"mcunet-in3", "add", 2.345, 1.72},
	{"proxyless-w0.35", "base", 2.471, 0.883}, {"proxyless-w0.35", "shift", 0.774, 0.294}, {"proxyless-w0.35", "add", 1.281, 0.881},
	{"mbv2-tiny", "base", 2.161, 0.67}, {"mbv2-tiny", "shift", 0.697, 0.228}, {"mbv2-tiny", "add", 0.999, 0.693},
}

// TestTable3Hardware: all 15 energy and latency values of Table 3 within 0.5% (the paper's rounding alone
// accounts for up to 0.2%), with the paper's depthwise policy and Shift quirk.
func TestTable3Hardware(t *testing.T) {
	cfg := DefaultConfig()
	for _, row := range table3Hardware {
		m, err := arch.Get(row.model, 0)
		if err != nil {
			t.Fatal(err)
		}
		nc, err := CostModel(cfg, m, arch.Method(row.method), 160, ModelOptions{PaperShiftQuirk: true})
		if err != nil {
			t.Fatal(err)
		}
		if d := math.Abs(nc.EnergyMJ/row.energy - 1); d > 0.005 {
			t.Errorf("%s %s energy %.4f mJ, paper %.3f (%.2f%% off)", row.model, row.method, nc.EnergyMJ, row.energy, 100*d)
		}
		if d := math.Abs(nc.LatencyMS/row.latency - 1); d > 0.005 {
			t.Errorf("%s %s latency %.4f ms, paper %.3f (%.2f%% off)", row.model, row.method, nc.LatencyMS, row.latency, 100*d)
		}
	}
}

// TestShiftPlainSums: without the quirk the Shift rows are the plain all-shift sums sim.md §5 reports.
func TestShiftPlainSums(t *testing.T) {
	want := map[string][2]float64{"mbv2-w0.35": {0.702, 0.228}, "mbv3-w0.35": {0.521, 0.152}, "mcunet-in3": {1.270, 0.526},
		"proxyless-w0.35": {0.737, 0.276}, "mbv2-tiny": {0.647, 0.209}}
	for name, w := range want {
		m, _ := arch.Get(name, 0)
		nc, err := CostModel(DefaultConfig(), m, arch.MethodShift, 160, ModelOptions{PaperShiftQuirk: true})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(nc.PlainEnergyMJ-w[0]) > 0.0015 || math.Abs(nc.PlainLatencyMS-w[1]) > 0.0015 {
			t.Errorf("%s plain shift %.4f mJ %.4f ms, want %.3f / %.3f", name, nc.PlainEnergyMJ, nc.PlainLatencyMS, w[0], w[1])
		}
	}
}

func TestModelLayersMatchArchMACs(t *testing.T) {
	for _, name := range arch.PaperModels {
		m, _ := arch.Get(name, 0)
		c, _ := m.Count(160)
		ls, err := ModelLayers(m, 160, DWChannelOne)
		if err != nil {
			t.Fatal(err)
		}
		var macs int64
		for _, l := range ls {
			macs += l.MACs()
		}
		if macs != c.MACs {
			t.Errorf("%s: simulator layers have %d MACs, arch counts %d", name, macs, c.MACs)
		}
	}
}

func BenchmarkTable3(b *testing.B) {
	cfg := DefaultConfig()
	for i := 0; i < b.N; i++ {
		clearCache()
		for _, row := range table3Hardware {
			m, _ := arch.Get(row.model, 0)
			if _, err := CostModel(cfg, m, arch.Method(row.method), 160, ModelOptions{PaperShiftQuirk: true}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func clearCache() {
	cacheMu.Lock()
	clear(cache)
	cacheMu.Unlock()
}

// TestSmallResolutions: every paper model and method is costed at the resolutions the mini experiments use,
// including layers with a single output row (E = 1), which the reference never meets at 160x160.
func TestSmallResolutions(t *testing.T) {
	for _, name := range arch.PaperModels {
		m, _ := arch.Get(name, 10)
		for _, method := range arch.Methods {
			for _, res := range []int{32, 64, 96} {
				nc, err := CostModel(DefaultConfig(), m, method, res, ModelOptions{})
				if err != nil {
					t.Fatalf("%s %s at %d: %v", name, method, res, err)
				}
				if nc.EnergyMJ <= 0 || nc.LatencyMS <= 0 {
					t.Errorf("%s %s at %d: energy %g latency %g", name, method, res, nc.EnergyMJ, nc.LatencyMS)
				}
			}
		}
	}
}
