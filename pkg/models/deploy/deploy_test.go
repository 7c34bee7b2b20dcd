package deploy_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/shiftaddaug/shiftaddaug/kernels"
	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/kernels/norm"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/pkg/hybrid"
	"github.com/shiftaddaug/shiftaddaug/pkg/models"
	"github.com/shiftaddaug/shiftaddaug/pkg/models/deploy"
	"github.com/shiftaddaug/shiftaddaug/pkg/models/export"
)

const (
	res     = 32
	classes = 5
	evalN   = 8
)

func normalImages(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 2))
	v := make([]float32, n*res*res*3)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// trained is a models.Net in a context with non-trivial parameters, and the GoMLX target forward.
type trained struct {
	net   *models.Net
	ctx   *context.Context
	exec  *context.Exec
	ops   hybrid.Operators
	inEvl *tensors.Tensor
	x     []float32
}

// newBuilt builds net with random init in a new context and prepares the GoMLX inference forward.
func newBuilt(t *testing.T, backend backends.Backend, name string, method arch.Method, aug bool, ops hybrid.Operators, seed uint64) *trained {
	t.Helper()
	m, err := arch.Get(name, classes)
	if err != nil {
		t.Fatal(err)
	}
	m = m.WithMethod(method)
	a := models.Aug{}
	if aug {
		a = models.DefaultAug(m)
	}
	net, err := models.New(m, a, seed)
	if err != nil {
		t.Fatal(err)
	}
	tr := &trained{net: net, ctx: context.New(), ops: ops, x: normalImages(evalN, seed+100)}
	tr.inEvl = tensors.FromFlatDataAndDimensions(tr.x, evalN, res, res, 3)
	tr.exec = context.MustNewExec(backend, tr.ctx, func(ctx *context.Context, x *Node) *Node {
		return net.Logits(ctx, x, models.Pass{Ops: ops})
	})
	tr.exec.MustExec(tr.inEvl) // creates the variables
	return tr
}

