package sim

import (
	"math"
	"strings"
	"testing"
)

func relClose(got, want, tol float64) bool {
	if want == 0 {
		return math.Abs(got) <= tol
	}
	return math.Abs(got-want) <= tol*math.Abs(want)
}

func mustCost(t *testing.T, l Layer) LayerCost {
	t.Helper()
	c, err := CostLayer(DefaultConfig(), l)
	if err != nil {
		t.Fatalf("CostLayer(%v): %v", l, err)
	}
	return c
}

// TestUnitCosts pins the unit-cost table of sim.md §2.4.
func TestUnitCosts(t *testing.T) {
	cfg := DefaultConfig()
	for _, tc := range []struct {
		k    Kind
		want UnitCost
	}{
		{Conv, UnitCost{3.7, 400, 44.4, 14.8, 7.4, 7.4, 14.8, 4}},
		{FC, UnitCost{3.7, 400, 44.4, 14.8, 7.4, 7.4, 14.8, 4}},
		{Add, UnitCost{0.9, 0, 0, 0, 7.4, 7.4, 14.8, 4}},
		{Shift, UnitCost{0.13, 125, 13.875, 4.625, 2.3125, 2.3125, 4.625, 1.25}},
		{AvgPool, UnitCost{0, 400, 44.4, 14.8, 7.4, 7.4, 14.8, 4}},
		{MaxPool, UnitCost{0, 400, 44.4, 14.8, 7.4, 7.4, 14.8, 4}},
	} {
		got := cfg.UnitCosts(tc.k)
		g := []float64{got.Op, got.DRAM, got.GB, got.NoC, got.NoCPsum, got.RF, got.RFWeight, got.CycleNs}
		w := []float64{tc.want.Op, tc.want.DRAM, tc.want.GB, tc.want.NoC, tc.want.NoCPsum, tc.want.RF, tc.want.RFWeight, tc.want.CycleNs}
		for i := range g {
			if !relClose(g[i], w[i], 1e-12) {
				t.Errorf("%v: unit costs %+v, want %+v", tc.k, got, tc.want)
				break
			}
		}
	}
	if cfg.PEs() != 192 || cfg.ShiftBits != 10 {
		t.Errorf("PEs %d shift bits %d, want 192 and 10", cfg.PEs(), cfg.ShiftBits)
	}
}

type accWant struct {
	dramIf, dramW, dramOf, gbIf, gbOf, nocIf, nocW, nocOf, rfIf, rfW, rfOf float64
}

func checkHand(t *testing.T, c LayerCost, tiling string, a accWant, b Breakdown, pj, cycles float64, cycleNs float64) {
	t.Helper()
	if c.Tiling.String() != tiling {
		t.Errorf("tiling %s, want %s", c.Tiling, tiling)
	}
	got := c.Access
	g := []float64{got.DRAMIfmap, got.DRAMWeight, got.DRAMOfmap, got.GBIfmap, got.GBOfmap, got.NoCIfmap, got.NoCWeight, got.NoCOfmap, got.RFIfmap, got.RFWeight, got.RFOfmap}
	w := []float64{a.dramIf, a.dramW, a.dramOf, a.gbIf, a.gbOf, a.nocIf, a.nocW, a.nocOf, a.rfIf, a.rfW, a.rfOf}
	names := strings.Fields("DRAM_if DRAM_w DRAM_of GB_if GB_of NoC_if NoC_w NoC_of RF_if RF_w RF_of")
	for i := range g {
		if !relClose(g[i], w[i], 1e-12) {
			t.Errorf("%s = %g, want %g", names[i], g[i], w[i])
		}
	}
	gb := []float64{c.Breakdown.Compute, c.Breakdown.DRAM, c.Breakdown.Buffer, c.Breakdown.NoC, c.Breakdown.RF}
	wb := []float64{b.Compute, b.DRAM, b.Buffer, b.NoC, b.RF}
	for i := range gb {
		if !relClose(gb[i]*1e9, wb[i], 1e-9) {
			t.Errorf("breakdown %d = %g pJ, want %g", i, gb[i]*1e9, wb[i])
		}
	}
	if !relClose(c.EnergyMJ*1e9, pj, 1e-9) {
		t.Errorf("energy %g pJ, want %g", c.EnergyMJ*1e9, pj)
	}
	if float64(c.Cycles) != cycles || !relClose(c.LatencyMS, cycles*cycleNs*1e-6, 1e-12) {
		t.Errorf("latency %d cycles / %g ms, want %g cycles", c.Cycles, c.LatencyMS, cycles)
	}
	if err := CheckTiling(DefaultConfig(), c.Layer, c.Tiling); err != nil {
		t.Errorf("chosen tiling invalid: %v", err)
	}
}

