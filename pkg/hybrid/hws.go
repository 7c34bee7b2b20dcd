package hybrid

import (
	"fmt"
	"math"
	"sort"
	"strings"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
)

// Sharing is how the multiplication-free slice of a hybrid layer gets its weights from the shared ones.
type Sharing string

const (
	// SharePlain uses the shared weights as they are: weight sharing without HWS (Table 7's "hybrid w/o HWS").
	SharePlain Sharing = "plain"
	// ShareHWS is heterogeneous weight sharing, Eq. 5: W_l = r(FC(W_g)), r = Laplace-PPF ∘ Gaussian-CDF.
	ShareHWS Sharing = "hws"
	// ShareLinear applies only the frozen FC (the "linear remap" ablation of Table 8).
	ShareLinear Sharing = "linear"
	// ShareLinearSkip is the frozen FC with a skip connection, W_l = W_g + FC(W_g) (Table 8's "linear + skip
	// connect + freeze").
	ShareLinearSkip Sharing = "linear-skip"
	// SharePiecewise is ShiftAddNAS's heterogeneous weight sharing (Table 8's first row): a learnable per-bin
	// scale over the weight range, W_l = W_g·a[bin(W_g)], plus its KL penalty (see Piecewise).
	SharePiecewise Sharing = "piecewise"
	// ShareKL shares the weights as they are and adds only ShiftAddNAS's KL penalty (Table 8's "KL-loss only").
	ShareKL Sharing = "kl"
	// ShareNone gives the augmented pass weights of its own: no weight sharing at all (Table 9's "w/o weight
	// sharing"), so the augmented network cannot help the target.
	ShareNone Sharing = "none"
)

// SharingModes lists every sharing mode, for flags and errors.
var SharingModes = []Sharing{SharePlain, ShareHWS, ShareLinear, ShareLinearSkip, SharePiecewise, ShareKL, ShareNone}

// ParseSharing reads a sharing mode name.
func ParseSharing(s string) (Sharing, error) {
	if s == "" {
		return SharePlain, nil
	}
	names := make([]string, len(SharingModes))
	for i, m := range SharingModes {
		if Sharing(s) == m {
			return m, nil
		}
		names[i] = string(m)
	}
	return "", fmt.Errorf("unknown weight sharing %q: want one of %s", s, strings.Join(names, ", "))
}

// Remap is the weight remap of heterogeneous weight sharing (Eq. 5).
//
// The paper leaves four things open; the choices here, each a field, are:
//   - FC is a scalar affine map a·w + c applied element-wise (the only FC that works for any channel count, since
//     one remap serves every width), trained beforehand and frozen: FitFC fits it by least squares on matched
//     quantiles of weights from a directly trained Mult model and a directly trained MF model. A = 1, C = 0 (the
//     identity) when no such pair of models exists, which leaves r alone to do the remap.
//   - The Gaussian's mean and standard deviation are those of the weight tensor being remapped (per layer), held
//     constant in the gradient (StopGradient), so r is an element-wise monotone map.
//   - The Laplace's location u and scale b are priors: by default u = the Gaussian mean and b = σ/√2, which keeps
//     the variance (2b² = σ²); LaplaceScaleFactor multiplies that b.
//   - Numerics: z = (w − μ)/σ is clipped to ±ZClip (default 5) and 1 − erf(|z|/√2) floored at 1e-7 before the log,
//     so neither the value nor the gradient is ever NaN or infinite, whatever the weights (|FC(w)| is clipped at
//     1e6 so that σ stays finite in float32).
type Remap struct {
	Mode               Sharing
	A, C               float64 // frozen FC: a·w + c
	LaplaceScaleFactor float64 // multiplies the variance-preserving b = σ/√2 (0 means 1)
	ZClip              float64 // 0 means 5
	// Ops lists the operators the remap applies to (default Shift and Add).
	Ops []arch.Op
}

// DefaultRemap is HWS with an identity FC.
func DefaultRemap() Remap { return Remap{Mode: ShareHWS, A: 1} }

// Func returns the function Operators.MFWeight expects, or nil for the modes that leave the weights as they are
// (plain, kl, none) or need the layer's context (piecewise: see Piecewise).
func (r Remap) Func() func(w *Node, op arch.Op) *Node {
	switch r.Mode {
	case SharePlain, "", ShareKL, ShareNone, SharePiecewise:
		return nil
	}
	return func(w *Node, op arch.Op) *Node {
		if len(r.Ops) > 0 && !containsOp(r.Ops, op) {
			return w
		}
		return r.Apply(w)
	}
}

func containsOp(ops []arch.Op, op arch.Op) bool {
	for _, o := range ops {
		if o == op {
			return true
		}
	}
	return false
}

