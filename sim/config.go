package sim

import "fmt"

// Config holds the accelerator description and the unit costs. All fields are
// plain data (the struct is comparable) so that a Config can key the layer
// cache. DefaultConfig returns the values ShiftAddAug's Table 3 was made with.
type Config struct {
	// PERows × PECols is the PE array; a tiling must use strictly fewer PEs
	// (M1·C1·E1·R < PERows·PECols), as the reference code's `<` does.
	PERows, PECols int
	// GBWords is the global-buffer capacity in words (strict `<`).
	GBWords int
	// PsumRF bounds M0 (M0 ≤ PsumRF): partial sums held per PE.
	PsumRF int
	// IfmapRF bounds the ifmap row segment held per PE (C0·S < IfmapRF).
	IfmapRF int
	// WeightRF bounds the weights held per PE (M0·C0·S < WeightRF). The
	// reference writes it as 192·5.
	WeightRF int

	// NumBits is the data width of Conv/FC/Add/pool layers; storage costs are
	// quoted per 16-bit access and scaled by NumBits/16.
	NumBits int
	// ShiftBits is the effective width of Shift layers, (16+5)/2 = 10 in the
	// reference (16-bit activations, 5-bit shift weights, integer division).
	// It scales both Shift storage costs (ShiftBits/16) and the Shift cycle
	// time (ShiftBits/NumBits).
	ShiftBits int
	// ClockMHz is the PE clock; one temporal loop iteration is one cycle.
	ClockMHz float64

	// Operator energies in pJ per MAC (FP32 column of the simulator's
	// get_unit_energy; see Table1 for how they relate to the paper's Table 1).
	MultPJ, AddPJ, ShiftPJ, PoolPJ float64

	// DRAMPJ is the DRAM cost in pJ per 16-bit access. Unlike the on-chip
	// levels it is absolute, not a multiple of MultPJ.
	DRAMPJ float64
	// RelBasePJ is the energy that the Eyeriss normalised on-chip costs are
	// multiples of: the FP32 MAC, 3.7 pJ, for every operator kind.
	RelBasePJ float64
	// Normalised on-chip costs (Eyeriss ISCA'16: GB 6×, array 2×, RF 1× a
	// MAC); NoCPsumRel and RFWeightRel are the reference code's own additions.
	GBRel, NoCRel, NoCPsumRel, RFRel, RFWeightRel float64

	// AddOnChip models adder layers as fully on-chip, as the reference does
	// (comment "on chip"): their DRAM, GB and ifmap/weight NoC costs are 0;
	// psum NoC and RF costs remain.
	AddOnChip bool
}

// DefaultConfig returns the 32-bit ShiftAddNAS setting that reproduces
// Table 3 (sim.md §2.2, §2.4, §3.1): a 16×12 PE array, 65,536-word GB, RF
// limits 16/12/960, 250 MHz, mult 3.7 / add 0.9 / shift 0.13 pJ, DRAM 200 pJ
// per 16 bits, on-chip costs 6/2/1/1/2 × 3.7 pJ, Shift at 10 bits.
func DefaultConfig() Config {
	return Config{
		PERows:      16,
		PECols:      12,
		GBWords:     65536,
		PsumRF:      16,
		IfmapRF:     12,
		WeightRF:    192 * 5,
		NumBits:     32,
		ShiftBits:   (16 + 5) / 2,
		ClockMHz:    250,
		MultPJ:      3.7,
		AddPJ:       0.9,
		ShiftPJ:     0.13,
		PoolPJ:      0,
		DRAMPJ:      200,
		RelBasePJ:   3.7,
		GBRel:       6,
		NoCRel:      2,
		NoCPsumRel:  1,
		RFRel:       1,
		RFWeightRel: 2,
		AddOnChip:   true,
	}
}

// PEs is the size of the PE array (the strict upper bound on M1·C1·E1·R).
func (c Config) PEs() int { return c.PERows * c.PECols }

// Validate reports a configuration that cannot cost anything.
func (c Config) Validate() error {
	switch {
	case c.PERows <= 0 || c.PECols <= 0:
		return fmt.Errorf("sim: PE array %dx%d must be positive", c.PERows, c.PECols)
	case c.GBWords <= 0 || c.PsumRF <= 0 || c.IfmapRF <= 0 || c.WeightRF <= 0:
		return fmt.Errorf("sim: memory limits must be positive (GB %d, RF %d/%d/%d)", c.GBWords, c.PsumRF, c.IfmapRF, c.WeightRF)
	case c.NumBits <= 0 || c.ShiftBits <= 0:
		return fmt.Errorf("sim: bit widths must be positive (num %d, shift %d)", c.NumBits, c.ShiftBits)
	case c.ClockMHz <= 0:
		return fmt.Errorf("sim: clock %g MHz must be positive", c.ClockMHz)
	}
	return nil
}

// UnitCost is the per-access energy table of one operator kind (pJ) and its
// cycle time. The field names follow the reference's unit_energy keys.
type UnitCost struct {
	Op       float64 // per MAC
	DRAM     float64 // per DRAM access (ifmap, weight, ofmap alike)
	GB       float64 // per global-buffer access (ifmap, ofmap; weights skip the GB)
	NoC      float64 // per array-network ifmap or weight access
	NoCPsum  float64 // per array-network psum access
	RF       float64 // per ifmap or psum register-file access
	RFWeight float64 // per weight register-file access
	CycleNs  float64 // duration of one temporal loop iteration
}

// UnitCosts derives the unit-cost row of sim.md §2.4 for one layer kind.
// For the default config: Conv/FC 3.7, 400, 44.4, 14.8, 7.4, 7.4, 14.8, 4 ns;
// Add 0.9, 0, 0, 0, 7.4, 7.4, 14.8, 4 ns; Shift 0.13, 125, 13.875, 4.625,
// 2.3125, 2.3125, 4.625, 1.25 ns.
func (c Config) UnitCosts(k Kind) UnitCost {
	bits := c.NumBits
	if k == Shift {
		bits = c.ShiftBits
	}
	scale := float64(bits) / 16
	cycle := 1e3 / c.ClockMHz
	if k == Shift {
		// The reference's "1/250e6/(32/num_bits)": shift layers also skip the
		// write-back and benefit from the narrower data path.
		cycle *= float64(c.ShiftBits) / float64(c.NumBits)
	}
	u := UnitCost{
		DRAM:     c.DRAMPJ * scale,
		GB:       c.GBRel * c.RelBasePJ * scale,
		NoC:      c.NoCRel * c.RelBasePJ * scale,
		NoCPsum:  c.NoCPsumRel * c.RelBasePJ * scale,
		RF:       c.RFRel * c.RelBasePJ * scale,
		RFWeight: c.RFWeightRel * c.RelBasePJ * scale,
		CycleNs:  cycle,
	}
	switch k {
	case Add:
		u.Op = c.AddPJ
		if c.AddOnChip {
			u.DRAM, u.GB, u.NoC = 0, 0, 0
		}
	case Shift:
		u.Op = c.ShiftPJ
	case AvgPool, MaxPool:
		u.Op = c.PoolPJ
	default: // Conv, FC
		u.Op = c.MultPJ
	}
	return u
}