// newTrained builds net with random init (newBuilt), sets γ, β and biases (setParams), recalibrates the
// target's batch-norm statistics on two random batches.
func newTrained(t *testing.T, backend backends.Backend, name string, method arch.Method, aug bool, ops hybrid.Operators, seed uint64) *trained {
	t.Helper()
	tr := newBuilt(t, backend, name, method, aug, ops, seed)
	net := tr.net
	setParams(tr, method, rand.New(rand.NewPCG(seed, 3)))
	rc, err := norm.NewRecalibrator(backend, tr.ctx, func(ctx *context.Context, in []*Node) *Node {
		return net.Logits(ctx, in[0], models.Pass{Ops: ops})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Reset(); err != nil {
		t.Fatal(err)
	}
	for b := range 2 {
		if err := rc.Feed(tensors.FromFlatDataAndDimensions(normalImages(16, seed+uint64(b)), 16, res, res, 3)); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

// setParams gives the network non-trivial parameters: γ ~ U(0.5, 1.5), β and biases ~ U(−0.3, 0.3), over
// the wide tensors whole (so that a wrong slice shows).
//
// Networks with Add layers are conditioned first. A randomly initialised AdderNet is chaotic: its weights
// (±1/√fan-in) are small against its activations, so |x − w| ≈ |x| folds the input and each Add + BN layer
// multiplies relative perturbations by about 1/√(1 − 2/π) ≈ 1.7; over ~35 Add layers a 2^-16 change of the input
// moves the GoMLX logits by O(1) (measured: 0.6 for mbv2-w0.35), and no deployment could match it. With weights
// large against activations (Add weights ×10, γ in the blocks ~ U(0.05, 0.15)) an Add layer is near-linear,
// |x − w| = |w| − sign(w)·x, with gain ≈ 1, and the comparison is meaningful. Add layers with a bias and no batch
// norm (SE convs, MBV3's pooled conv) get bias Σ|w| + U(−0.3, 0.3), as training would learn to offset the −Σ|w|
// floor; otherwise their ReLU / h-swish / h-sigmoid would output constants.
func setParams(tr *trained, method arch.Method, rng *rand.Rand) {
	set := func(v *context.Variable, vals []float32) {
		v.MustSetValue(tensors.FromFlatDataAndDimensions(vals, v.Shape().Dimensions...))
	}
	uniform := func(n int, lo, hi float64) []float32 {
		vals := make([]float32, n)
		for i := range vals {
			vals[i] = float32(lo + (hi-lo)*rng.Float64())
		}
		return vals
	}
	conditioned := method == arch.MethodAdd
	for v := range tr.ctx.IterVariables() {
		switch v.Name() {
		case norm.GammaName:
			if conditioned && strings.HasPrefix(v.Scope(), "/blocks.") {
				set(v, uniform(v.Shape().Size(), 0.05, 0.15))
			} else {
				set(v, uniform(v.Shape().Size(), 0.5, 1.5))
			}
		case norm.BetaName, "bias":
			set(v, uniform(v.Shape().Size(), -0.3, 0.3))
		}
	}
	if !conditioned {
		return
	}
	for _, s := range export.Specs(tr.net.Arch) {
		if s.Op != arch.Add {
			continue
		}
		c := tr.ctx
		for _, part := range strings.Split(s.Scope, "/") {
			c = c.In(part)
		}
		v := c.GetVariable("weights")
		w := tensors.MustCopyFlatData[float32](v.MustValue())
		for i := range w {
			w[i] *= 10
		}
		set(v, w)
		if !s.Bias || s.BN {
			continue
		}
		bv := c.GetVariable("bias")
		b := tensors.MustCopyFlatData[float32](bv.MustValue())
		d := v.Shape().Dimensions // [k, k, InWide, OutWide]
		for o := range s.Out {
			var sum float64
			for i := range s.K * s.K * s.In {
				tap, ci := i/s.In, i%s.In
				sum += math.Abs(float64(w[(tap*d[2]+ci)*d[3]+o]))
			}
			b[o] += float32(sum)
		}
		set(bv, b)
	}
}

func (tr *trained) forward() []float32 {
	return tensors.MustCopyFlatData[float32](tr.exec.MustExec(tr.inEvl)[0])
}

// outcome is what one comparison measured.
type outcome struct {
	refErr, intErr float64 // max |Δlogit| of the reference and the integer runner against GoMLX
	scale          float64 // max |logit| of GoMLX
	spread         float64 // largest difference of one class's logit between two samples (GoMLX)
	tolRef, tolInt float64
	agree, n       int
	nearTies       int // disagreements on samples whose top-2 margin is within twice intErr
	classes        int // distinct predicted classes (GoMLX)
}

// exportAndRun exports tr to a file, loads it, and runs the integer and the reference runner on tr.x.
func exportAndRun(t *testing.T, tr *trained, opts export.Options) (got, ref []float32) {
	t.Helper()
	m, err := export.Extract(tr.ctx, tr.net, opts)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.saaug")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	loaded, err := export.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := deploy.New(loaded)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := deploy.NewReference(loaded)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err = r.Predict(tr.x, evalN, res, res); err != nil {
		t.Fatal(err)
	}
	if ref, err = rr.Logits(tr.x, evalN, res, res); err != nil {
		t.Fatal(err)
	}
	return got, ref
}

func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		e := math.Abs(float64(a[i]) - float64(b[i]))
		if math.IsNaN(e) {
			return math.Inf(1)
		}
		d = max(d, e)
	}
	return d
}

// quantum is one step of the 16.16 fixed-point format.
var quantum = math.Ldexp(1, -16)

// fixedPointTolerance derives the allowed |Δlogit| of the integer runner from the network itself.
//
// Per layer, the integer kernels differ from the float forward by e: a Shift layer by less than one quantum
// (both sides floor the same inputs to 16.16; the integer sum is exact up to a final floor), an Add layer by at
// most a quantum per tap (inputs and weights rounded to nearest, ±2^-17 each), √taps quanta for the typical
// random-sign sum. How much an error of one quantum grows by the logits is the network's gain G, measured on
// the GoMLX forward itself: the largest logit change for an input perturbation uniform in [0, 1 quantum), over
// one quantum. An error injected at each of the L multiplication-free layers grows by at most about G (the
// input sees every layer), so |Δlogit| ≲ G·L·e; the float32 rounding of the GoMLX side adds the reference
// tolerance.
func fixedPointTolerance(tr *trained, want []float32, method arch.Method) float64 {
	rng := rand.New(rand.NewPCG(99, 99))
	x := append([]float32(nil), tr.x...)
	for i := range x {
		x[i] += float32(quantum * rng.Float64())
	}
	moved := tensors.MustCopyFlatData[float32](tr.exec.MustExec(tensors.FromFlatDataAndDimensions(x, evalN, res, res, 3))[0])
	gain := maxAbsDiff(moved, want) / quantum
	layers, taps := 0, 1
	for _, s := range export.Specs(tr.net.Arch) {
		if s.Op == arch.Mult {
			continue
		}
		layers++
		if s.Kind == arch.KindDWConv {
			taps = max(taps, s.K*s.K)
		} else {
			taps = max(taps, s.K*s.K*s.In)
		}
	}
	e := quantum
	if method == arch.MethodAdd {
		e *= math.Sqrt(float64(taps))
	}
	return gain * float64(layers) * e
}

// compare checks the reference runner against GoMLX (the export and the network semantics, at float
// precision: refTol·scale, scale = max(1, max|logit|)) and the integer runner against GoMLX (within the derived
// fixed-point tolerance), and that the predicted classes agree wherever the top-2 margin exceeds twice the
// measured error.
func compare(t *testing.T, label string, tr *trained, method arch.Method, opts export.Options) outcome {
	t.Helper()
	want := tr.forward()
	got, ref := exportAndRun(t, tr, opts)
	var o outcome
	for i, v := range want {
		o.scale = max(o.scale, math.Abs(float64(v)))
		c := i % classes
		for j := c; j < len(want); j += classes {
			o.spread = max(o.spread, math.Abs(float64(v-want[j])))
		}
	}
	o.refErr, o.intErr = maxAbsDiff(ref, want), maxAbsDiff(got, want)
	o.tolRef = refTol(method) * max(1, o.scale)
	o.tolInt = o.tolRef + fixedPointTolerance(tr, want, method)
	if o.refErr > o.tolRef {
		t.Errorf("%s: reference runner: max |Δlogit| %.3g beyond %.3g (logit scale %.3g)", label, o.refErr, o.tolRef, o.scale)
	}
	if o.intErr > o.tolInt {
		t.Errorf("%s: integer runner: max |Δlogit| %.3g beyond the fixed-point tolerance %.3g (logit scale %.3g)", label, o.intErr, o.tolInt, o.scale)
	}
	ga, wa := deploy.Argmax(got, classes), deploy.Argmax(want, classes)
	o.n = len(wa)
	seen := map[int]bool{}
	for i := range wa {
		seen[wa[i]] = true
		if ga[i] == wa[i] {
			o.agree++
			continue
		}
		top, margin := want[i*classes+wa[i]], math.Inf(1)
		for j, v := range want[i*classes : (i+1)*classes] {
			if j != wa[i] {
				margin = min(margin, float64(top-v))
			}
		}
		if margin > 2*o.intErr {
			t.Errorf("%s: sample %d: runner predicts %d, GoMLX %d with margin %.3g > 2·error %.3g", label, i, ga[i], wa[i], margin, o.intErr)
		}
		o.nearTies++
	}
	o.classes = len(seen)
	if o.spread < 4*o.intErr || o.spread == 0 {
		t.Errorf("%s: the logits vary by %.3g across samples, not well above the error %.3g: a degenerate test network", label, o.spread, o.intErr)
	}
	t.Logf("%-36s ref err %.2g (tol %.2g) | int err %.3g (tol %.2g), logit scale %.3g, spread %.3g | argmax %d/%d, %d classes",
		label, o.refErr, o.tolRef, o.intErr, o.tolInt, o.scale, o.spread, o.agree, o.n, o.classes)
	return o
}

// refTol bounds the reference runner's difference from GoMLX relative to the logit scale: GoMLX's float32
// rounding over ~50 layers. AdderNet sums carry a common offset −Σ|w| (10^2-10^3 here) that float32 rounds at
// ~6e-5 per output before batch norm removes it, so Add networks get ten times more.
func refTol(method arch.Method) float64 {
	if method == arch.MethodAdd {
		return 1e-2
	}
	return 1e-3
}

// TestRunnerMatchesGoMLX: for each of the five models and each method, a randomly initialised network with
// random γ, β, biases and recalibrated running statistics (setParams), exported to a file, reloaded and run by
// the plain-Go runner, gives the GoMLX target forward's logits (inference mode): the reference runner within
// float rounding, the integer runner within the derived fixed-point tolerance, the same predicted class on every
// sample whose top-2 margin exceeds twice the measured error, and on all but at most two samples in any case.
func TestRunnerMatchesGoMLX(t *testing.T) {
	backend := engine.MustNew()
	for mi, name := range arch.PaperModels {
		for _, method := range arch.Methods {
			label := fmt.Sprintf("%s/%s", name, method)
			tr := newTrained(t, backend, name, method, false, hybrid.Operators{}, uint64(10+mi))
			o := compare(t, label, tr, method, export.Options{Input: export.Input{Res: res}})
			if o.agree < o.n-2 {
				t.Errorf("%s: argmax agrees on %d of %d samples", label, o.agree, o.n)
			}
		}
	}
}

// TestRunnerAugmentedNet: a network with NetAug's wide tensors (models.DefaultAug) exports its target slice:
// the runner agrees with the GoMLX target pass over the wide variables.
func TestRunnerAugmentedNet(t *testing.T) {
	backend := engine.MustNew()
	for _, c := range []struct {
		name   string
		method arch.Method
	}{{"mbv3-w0.35", arch.MethodShift}, {"mbv2-tiny", arch.MethodAdd}, {"proxyless-w0.35", arch.MethodBase}} {
		label := fmt.Sprintf("%s/%s (augmented)", c.name, c.method)
		tr := newTrained(t, backend, c.name, c.method, true, hybrid.Operators{}, 77)
		if !tr.net.Augmented() {
			t.Fatalf("%s: not augmented", label)
		}
		compare(t, label, tr, c.method, export.Options{})
	}
}

// TestRunnerWeightRemap: with a weight remap (heterogeneous weight sharing's hook) and non-default shift bits,
// the export applies the remap and the bits the target pass used.
func TestRunnerWeightRemap(t *testing.T) {
	backend := engine.MustNew()
	ops := hybrid.Operators{
		Shift: kernels.ShiftOpts{Bits: 4},
		MFWeight: func(w *Node, op arch.Op) *Node {
			return AddScalar(MulScalar(w, 0.75), 0.01)
		},
	}
	for _, method := range []arch.Method{arch.MethodShift, arch.MethodAdd} {
		label := fmt.Sprintf("mbv2-tiny/%s (remap, 4-bit)", method)
		tr := newTrained(t, backend, "mbv2-tiny", method, true, ops, 5)
		compare(t, label, tr, method, export.Options{Ops: ops, Backend: backend})
	}
	tr := newBuilt(t, backend, "mbv2-w0.35", arch.MethodShift, false, ops, 5)
	if _, err := export.Extract(tr.ctx, tr.net, export.Options{Ops: ops}); err == nil || !strings.Contains(err.Error(), "Backend") {
		t.Errorf("a remap without a backend: got %v, want an error asking for the backend", err)
	}
}

// TestRunnerRejectsUnsupportedShift: a Shift model trained without 16.16 activations cannot run on the integer
// kernels, and New says so.
func TestRunnerRejectsUnsupportedShift(t *testing.T) {
	backend := engine.MustNew()
	ops := hybrid.Operators{Shift: kernels.ShiftOpts{NoActQuant: true}}
	tr := newBuilt(t, backend, "mbv2-tiny", arch.MethodShift, false, ops, 9)
	m, err := export.Extract(tr.ctx, tr.net, export.Options{Ops: ops})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deploy.New(m); err == nil || !strings.Contains(err.Error(), "unquantised") {
		t.Errorf("got %v, want an error about unquantised activations", err)
	}
}

func TestRunnerBadInput(t *testing.T) {
	backend := engine.MustNew()
	tr := newBuilt(t, backend, "mbv2-tiny", arch.MethodBase, false, hybrid.Operators{}, 9)
	m, err := export.Extract(tr.ctx, tr.net, export.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := deploy.New(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Logits(make([]float32, 10), 1, 32, 32); err == nil {
		t.Error("10 values for a 32x32 image: no error")
	}
}