// TestHandConv: conv N=1, 4×4×2 → 2×2×2, k3 s2 (Conv unit costs: op 3.7,
// DRAM 400, GB 44.4, NoC 14.8, psum NoC 7.4, RF 7.4, weight RF 14.8 pJ).
//
// n_if = 4·4·2 = 32, n_w = 3·3·2·2 = 36, n_of = 2·2·2 = 8, MACs = 8·9·2 = 144.
// E = 2 and E1 ≠ 1 force E1 = 2, E3 = 1. M = 2 gives four (M0,M1,M2,M3):
// A (2,1,1,1), B (1,2,1,1), C (1,1,2,1), D (1,1,1,2); C = 2 gives three
// (C0,C1,C2): a (2,1,1), b (1,2,1), c (1,1,2). All 12 are valid (≤ 2·2·2·3 =
// 24 PEs, C0·S ≤ 6). With E/H = 1/2:
//
//	DRAM_if = 32·M3, DRAM_w = 36, DRAM_of = 8, GB_if = 32·M3·M2,
//	NoC_if = M3·M2·M1·3·½·32 = 48·M3M2M1, NoC_w = E1·36 = 72,
//	RF_if = M3M2M1·3·½·M0·3·2·¼·32 = 144, RF_w = E1·F·36 = 144,
//	GB_of = max(2(C2−1),1)·8, NoC_of = max(C2(3C1−1),1)·8,
//	RF_of = max(2·C2·C1·3·(3C0−1),1)·8, cycles = M3M2M0·C2C0·E3·F·S = 6·M3M2M0·C2C0.
//
// M-dependent pJ ((DRAM_if + DRAM_w + DRAM_of)·400 + GB_if·44.4 +
// NoC_if·14.8) and cycle factor: A 30400+1420.8+710.4 = 32531.2 (×2), B
// 30400+1420.8+1420.8 = 33241.6 (×1), C 30400+2841.6+1420.8 = 34662.4 (×2),
// D 43200+2841.6+1420.8 = 47462.4 (×2). C-dependent pJ (GB_of·44.4 +
// (NoC_of + RF_of)·7.4): a 355.2+118.4+1776 = 2249.6 (×2), b 355.2+296+1420.8
// = 2072 (×1), c 710.4+236.8+1420.8 = 2368 (×2). Fixed: compute 532.8 + NoC_w
// 1065.6 + RF_if 1065.6 + RF_w 2131.2 = 4795.2.
//
// Emin = A+b = 39398.4 (12 cycles), Emax = D+c = 54625.6, Lmin = 6 (only
// B+b), Lmax = 24. Score(B+b) = 710.4/54625.6 ≈ 0.013 beats Score(A+b) =
// 6/24 = 0.25 and every other, so B+b = 1-1-1-2-1-1-1-2-1-1-2-1 is chosen:
// 40108.8 pJ, 6 cycles = 24 ns.
func TestHandConv(t *testing.T) {
	l := ConvLayer("conv", Conv, 1, 2, 4, 2, 3, 2)
	if l.E != 2 || l.F != 2 || l.MACs() != 144 || l.FCLike() {
		t.Fatalf("layer %v: E=%d MACs=%d", l, l.E, l.MACs())
	}
	c := mustCost(t, l)
	if c.ValidTilings != 12 {
		t.Errorf("valid tilings %d, want 12", c.ValidTilings)
	}
	checkHand(t, c, "1-1-1-2-1-1-1-2-1-1-2-1",
		accWant{32, 36, 8, 32, 8, 96, 72, 40, 144, 144, 192},
		// compute 144·3.7; DRAM 76·400; GB 40·44.4; NoC 168·14.8 + 40·7.4;
		// RF 336·7.4 + 144·14.8.
		Breakdown{532.8, 30400, 1776, 2486.4 + 296, 2486.4 + 2131.2},
		40108.8, 6, 4)
	if !relClose(c.MinEnergyMJ*1e9, 39398.4, 1e-9) || !relClose(c.MinLatencyMS, 24e-6, 1e-9) {
		t.Errorf("min energy %g pJ, min latency %g ms; want 39398.4 and 2.4e-5", c.MinEnergyMJ*1e9, c.MinLatencyMS)
	}
}

