package sim

import (
	"fmt"
	"sync"
)

// Tiling is one mapping of a layer's loop nest onto the storage levels
// (sim.md §2.2):
//
//	RF (inside a PE, temporal):   M0, C0, S, F, N0
//	PE array (spatial):           M1, C1, E1, R
//	global buffer (temporal):     M2, C2
//	DRAM (temporal):              M3, E3, N3, C3
//
// with N=N0·N3, M=M0·M1·M2·M3, C=C0·C1·C2·C3 (C3 is always 1) and E=E1·E3.
// R, S and F are not tiled.
type Tiling struct {
	N0, N3         int
	M0, M1, M2, M3 int
	C0, C1, C2, C3 int
	E1, E3         int
}

// String writes the factors in the reference's tiling_factor key order,
// N0-N3-M0-M1-M2-M3-C0-C1-C2-C3-E1-E3; e.g. the MBV2 stem's
// "1-1-16-1-1-1-1-3-1-1-20-4" is M0=16, C1=3, E1=20, E3=4.
func (t Tiling) String() string {
	return fmt.Sprintf("%d-%d-%d-%d-%d-%d-%d-%d-%d-%d-%d-%d",
		t.N0, t.N3, t.M0, t.M1, t.M2, t.M3, t.C0, t.C1, t.C2, t.C3, t.E1, t.E3)
}

// PEsUsed is the number of PEs the tiling occupies, M1·C1·E1·R.
func (t Tiling) PEsUsed(l Layer) int { return t.M1 * t.C1 * t.E1 * l.K }

// GBWordsUsed is the global-buffer footprint in words: the ifmap tile
// N0·C1·C0·((E1−1)·stride+R)·((F−1)·stride+S) plus the psum tile
// N0·M2·M1·M0·E1·F.
func (t Tiling) GBWordsUsed(l Layer) int {
	return t.N0*t.C1*t.C0*((t.E1-1)*l.Stride+l.K)*((l.F-1)*l.Stride+l.K) + t.N0*t.M2*t.M1*t.M0*t.E1*l.F
}

// Cycles is the tiling's latency in cycles: the product of all temporal
// loops, N0·N3·M3·M2·M0·C3·C2·C0·E3·F·S. The spatial loops (M1, C1, E1, R)
// run in parallel; there is no stall or bandwidth model.
func (t Tiling) Cycles(l Layer) int64 {
	return int64(t.N0) * int64(t.N3) * int64(t.M3) * int64(t.M2) * int64(t.M0) *
		int64(t.C3) * int64(t.C2) * int64(t.C0) * int64(t.E3) * int64(l.F) * int64(l.K)
}

// CheckTiling returns nil when t is a valid tiling of l under cfg, or an
// error naming the first rule it breaks (sim.md §2.2).
func CheckTiling(cfg Config, l Layer, t Tiling) error {
	switch {
	case t.N0*t.N3 != l.N:
		return fmt.Errorf("N0·N3 = %d·%d != N = %d", t.N0, t.N3, l.N)
	case t.M0*t.M1*t.M2*t.M3 != l.M:
		return fmt.Errorf("M0·M1·M2·M3 = %d != M = %d", t.M0*t.M1*t.M2*t.M3, l.M)
	case t.C3 != 1:
		return fmt.Errorf("C3 = %d, must be 1", t.C3)
	case t.C0*t.C1*t.C2*t.C3 != l.C:
		return fmt.Errorf("C0·C1·C2·C3 = %d != C = %d", t.C0*t.C1*t.C2*t.C3, l.C)
	case t.E1*t.E3 != l.E:
		return fmt.Errorf("E1·E3 = %d != E = %d", t.E1*t.E3, l.E)
	case t.E1 == 1 && !l.FCLike() && l.E != 1:
		// The reference forbids E1 = 1 unless the layer is FC-like. A layer with a single output row (E = 1,
		// e.g. a stride-2 conv on a 2x2 map at small input resolutions) has no other choice, and the reference,
		// only ever run at 160x160 where E >= 5, never meets one; we allow it there so any resolution is costed.
		return fmt.Errorf("E1 = 1 on a layer that is not FC-like")
	case t.M0 > cfg.PsumRF:
		return fmt.Errorf("psum RF: M0 = %d > %d", t.M0, cfg.PsumRF)
	case t.PEsUsed(l) >= cfg.PEs():
		return fmt.Errorf("PE array: M1·C1·E1·R = %d, must be < %d", t.PEsUsed(l), cfg.PEs())
	case t.C0*l.K >= cfg.IfmapRF:
		return fmt.Errorf("ifmap RF: C0·S = %d, must be < %d", t.C0*l.K, cfg.IfmapRF)
	case t.M0*t.C0*l.K >= cfg.WeightRF:
		return fmt.Errorf("weight RF: M0·C0·S = %d, must be < %d", t.M0*t.C0*l.K, cfg.WeightRF)
	case t.GBWordsUsed(l) >= cfg.GBWords:
		return fmt.Errorf("global buffer: %d words, must be < %d", t.GBWordsUsed(l), cfg.GBWords)
	}
	return nil
}