// Apply remaps a weight tensor: FC, then (for HWS) the Gaussian-CDF → Laplace-PPF map.
//
// HWS's gradient is written out rather than left to automatic differentiation: with μ and σ held constant the map
// is element-wise, dy/dw = a·(b_f/√π)·exp(−z²/2)/tail where neither clip nor the tail's floor acts, else 0. The
// result is y + (t − t), t an identity of w whose gradient is that slope, so the value is y's to the bit. The
// slope is a handful of ops, built only when the graph is differentiated; differentiating the map's twenty-odd
// ops made an augshift step at res 32 about a fifth slower with HWS than with plain sharing. (At exactly z = 0
// this is the map's true slope; differentiating |z| gave 0 there.)
func (r Remap) Apply(w *Node) *Node {
	a := r.A
	if a == 0 && r.C == 0 {
		a = 1
	}
	x := w
	if a != 1 || r.C != 0 || (r.Mode == ShareLinear || r.Mode == ShareLinearSkip) {
		x = AddScalar(MulScalar(w, a), r.C)
	}
	switch r.Mode {
	case ShareLinear:
		return x
	case ShareLinearSkip:
		return Add(w, x)
	}
	// Far beyond any trained weight, but keeps x² (for σ) finite in float32.
	const xMax = 1e6
	xIn := x
	x = ClipScalar(x, -xMax, xMax)
	zclip := r.ZClip
	if zclip <= 0 {
		zclip = 5
	}
	bf := r.LaplaceScaleFactor
	if bf <= 0 {
		bf = 1
	}
	mu := StopGradient(ReduceAllMean(x))
	sigma := StopGradient(Sqrt(AddScalar(ReduceAllMean(Square(Sub(x, mu))), 1e-12)))
	zRaw := Div(Sub(x, mu), sigma)
	z := ClipScalar(zRaw, -zclip, zclip)
	// Laplace PPF at the Gaussian CDF: u + sign(z)·(−b·ln(1 − erf(|z|/√2))), written with erf, not erfc, which
	// GoMLX lacks; the floor keeps ln finite where float32 erf rounds to 1.
	const tailFloor = 1e-7
	tailRaw := OneMinus(Erf(MulScalar(Abs(z), 1/math.Sqrt2)))
	tail := MaxScalar(tailRaw, tailFloor)
	mag := MulScalar(Mul(Neg(Log(tail)), sigma), bf/math.Sqrt2)
	y := Add(mu, Where(GreaterOrEqual(z, ZerosLike(z)), mag, Neg(mag)))
	// The slope is built only when the graph is differentiated, so inference graphs do not compute it.
	slope := func() *Node {
		g, dt := x.Graph(), x.DType()
		active := LogicalAnd(LogicalAnd(LessThan(Abs(xIn), Scalar(g, dt, xMax)), LessThan(Abs(zRaw), Scalar(g, dt, zclip))),
			GreaterThan(tailRaw, Scalar(g, dt, tailFloor)))
		v := MulScalar(Div(Exp(MulScalar(Square(z), -0.5)), tail), a*bf/math.Sqrt(math.Pi))
		return StopGradient(Where(active, v, ZerosLike(v)))
	}
	t := IdentityWithCustomGradient(w, func(_, adjoint *Node) *Node { return Mul(adjoint, slope()) })
	return Add(StopGradient(y), Sub(t, StopGradient(t)))
}

// RemapValue is Apply on one float64 value with given Gaussian statistics (for tests and plots).
func (r Remap) RemapValue(w, mu, sigma float64) float64 {
	a := r.A
	if a == 0 && r.C == 0 {
		a = 1
	}
	x := a*w + r.C
	switch r.Mode {
	case ShareLinear:
		return x
	case ShareLinearSkip:
		return w + x
	}
	zclip, bf := r.ZClip, r.LaplaceScaleFactor
	if zclip <= 0 {
		zclip = 5
	}
	if bf <= 0 {
		bf = 1
	}
	z := math.Max(-zclip, math.Min(zclip, (x-mu)/sigma))
	mag := -math.Log(math.Max(1-math.Erf(math.Abs(z)/math.Sqrt2), 1e-7)) * sigma * bf / math.Sqrt2
	if z < 0 {
		mag = -mag
	}
	return mu + mag
}

// FitFC fits the frozen FC of Eq. 5 (a·w + c) so that the quantiles of the Mult model's weights map onto the
// quantiles the MF model's weights would have before r: it least-squares matches sorted samples of both, after
// passing the MF quantiles through the inverse of r's Gaussian→Laplace part. The two slices are weights of the
// same layer from directly trained Mult and MF models.
func FitFC(multWeights, mfWeights []float64) (a, c float64, err error) {
	if len(multWeights) < 2 || len(mfWeights) < 2 {
		return 0, 0, fmt.Errorf("FitFC: need at least two weights of each model")
	}
	g := append([]float64(nil), multWeights...)
	l := append([]float64(nil), mfWeights...)
	sort.Float64s(g)
	sort.Float64s(l)
	mu, sd := meanStd(l)
	const n = 200
	var sx, sy, sxx, sxy float64
	for i := 0; i < n; i++ {
		q := (float64(i) + 0.5) / n
		x := g[int(q*float64(len(g)-1))]
		y := l[int(q*float64(len(l)-1))]
		// Inverse of r: the Gaussian value whose CDF equals the Laplace CDF of y (same μ, variance-preserving b).
		b := sd / math.Sqrt2
		var p float64
		if y < mu {
			p = 0.5 * math.Exp((y-mu)/b)
		} else {
			p = 1 - 0.5*math.Exp(-(y-mu)/b)
		}
		p = math.Min(math.Max(p, 1e-7), 1-1e-7)
		target := mu + sd*math.Sqrt2*math.Erfinv(2*p-1)
		sx, sy, sxx, sxy = sx+x, sy+target, sxx+x*x, sxy+x*target
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0, 0, fmt.Errorf("FitFC: the Mult weights are constant")
	}
	a = (n*sxy - sx*sy) / den
	c = (sy - a*sx) / n
	return a, c, nil
}

func meanStd(v []float64) (float64, float64) {
	var m, s float64
	for _, x := range v {
		m += x
	}
	m /= float64(len(v))
	for _, x := range v {
		s += (x - m) * (x - m)
	}
	return m, math.Sqrt(s / float64(len(v)))
}