// TestHandDepthwise: depthwise 3×3 s1 over 2 channels of 4×4, fed as C = 1,
// M = 2 (DWChannelOne): E = F = 4, n_if = 16, n_w = 9·2 = 18, n_of = 32,
// MACs = 16·2·9 = 288. C = 1 leaves one (C0,C1,C2) = (1,1,1); M = 2 the
// four A..D of TestHandConv; E1 ∈ {2, 4}: 8 tilings, all valid.
//
//	DRAM_if = 16·M3, DRAM_w = E3·18, DRAM_of = 32, GB_if = 16·M3M2,
//	GB_of = max(0,1)·32 = 32, NoC_if = M3M2M1·3·(4/4)·16 = 48·M3M2M1,
//	NoC_w = E3·E1·18 = 72, NoC_of = max(1·(3−1),1)·32 = 64,
//	RF_if = 3·3·M·16 = 288, RF_w = E·F·18 = 288, RF_of = 2·3·2·32 = 384,
//	cycles = M3M2M0·E3·F·S = 12·M3M2M0·E3.
//
// Fixed pJ: 288·3.7 + 32·400 + 32·44.4 + 72·14.8 + 64·7.4 + 672·7.4 +
// 288·14.8 = 26060.8. Variable: 6400·M3 + 7200·E3 + 710.4·(M3M2 + M3M2M1).
// With E1 = 4 (E3 = 1): A 41081.6 (24 cyc), B 41792 (12), C 42502.4 (24),
// D 48902.4 (24); with E1 = 2 (E3 = 2) everything is 7200 pJ dearer and
// twice as slow (D: 56102.4 pJ, 48 cyc). Emin 41081.6, Emax 56102.4, Lmin 12
// (B only), Lmax 48: Score(B) = 710.4/56102.4 ≈ 0.013 < Score(A) = 0.25.
// Chosen 1-1-1-2-1-1-1-1-1-1-4-1: 41792 pJ, 12 cycles = 48 ns.
func TestHandDepthwise(t *testing.T) {
	l := DepthwiseLayer("dw", Conv, 1, 2, 4, 3, 1, DWChannelOne)
	if l.C != 1 || l.M != 2 || l.E != 4 || l.MACs() != 288 {
		t.Fatalf("layer %v", l)
	}
	c := mustCost(t, l)
	if c.ValidTilings != 8 {
		t.Errorf("valid tilings %d, want 8", c.ValidTilings)
	}
	checkHand(t, c, "1-1-1-2-1-1-1-1-1-1-4-1",
		accWant{16, 18, 32, 16, 32, 96, 72, 64, 288, 288, 384},
		Breakdown{1065.6, 26400, 2131.2, 2486.4 + 473.6, 4972.8 + 4262.4},
		41792, 12, 4)
}