// Accesses are the per-level, per-data-type access counts of one tiling
// (sim.md §2.3). Ifmap NoC and RF counts are real-valued because they carry
// the ratios E/H and F/W (0.5 at stride 2). Weights do not pass the GB.
type Accesses struct {
	DRAMIfmap, DRAMWeight, DRAMOfmap float64
	GBIfmap, GBOfmap                 float64
	NoCIfmap, NoCWeight, NoCOfmap    float64
	RFIfmap, RFWeight, RFOfmap       float64
}

func maxf1(x int) float64 {
	if x < 1 {
		return 1
	}
	return float64(x)
}

// Count returns the access counts of tiling t on layer l. It does not check
// validity.
func (t Tiling) Count(l Layer) Accesses {
	nIf := float64(l.N * l.H * l.W * l.C)
	nW := float64(l.K * l.K * l.C * l.M)
	nOf := float64(l.N * l.E * l.F * l.M)
	R, S := l.K, l.K
	// Ifmap rows reach the array once per (M3, M2, M1, R) and are reused E/H
	// times less often at stride > 1; evaluated in the reference's order.
	ifNoC := float64(t.M3*t.M2*t.M1*R*l.E) / float64(l.H)
	return Accesses{
		DRAMIfmap:  float64(t.M3) * nIf,
		DRAMWeight: float64(t.N3*t.E3) * nW,
		DRAMOfmap:  maxf1(2*t.C3-1) * nOf,
		GBIfmap:    float64(t.M3*t.M2) * nIf,
		GBOfmap:    maxf1(2*t.C3*(t.C2-1)) * nOf,
		NoCIfmap:   ifNoC * nIf,
		NoCWeight:  float64(t.N3*t.E3*t.E1) * nW,
		NoCOfmap:   maxf1(t.C3*t.C2*(t.C1*R-1)) * nOf,
		RFIfmap:    ifNoC * float64(t.M0) * float64(S) * float64(l.F) / float64(l.W) * nIf,
		RFWeight:   float64(t.N3*t.E3*t.E1*l.F*t.N0) * nW,
		RFOfmap:    maxf1(2*t.C3*t.C2*t.C1*R*(t.C0*S-1)) * nOf,
	}
}

// Breakdown is an energy split by where it is spent (mJ).
type Breakdown struct {
	Compute float64 // MACs × op cost
	DRAM    float64 // ifmap, weight and ofmap DRAM accesses
	Buffer  float64 // global-buffer accesses
	NoC     float64 // array network: ifmap, weight and psum
	RF      float64 // register files: ifmap, psum and weight
}

