package nas

import (
	"fmt"
	"math"

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/sim"
)

// Cost is what sim says a deployed target costs at batch 1.
type Cost struct {
	EnergyMJ  float64 `json:"energy_mj"`
	LatencyMS float64 `json:"latency_ms"`
}

// Budget is the hardware limit the TargetNet must meet: both are hard constraints.
type Budget struct {
	EnergyMJ  float64 `json:"energy_mj"`
	LatencyMS float64 `json:"latency_ms"`
}

// Validate checks that both limits are positive, finite numbers.
func (b Budget) Validate() error {
	for _, v := range []struct {
		name, unit string
		v          float64
	}{{"energy", "mJ", b.EnergyMJ}, {"latency", "ms", b.LatencyMS}} {
		if !(v.v > 0) || math.IsInf(v.v, 0) {
			return fmt.Errorf("%s budget %g %s: must be a positive number", v.name, v.v, v.unit)
		}
	}
	return nil
}

// Meets reports whether c is within the budget.
func (b Budget) Meets(c Cost) bool { return c.EnergyMJ <= b.EnergyMJ && c.LatencyMS <= b.LatencyMS }

// TargetCost is sim's energy and latency of a target at resolution res with the operators it has: sim's default
// hardware and depthwise policy (what `shiftaddaug sim` reports), plain sums. With every block on the deployed
// method's operator this is sim.CostModel(cfg, m, method, res, ...); unlike CostModel it keeps per-block types
// (Table 2's Mult/Shift/Add blocks) instead of setting every layer to one method.
func TargetCost(m *arch.Model, res int) (Cost, error) {
	ls, err := sim.ModelLayers(m, res, sim.DWChannelOne)
	if err != nil {
		return Cost{}, err
	}
	nc, err := sim.CostNetwork(sim.DefaultConfig(), ls)
	if err != nil {
		return Cost{}, fmt.Errorf("costing %s at %dx%d: %w", m.Name, res, res, err)
	}
	return Cost{EnergyMJ: nc.EnergyMJ, LatencyMS: nc.LatencyMS}, nil
}

// Candidate is a decoded genome with its target's cost: what a fitness function receives.
type Candidate struct {
	Genome Genome
	Net    *Net
	Target *arch.Model
	Cost   Cost
}

// NewCandidate decodes g in the space and costs its target.
func (s Space) NewCandidate(g Genome) (Candidate, error) {
	n, err := s.Decode(g)
	if err != nil {
		return Candidate{}, err
	}
	t := n.Target()
	c, err := TargetCost(t, g.Res)
	if err != nil {
		return Candidate{}, err
	}
	return Candidate{Genome: n.Genome, Net: n, Target: t, Cost: c}, nil
}