// TestHandFC: Linear 2 → 2 (H=W=E=F=1, k=1): n_if = 2, n_w = 4, n_of = 2,
// MACs = 4. FC-like, so E1 = 1 is allowed (and the only option). M = 2:
// A..D as above; C = 2: a (2,1,1), b (1,2,1), c (1,1,2). 12 tilings.
//
//	DRAM_if = 2·M3, DRAM_w = 4, DRAM_of = 2, GB_if = 2·M3M2,
//	NoC_if = 2·M3M2M1, NoC_w = 4, RF_if = 2·M = 4, RF_w = 4,
//	GB_of = max(2(C2−1),1)·2, NoC_of = max(C2(C1−1),1)·2,
//	RF_of = max(2·C2·C1·(C0−1),1)·2, cycles = M3M2M0·C2C0.
//
// M part (DRAM_if·400 + GB_if·44.4 + NoC_if·14.8): A 918.4 (×2), B 948
// (×1), C 1036.8 (×2), D 1836.8 (×2). C part (GB_of·44.4 + (NoC_of +
// RF_of)·7.4): a 133.2 (×2), b 118.4 (×1), c 207.2 (×2). Fixed: 14.8 +
// 6·400 + 4·14.8 + 4·7.4 + 4·14.8 = 2562.8. Emin = A+b = 3599.6 (2 cyc),
// Emax = D+c = 4606.8, Lmin = 1 (B+b only), Lmax = 4: Score(B+b) =
// 29.6/4606.8 ≈ 0.006 < Score(A+b) = 0.25. Chosen 1-1-1-2-1-1-1-2-1-1-1-1:
// 3629.2 pJ, 1 cycle.
func TestHandFC(t *testing.T) {
	l := FCLayer("fc", FC, 1, 2, 2)
	c := mustCost(t, l)
	if c.ValidTilings != 12 {
		t.Errorf("valid tilings %d, want 12", c.ValidTilings)
	}
	checkHand(t, c, "1-1-1-2-1-1-1-2-1-1-1-1",
		accWant{2, 4, 2, 2, 2, 4, 4, 2, 4, 4, 2},
		Breakdown{14.8, 3200, 177.6, 118.4 + 14.8, 44.4 + 59.2},
		3629.2, 1, 4)
}

// TestValidityRules exercises each rule of CheckTiling at its boundary.
func TestValidityRules(t *testing.T) {
	cfg := DefaultConfig()
	// dw-like: C=1, M=16, 64×64, k3: E1=64, M1=1 uses 64·3 = 192 PEs: one too many.
	l := Layer{Kind: Conv, N: 1, H: 64, W: 64, C: 1, K: 3, M: 16, E: 64, F: 64, Stride: 1}
	base := Tiling{N0: 1, N3: 1, M0: 16, M1: 1, M2: 1, M3: 1, C0: 1, C1: 1, C2: 1, C3: 1, E1: 32, E3: 2}
	if err := CheckTiling(cfg, l, base); err != nil {
		t.Fatalf("base tiling rejected: %v", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Tiling, *Layer)
		want string
	}{
		{"PE strict", func(t *Tiling, _ *Layer) { t.E1, t.E3 = 64, 1 }, "PE array"},
		{"E1=1 conv", func(t *Tiling, _ *Layer) { t.E1, t.E3 = 1, 64 }, "FC-like"},
		{"psum RF", func(t *Tiling, l *Layer) { l.M = 32; t.M0 = 32 }, "psum RF"},
		{"ifmap RF", func(t *Tiling, l *Layer) { l.C = 4; t.C0 = 4 }, "ifmap RF"}, // 4·3 = 12, not < 12
		{"C3", func(t *Tiling, l *Layer) { l.C = 2; t.C3 = 2 }, "C3"},
		{"GB", func(t *Tiling, l *Layer) { l.N = 64; t.N0 = 64 }, "global buffer"},
	} {
		tt, ll := base, l
		tc.mod(&tt, &ll)
		if err := CheckTiling(cfg, ll, tt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error about %q", tc.name, err, tc.want)
		}
	}
	// Weight RF at its own boundary: M0·C0·S < 960 with a config that makes
	// it the binding rule.
	cfg2 := cfg
	cfg2.WeightRF = 48
	if err := CheckTiling(cfg2, l, base); err == nil || !strings.Contains(err.Error(), "weight RF") {
		t.Errorf("weight RF 16·1·3 = 48 ≥ 48 accepted: %v", err)
	}
	// The FC-like E1=1 exemption: a 1×1 map conv (an SE conv) may use E1 = 1.
	se := ConvLayer("se", Conv, 1, 16, 1, 8, 1, 1)
	if !se.FCLike() {
		t.Fatal("1×1 conv on a 1×1 map is FC-like")
	}
	mustCost(t, se)
	// A non-FC layer with a single output row (2×2 input, k3 s2) has only E1 = 1: allowed (the reference never
	// meets one at 160×160), and it is costed.
	mustCost(t, ConvLayer("one-row", Conv, 1, 8, 2, 8, 3, 2))
	big := ConvLayer("k13", Conv, 1, 8, 32, 8, 13, 1)
	if _, err := CostLayer(cfg, big); err == nil || !strings.Contains(err.Error(), "ifmap RF") {
		t.Errorf("k13: got %v, want an ifmap RF error", err)
	}
	if _, err := CostLayer(cfg, Layer{Name: "zero", Kind: Conv}); err == nil {
		t.Error("zero layer accepted")
	}
}

