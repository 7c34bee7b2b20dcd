package sim

import (
	"fmt"
	"strings"
)

// Kind is the operator a layer is costed with. It selects the unit-cost row
// (UnitCosts) and nothing else: the loop nest is the same for every kind.
type Kind int

// Layer kinds, as the reference's layer "type" strings.
const (
	// Conv is a multiplicative convolution (including depthwise and 1×1).
	Conv Kind = iota
	// FC is a multiplicative fully connected layer; it is always FC-like.
	FC
	// Add is an adder (AdderNet, ℓ1) layer; on-chip by default.
	Add
	// Shift is a bit-shift layer (DeepShift): 0.13 pJ ops, 10-bit storage and
	// a 10/32 cycle.
	Shift
	// AvgPool is average pooling, op cost 0. Table 3 does not cost pooling;
	// the pooling kinds exist because the reference simulator has them.
	AvgPool
	// MaxPool is max pooling, op cost 0.
	MaxPool
)

var kindNames = [...]string{Conv: "Conv", FC: "FC", Add: "Add", Shift: "Shift", AvgPool: "AvgP", MaxPool: "MaxP"}

// String returns the reference's type name (Conv, FC, Add, Shift, AvgP, MaxP).
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// ParseKind accepts the names String returns (case-insensitive) and the
// aliases "linear", "mult", "adder", "avgpool", "maxpool".
func ParseKind(s string) (Kind, error) {
	switch strings.ToLower(s) {
	case "conv", "mult":
		return Conv, nil
	case "fc", "linear":
		return FC, nil
	case "add", "adder":
		return Add, nil
	case "shift":
		return Shift, nil
	case "avgp", "avgpool":
		return AvgPool, nil
	case "maxp", "maxpool":
		return MaxPool, nil
	}
	return 0, fmt.Errorf("sim: unknown layer kind %q (want conv, fc, add, shift, avgp or maxp)", s)
}

// Layer is one costed layer, in the reference's terms: batch N, input H×W×C,
// square kernel K (R=S=K), M output channels, output E×F, stride. It carries
// only what the cost model reads; grouping, the true input channel count and
// padding belong to the caller (padding is ignored by the model; the caller
// computes E and F).
type Layer struct {
	Name   string // for reports only; not part of the cost
	Kind   Kind
	N      int // batch
	H, W   int // input height, width
	C      int // input channels as costed (1 for a depthwise conv by default)
	K      int // kernel size: R = S = K
	M      int // output channels
	E, F   int // output height, width
	Stride int
}

// FCLike reports whether the layer is costed as a fully connected layer: its
// kind is FC, or its input and output maps are 1×1 (e.g. SE convs, the MBV3
// head conv on the pooled map, any classifier typed Shift or Add). FC-like
// layers may use E1 = 1; all others must spread output rows over the array.
func (l Layer) FCLike() bool {
	return l.Kind == FC || (l.H == 1 && l.W == 1 && l.E == 1 && l.F == 1)
}

// MACs is N·E·F·M·R·S·C, the number of operator applications costed.
func (l Layer) MACs() int64 {
	return int64(l.N) * int64(l.E) * int64(l.F) * int64(l.M) * int64(l.K) * int64(l.K) * int64(l.C)
}

// Validate rejects shapes the model cannot cost.
func (l Layer) Validate() error {
	if l.N <= 0 || l.H <= 0 || l.W <= 0 || l.C <= 0 || l.K <= 0 || l.M <= 0 || l.E <= 0 || l.F <= 0 || l.Stride <= 0 {
		return fmt.Errorf("sim: layer %q: every dimension must be positive (N=%d H=%d W=%d C=%d K=%d M=%d E=%d F=%d stride=%d)",
			l.Name, l.N, l.H, l.W, l.C, l.K, l.M, l.E, l.F, l.Stride)
	}
	if l.Kind < Conv || l.Kind > MaxPool {
		return fmt.Errorf("sim: layer %q: unknown kind %d", l.Name, int(l.Kind))
	}
	return nil
}

// String is a compact shape description for error messages and logs.
func (l Layer) String() string {
	return fmt.Sprintf("%s %s N%d %dx%dx%d k%d s%d -> %dx%dx%d", l.Name, l.Kind, l.N, l.H, l.W, l.C, l.K, l.Stride, l.E, l.F, l.M)
}

// OutSize is the output size of a "same"-padded k×k, stride-s window over an
// input of size in: ⌊(in + 2⌊k/2⌋ − k)/s⌋ + 1 (sim.md §6), as the NetAug
// models use.
func OutSize(in, k, stride int) int {
	return (in+2*(k/2)-k)/stride + 1
}

// ConvLayer builds the costed layer of a dense (groups = 1) k×k convolution
// with "same" padding on a square h×h input.
func ConvLayer(name string, kind Kind, n, cin, h, cout, k, stride int) Layer {
	e := OutSize(h, k, stride)
	return Layer{Name: name, Kind: kind, N: n, H: h, W: h, C: cin, K: k, M: cout, E: e, F: e, Stride: stride}
}

// FCLayer builds the costed layer of a Linear in→out layer (k=1, 1×1 maps).
func FCLayer(name string, kind Kind, n, in, out int) Layer {
	return Layer{Name: name, Kind: kind, N: n, H: 1, W: 1, C: in, K: 1, M: out, E: 1, F: 1, Stride: 1}
}

// DWPolicy is how a depthwise convolution is fed to the simulator, which has
// no notion of groups (sim.md §3.2).
type DWPolicy int

const (
	// DWChannelOne passes C = in_channels/groups = 1 and M = channels. MACs
	// are right; ifmap traffic is counted as for one input channel. This is
	// what reproduces the paper (MBV2 base 2.345 mJ / 0.73 ms) and the default.
	DWChannelOne DWPolicy = iota
	// DWBatchFold folds channels into the batch, N = N·channels, C = M = 1,
	// as ShiftAddViT's cal_energy.py does (MBV2 base 2.712 mJ / 0.956 ms).
	DWBatchFold
	// DWFullC passes C = M = channels, as ShiftAddNAS-CV's hook does. MACs
	// are overcounted by a factor of channels (MBV2 base 20.88 mJ / 9.44 ms).
	DWFullC
)

// String returns the policy's CLI-friendly name.
func (p DWPolicy) String() string {
	switch p {
	case DWChannelOne:
		return "c1"
	case DWBatchFold:
		return "batchfold"
	case DWFullC:
		return "fullc"
	}
	return fmt.Sprintf("DWPolicy(%d)", int(p))
}

// ParseDWPolicy accepts the names String returns.
func ParseDWPolicy(s string) (DWPolicy, error) {
	switch strings.ToLower(s) {
	case "c1", "channelone", "":
		return DWChannelOne, nil
	case "batchfold", "fold":
		return DWBatchFold, nil
	case "fullc", "full":
		return DWFullC, nil
	}
	return 0, fmt.Errorf("sim: unknown depthwise policy %q (want c1, batchfold or fullc)", s)
}

// DepthwiseLayer builds the costed layer of a depthwise k×k convolution over
// `channels` channels with "same" padding on a square h×h input, under the
// given policy.
func DepthwiseLayer(name string, kind Kind, n, channels, h, k, stride int, p DWPolicy) Layer {
	e := OutSize(h, k, stride)
	l := Layer{Name: name, Kind: kind, N: n, H: h, W: h, K: k, E: e, F: e, Stride: stride}
	switch p {
	case DWBatchFold:
		l.N, l.C, l.M = n*channels, 1, 1
	case DWFullC:
		l.C, l.M = channels, channels
	default:
		l.C, l.M = 1, channels
	}
	return l
}
