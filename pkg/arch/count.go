package arch

// Counts are a model's parameters and operations at one resolution: Table 3's left half.
type Counts struct {
	Params int64
	MACs   int64 // all conv and linear multiply-accumulates (T in sim.md §4), whatever the operator
	Mult   int64
	Shift  int64
	Add    int64
}

// Count sums parameters and Mult/Shift/Add operations of a model at resolution res.
//
// The per-layer rules reproduce all five models' Mult, Shift and Add columns of Table 3 (sim.md §4). They read as
// thop-style counting, which is our inference of how the paper counted:
//   - a Mult layer costs MACs multiplications and MACs additions; a Shift layer MACs shifts and MACs additions;
//   - a conv with a bias adds one addition per output to its own column (thop counts bias terms in the conv);
//     only MobileNetV3 has such convs (its SE convs and the 1x1 conv after pooling), and this is the +0.006 M that
//     a bias-free count misses for MBV3 (18.344 M vs the printed 18.35);
//   - an Add layer costs 2·MACs additions (a subtraction and an accumulation per term), plus 2 per output for the
//     batch norm that follows every adder (thop counts 2 ops per normalised element). SE adders have no batch norm,
//     which is why MBV3's Add row is 34.34, not the 34.35 a uniform 2·(MACs+outputs) gives.
func (m *Model) Count(res int) (Counts, error) {
	ls, err := m.Layers(res)
	if err != nil {
		return Counts{}, err
	}
	var c Counts
	for _, l := range ls {
		c.Params += l.Params()
		macs := l.MACs()
		c.MACs += macs
		var bias int64
		if l.Bias && l.Kind != KindLinear { // thop counts no bias for nn.Linear
			bias = l.Outputs()
		}
		switch l.Op {
		case Mult:
			c.Mult += macs + bias
			c.Add += macs + bias
		case Shift:
			c.Shift += macs + bias
			c.Add += macs + bias
		case Add:
			c.Add += 2*macs + bias
			if l.BN {
				c.Add += 2 * l.Outputs()
			}
		}
	}
	return c, nil
}