// refTilings enumerates every ordered factorisation (N into 2, M into 4, C
// into 4 with any C3, E into 2) in the reference's order, valid or not.
func refTilings(l Layer) []Tiling {
	var split func(n, parts int) [][]int
	split = func(n, parts int) [][]int {
		if parts == 1 {
			return [][]int{{n}}
		}
		var out [][]int
		for _, d := range refDivisorOrder(n) {
			for _, rest := range split(n/d, parts-1) {
				out = append(out, append([]int{d}, rest...))
			}
		}
		return out
	}
	var ts []Tiling
	for _, n := range split(l.N, 2) {
		for _, m := range split(l.M, 4) {
			for _, c := range split(l.C, 4) {
				for _, e := range split(l.E, 2) {
					ts = append(ts, Tiling{n[0], n[1], m[0], m[1], m[2], m[3], c[0], c[1], c[2], c[3], e[0], e[1]})
				}
			}
		}
	}
	return ts
}

func TestRefDivisorOrder(t *testing.T) {
	// 12 = 2·2·3: {2,2,3}, {2,2}, {2,3}, {2}, {2,3}dup, {2}dup, {3}, {}.
	want := []int{12, 4, 6, 2, 3, 1}
	got := refDivisorOrder(12)
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if g := refDivisorOrder(1); len(g) != 1 || g[0] != 1 {
		t.Errorf("refDivisorOrder(1) = %v", g)
	}
}

// TestPrunedEnumerationMatchesBruteForce: the pruned enumerator yields
// exactly the tilings that pass CheckTiling among all factorisations, and the
// chosen tiling is the first best-scoring one in the reference's order (so
// in particular never one that breaks a rule, e.g. uses ≥ 192 PEs).
func TestPrunedEnumerationMatchesBruteForce(t *testing.T) {
	cfg := DefaultConfig()
	layers := []Layer{
		ConvLayer("stem", Conv, 1, 3, 160, 16, 3, 2),
		ConvLayer("stem", Shift, 1, 3, 160, 16, 3, 2),
		ConvLayer("stem", Add, 1, 3, 160, 16, 3, 2),
		DepthwiseLayer("dw", Conv, 1, 48, 80, 3, 2, DWChannelOne),
		DepthwiseLayer("dwfold", Conv, 2, 6, 20, 5, 1, DWBatchFold),
		DepthwiseLayer("dwfull", Conv, 1, 24, 10, 7, 1, DWFullC),
		ConvLayer("pw", Add, 1, 56, 5, 336, 1, 1),
		ConvLayer("head", Conv, 1, 112, 5, 1280, 1, 1),
		ConvLayer("se", Shift, 1, 72, 1, 24, 1, 1),
		FCLayer("fc", FC, 1, 1280, 100),
		FCLayer("fcb", FC, 6, 96, 10),
		ConvLayer("conv", Conv, 4, 12, 12, 20, 3, 1),
	}
	for _, l := range layers {
		var want []Tiling
		for _, tl := range refTilings(l) {
			if CheckTiling(cfg, l, tl) == nil {
				want = append(want, tl)
			}
		}
		got := map[Tiling]bool{}
		ForEachTiling(cfg, l, func(tl Tiling) {
			if tl.PEsUsed(l) >= cfg.PEs() || tl.GBWordsUsed(l) >= cfg.GBWords {
				t.Errorf("%v: %v breaks the PE or GB limit", l, tl)
			}
			if got[tl] {
				t.Errorf("%v: %v visited twice", l, tl)
			}
			got[tl] = true
		})
		if len(got) != len(want) {
			t.Errorf("%v: pruned enumeration has %d tilings, brute force %d", l, len(got), len(want))
		}
		for _, tl := range want {
			if !got[tl] {
				t.Errorf("%v: pruned enumeration misses %v", l, tl)
				break
			}
		}
		// Reference selection over the brute-force list, in its order.
		es := make([]float64, len(want))
		ls := make([]float64, len(want))
		for i, tl := range want {
			tc := EvalTiling(cfg, l, tl)
			es[i], ls[i] = tc.EnergyMJ, tc.LatencyMS
		}
		eMin, eMax, lMin, lMax := es[0], es[0], ls[0], ls[0]
		for i := range es {
			eMin, eMax = min(eMin, es[i]), max(eMax, es[i])
			lMin, lMax = min(lMin, ls[i]), max(lMax, ls[i])
		}
		best := 0
		bestScore := (es[0]-eMin)/eMax + (ls[0]-lMin)/lMax
		for i := range es {
			if s := (es[i]-eMin)/eMax + (ls[i]-lMin)/lMax; s < bestScore-1e-12 {
				best, bestScore = i, s
			}
		}
		c := mustCost(t, l)
		if c.ValidTilings != len(want) {
			t.Errorf("%v: ValidTilings %d, want %d", l, c.ValidTilings, len(want))
		}
		if c.Tiling != want[best] {
			tc := EvalTiling(cfg, l, want[best])
			t.Errorf("%v: chose %v (%g mJ, %g ms), reference order gives %v (%g mJ, %g ms)",
				l, c.Tiling, c.EnergyMJ, c.LatencyMS, want[best], tc.EnergyMJ, tc.LatencyMS)
		}
		if err := CheckTiling(cfg, l, c.Tiling); err != nil {
			t.Errorf("%v: chosen tiling invalid: %v", l, err)
		}
	}
}