// Total is the sum of the components.
func (b Breakdown) Total() float64 { return b.Compute + b.DRAM + b.Buffer + b.NoC + b.RF }

// Plus returns the component-wise sum.
func (b Breakdown) Plus(o Breakdown) Breakdown {
	return Breakdown{b.Compute + o.Compute, b.DRAM + o.DRAM, b.Buffer + o.Buffer, b.NoC + o.NoC, b.RF + o.RF}
}

// Minus returns the component-wise difference.
func (b Breakdown) Minus(o Breakdown) Breakdown {
	return Breakdown{b.Compute - o.Compute, b.DRAM - o.DRAM, b.Buffer - o.Buffer, b.NoC - o.NoC, b.RF - o.RF}
}

// pJ per mJ.
const pjPerMJ = 1e9

// breakdownPJ prices access counts with unit costs (pJ). The reference's
// DRAM→GB transfer term has unit cost 0 and is left out.
func breakdownPJ(a Accesses, u UnitCost, macs float64) Breakdown {
	return Breakdown{
		Compute: macs * u.Op,
		DRAM:    (a.DRAMIfmap + a.DRAMWeight + a.DRAMOfmap) * u.DRAM,
		Buffer:  (a.GBIfmap + a.GBOfmap) * u.GB,
		NoC:     (a.NoCIfmap+a.NoCWeight)*u.NoC + a.NoCOfmap*u.NoCPsum,
		RF:      (a.RFIfmap+a.RFOfmap)*u.RF + a.RFWeight*u.RFWeight,
	}
}

// TilingCost is the cost of one tiling of one layer.
type TilingCost struct {
	Tiling    Tiling
	Access    Accesses
	Breakdown Breakdown // mJ
	EnergyMJ  float64
	Cycles    int64
	LatencyMS float64
}

// EvalTiling costs layer l under tiling t without checking validity (use
// CheckTiling for that).
func EvalTiling(cfg Config, l Layer, t Tiling) TilingCost {
	u := cfg.UnitCosts(l.Kind)
	a := t.Count(l)
	b := breakdownPJ(a, u, float64(l.MACs()))
	b = Breakdown{b.Compute / pjPerMJ, b.DRAM / pjPerMJ, b.Buffer / pjPerMJ, b.NoC / pjPerMJ, b.RF / pjPerMJ}
	cyc := t.Cycles(l)
	return TilingCost{
		Tiling: t, Access: a, Breakdown: b, EnergyMJ: b.Total(),
		Cycles: cyc, LatencyMS: float64(cyc) * u.CycleNs * 1e-6,
	}
}

// divisors returns the divisors of n in ascending order.
func divisors(n int) []int {
	var lo, hi []int
	for d := 1; d*d <= n; d++ {
		if n%d == 0 {
			lo = append(lo, d)
			if d*d != n {
				hi = append(hi, n/d)
			}
		}
	}
	for i := len(hi) - 1; i >= 0; i-- {
		lo = append(lo, hi[i])
	}
	return lo
}