// TestGoldenMBV2Layers: per-layer values of sim.md §6 (MBV2-w0.35 at 160×160,
// N=1), within 1e-4 relative.
func TestGoldenMBV2Layers(t *testing.T) {
	for _, tc := range []struct {
		l        Layer
		mj, ms   float64
		tiling   string
		wantTile bool
	}{
		{ConvLayer("stem", Conv, 1, 3, 160, 16, 3, 2), 0.187494, 0.061440, "1-1-16-1-1-1-1-3-1-1-20-4", true},
		{ConvLayer("stem", Shift, 1, 3, 160, 16, 3, 2), 0.055754, 0.019200, "", false},
		{ConvLayer("stem", Add, 1, 3, 160, 16, 3, 2), 0.097208, 0.061440, "", false},
		{DepthwiseLayer("blk0.dw", Conv, 1, 16, 80, 3, 1, DWChannelOne), 0.083399, 0.030720, "", false},
		{ConvLayer("head.conv", Conv, 1, 112, 5, 1280, 1, 1), 0.225137, 0.089600, "", false},
		{FCLayer("fc", FC, 1, 1280, 100), 0.058505, 0.003200, "", false},
	} {
		c := mustCost(t, tc.l)
		if !relClose(c.EnergyMJ, tc.mj, 1e-4) || !relClose(c.LatencyMS, tc.ms, 1e-4) {
			t.Errorf("%v: %.6f mJ / %.6f ms, want %.6f / %.6f", tc.l, c.EnergyMJ, c.LatencyMS, tc.mj, tc.ms)
		}
		if tc.wantTile && c.Tiling.String() != tc.tiling {
			t.Errorf("%v: tiling %s, want %s", tc.l, c.Tiling, tc.tiling)
		}
		if !relClose(c.Breakdown.Total(), c.EnergyMJ, 1e-12) {
			t.Errorf("%v: breakdown %+v does not sum to %g", tc.l, c.Breakdown, c.EnergyMJ)
		}
	}
}

func TestDepthwisePolicies(t *testing.T) {
	c1 := DepthwiseLayer("dw", Conv, 1, 48, 80, 3, 2, DWChannelOne)
	fold := DepthwiseLayer("dw", Conv, 1, 48, 80, 3, 2, DWBatchFold)
	full := DepthwiseLayer("dw", Conv, 1, 48, 80, 3, 2, DWFullC)
	if c1.N != 1 || c1.C != 1 || c1.M != 48 || c1.E != 40 {
		t.Errorf("c1 policy: %v", c1)
	}
	if fold.N != 48 || fold.C != 1 || fold.M != 1 {
		t.Errorf("batch-fold policy: %v", fold)
	}
	if full.C != 48 || full.M != 48 || full.MACs() != 48*c1.MACs() {
		t.Errorf("full-C policy: %v", full)
	}
	if c1.MACs() != fold.MACs() || c1.MACs() != 9*48*40*40 {
		t.Errorf("MACs c1 %d fold %d", c1.MACs(), fold.MACs())
	}
	for _, s := range []string{"c1", "batchfold", "fullc"} {
		p, err := ParseDWPolicy(s)
		if err != nil || p.String() != s {
			t.Errorf("ParseDWPolicy(%q) = %v, %v", s, p, err)
		}
	}
}

func TestKindNames(t *testing.T) {
	for k := Conv; k <= MaxPool; k++ {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), got, err)
		}
	}
	if _, err := ParseKind("mul"); err == nil {
		t.Error("ParseKind(mul) accepted")
	}
}

func TestTable1(t *testing.T) {
	rows := Table1()
	if len(rows) != 3 || len(Table1DataTypes()) != 4 {
		t.Fatalf("Table1: %d rows", len(rows))
	}
	if rows[0].PJ["FP32"] != 3.7 || rows[1].PJ["FP32"] != 1.1 || rows[2].PJ["INT32"] != 0.13 || rows[2].PJ["INT8"] != 0.024 {
		t.Errorf("Table1 values: %+v", rows)
	}
	if _, ok := rows[2].PJ["FP32"]; ok {
		t.Error("Table1 Shift FP32 should be '-'")
	}
	cfg := DefaultConfig()
	if cfg.MultPJ != rows[0].PJ["FP32"] || cfg.ShiftPJ != rows[2].PJ["INT32"] || cfg.AddPJ != 0.9 {
		t.Errorf("config op costs %g/%g/%g disagree with Table 1 as documented", cfg.MultPJ, cfg.AddPJ, cfg.ShiftPJ)
	}
}

func TestCacheKeepsNames(t *testing.T) {
	a := mustCost(t, ConvLayer("first", Conv, 1, 8, 20, 16, 1, 1))
	b := mustCost(t, ConvLayer("second", Conv, 1, 8, 20, 16, 1, 1))
	if a.Layer.Name != "first" || b.Layer.Name != "second" || a.EnergyMJ != b.EnergyMJ {
		t.Errorf("cache: %q %q %g %g", a.Layer.Name, b.Layer.Name, a.EnergyMJ, b.EnergyMJ)
	}
	cfg := DefaultConfig()
	cfg.PERows = 14 // a different config must not hit the 16×12 entry
	c, err := CostLayer(cfg, ConvLayer("third", Conv, 1, 8, 20, 16, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if c.Tiling.PEsUsed(c.Layer) >= 168 {
		t.Errorf("14×12 config chose %v using %d PEs", c.Tiling, c.Tiling.PEsUsed(c.Layer))
	}
}

func BenchmarkCostLayer(b *testing.B) {
	cfg := DefaultConfig()
	layers := []Layer{
		ConvLayer("stem", Conv, 1, 3, 160, 16, 3, 2),
		DepthwiseLayer("dw", Conv, 1, 48, 80, 3, 2, DWChannelOne),
		ConvLayer("pw", Conv, 1, 56, 5, 336, 1, 1),
		ConvLayer("head", Conv, 1, 112, 5, 1280, 1, 1),
		FCLayer("fc", FC, 1, 1280, 100),
	}
	b.Run("uncached", func(b *testing.B) {
		for b.Loop() {
			for _, l := range layers {
				if _, err := search(cfg, l); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			for _, l := range layers {
				if _, err := CostLayer(cfg, l); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