// ForEachTiling calls fn for every valid tiling of l, pruning while it
// enumerates: the loops run outward-constraint first (E1, M0, M1, C0, C1, N0,
// M2) over ascending divisors, and every bound is monotone in the factor it
// is checked on, so a failed check ends that loop. The visiting order is not
// the reference's; selection ties are resolved by RefOrderLess instead.
func ForEachTiling(cfg Config, l Layer, fn func(Tiling)) {
	fc := l.FCLike()
	pes := cfg.PEs()
	R, S, F, st := l.K, l.K, l.F, l.Stride
	divM, divC, divE, divN := divisors(l.M), divisors(l.C), divisors(l.E), divisors(l.N)
	for _, e1 := range divE {
		if e1 == 1 && !fc && l.E != 1 {
			continue
		}
		if e1*R >= pes {
			break
		}
		e3 := l.E / e1
		rowsIn := ((e1-1)*st + R) * ((F-1)*st + S) // ifmap tile per (N0, C0, C1)
		for _, m0 := range divM {
			if m0 > cfg.PsumRF || m0*S >= cfg.WeightRF {
				break
			}
			mr := l.M / m0
			for _, m1 := range divM {
				if m1 > mr || m1*e1*R >= pes {
					break
				}
				if mr%m1 != 0 {
					continue
				}
				mr2 := mr / m1
				for _, c0 := range divC {
					if c0*S >= cfg.IfmapRF || m0*c0*S >= cfg.WeightRF {
						break
					}
					cr := l.C / c0
					for _, c1 := range divC {
						if c1 > cr || m1*c1*e1*R >= pes {
							break
						}
						if cr%c1 != 0 {
							continue
						}
						c2 := cr / c1
						for _, n0 := range divN {
							inBuf := n0 * c1 * c0 * rowsIn
							psum := n0 * m1 * m0 * e1 * F // per unit of M2
							if inBuf+psum >= cfg.GBWords {
								break
							}
							n3 := l.N / n0
							for _, m2 := range divM {
								if m2 > mr2 || inBuf+psum*m2 >= cfg.GBWords {
									break
								}
								if mr2%m2 != 0 {
									continue
								}
								fn(Tiling{N0: n0, N3: n3, M0: m0, M1: m1, M2: m2, M3: mr2 / m2,
									C0: c0, C1: c1, C2: c2, C3: 1, E1: e1, E3: e3})
							}
						}
					}
				}
			}
		}
	}
}

// refDivisorOrder is the order in which the reference's tile() tries the
// first factor of n: products of subsets of n's ascending prime factors
// (with multiplicity), "take this prime" before "skip it", duplicates dropped
// keeping the first. For 12 = 2·2·3: 12, 4, 6, 2, 3, 1.
func refDivisorOrder(n int) []int {
	refOrderMu.Lock()
	defer refOrderMu.Unlock()
	if o, ok := refOrderCache[n]; ok {
		return o
	}
	var primes []int
	for p, r := 2, n; r > 1; {
		if p*p > r {
			primes = append(primes, r)
			break
		}
		if r%p == 0 {
			primes = append(primes, p)
			r /= p
		} else {
			p++
		}
	}
	var out []int
	seen := map[int]bool{}
	var rec func(x, i int)
	rec = func(x, i int) {
		if i == len(primes) {
			if !seen[x] {
				seen[x] = true
				out = append(out, x)
			}
			return
		}
		rec(x*primes[i], i+1)
		rec(x, i+1)
	}
	rec(1, 0)
	if len(refOrderCache) > 1<<12 {
		clear(refOrderCache)
	}
	refOrderCache[n] = out
	return out
}

var (
	refOrderMu    sync.Mutex
	refOrderCache = map[int][]int{}
)

func refRank(n, d int) int {
	for i, v := range refDivisorOrder(n) {
		if v == d {
			return i
		}
	}
	return -1
}

// refKey places a tiling in the reference's enumeration order: loops over N,
// then M, then C, then E tilings, each dimension's ordered factorisations
// generated first factor outermost, in refDivisorOrder. Keys compare
// lexicographically.
func refKey(l Layer, t Tiling) [7]int {
	return [7]int{
		refRank(l.N, t.N0),
		refRank(l.M, t.M0), refRank(l.M/t.M0, t.M1), refRank(l.M/t.M0/t.M1, t.M2),
		refRank(l.C, t.C0), refRank(l.C/t.C0, t.C1),
		refRank(l.E, t.E1),
	}
}

func keyLess(a, b [7]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// RefOrderLess reports whether the reference simulator would visit a before
// b when enumerating tilings of l. Selection keeps the first of equally good
// tilings in that order, so ties resolve as the reference's would.
func RefOrderLess(l Layer, a, b Tiling) bool {
	return keyLess(refKey(l, a), refKey(l, b))
}
