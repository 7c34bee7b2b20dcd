package norm

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
)

func newBackend(t *testing.T) backends.Backend {
	t.Helper()
	b, err := engine.NewEngine("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Finalize)
	return b
}

const (
	tN, tH, tW, tC = 3, 2, 3, 4
	tol            = 1e-12
)

func randSlice(rng *rand.Rand, n int, lo, hi float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = lo + (hi-lo)*rng.Float64()
	}
	return v
}

// refStats returns per-channel mean and biased variance of flat NHWC data with c channels.
func refStats(x []float64, c int) (mean, variance []float64) {
	n := len(x) / c
	mean, variance = make([]float64, c), make([]float64, c)
	for i, v := range x {
		mean[i%c] += v / float64(n)
	}
	for i, v := range x {
		d := v - mean[i%c]
		variance[i%c] += d * d / float64(n)
	}
	return
}

// refNormalize is plain-Go batch norm with the given statistics.
func refNormalize(x, mean, variance, gamma, beta []float64, eps float64) []float64 {
	c := len(mean)
	y := make([]float64, len(x))
	for i, v := range x {
		ch := i % c
		y[i] = (v-mean[ch])/math.Sqrt(variance[ch]+eps)*gamma[ch] + beta[ch]
	}
	return y
}

func assertClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: len %d, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol*math.Max(1, math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %.15g, want %.15g (got %v, want %v)", what, i, got[i], want[i], got, want)
		}
	}
}

func varValue(t *testing.T, ctx *context.Context, scope, name string) []float64 {
	t.Helper()
	v := ctx.GetVariableByScopeAndName(scope, name)
	if v == nil {
		t.Fatalf("variable %s/%s not found", scope, name)
	}
	return tensors.MustCopyFlatData[float64](v.MustValue())
}

func setVar(t *testing.T, ctx *context.Context, scope, name string, value []float64) {
	t.Helper()
	v := ctx.GetVariableByScopeAndName(scope, name)
	if v == nil {
		t.Fatalf("variable %s/%s not found", scope, name)
	}
	v.MustSetValue(tensors.FromFlatDataAndDimensions(value, len(value)))
}

// newLayerCtx returns a context whose "/bn" scope holds gamma and beta with the given values.
func newLayerCtx(gamma, beta []float64) *context.Context {
	ctx := context.New()
	bn := ctx.In("bn")
	bn.VariableWithValue(GammaName, gamma)
	bn.VariableWithValue(BetaName, beta)
	return ctx
}

func TestTrainingForwardAndRunningStats(t *testing.T) {
	backend := newBackend(t)
	rng := rand.New(rand.NewPCG(3, 4))
	gamma, beta := randSlice(rng, tC, 0.5, 2), randSlice(rng, tC, -1, 1)
	ctx := newLayerCtx(gamma, beta)
	exec, err := context.NewExec(backend, ctx, func(ctx *context.Context, x *Node) *Node {
		ctx.SetTraining(x.Graph(), true)
		return BatchNorm(ctx.In("bn").Reuse(), x).Done()
	})
	if err != nil {
		t.Fatal(err)
	}
	wantMean, wantVar := make([]float64, tC), make([]float64, tC) // PyTorch's initial running stats
	for i := range wantVar {
		wantVar[i] = 1
	}
	const m = DefaultMomentum
	for step := 0; step < 3; step++ {
		x := randSlice(rng, tN*tH*tW*tC, -2, 3)
		out, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, tN, tH, tW, tC))
		if err != nil {
			t.Fatal(err)
		}
		mean, variance := refStats(x, tC)
		assertClose(t, "training output", tensors.MustCopyFlatData[float64](out[0]),
			refNormalize(x, mean, variance, gamma, beta, DefaultEpsilon), tol)

		n := float64(tN * tH * tW)
		for c := range tC {
			wantMean[c] = (1-m)*wantMean[c] + m*mean[c]
			wantVar[c] = (1-m)*wantVar[c] + m*variance[c]*n/(n-1) // unbiased, as PyTorch
		}
		assertClose(t, "running_mean", varValue(t, ctx, "/bn", RunningMeanName), wantMean, tol)
		assertClose(t, "running_var", varValue(t, ctx, "/bn", RunningVarName), wantVar, tol)
	}
}

func TestEvalUsesRunningStats(t *testing.T) {
	backend := newBackend(t)
	rng := rand.New(rand.NewPCG(5, 6))
	gamma, beta := randSlice(rng, tC, 0.5, 2), randSlice(rng, tC, -1, 1)
	ctx := newLayerCtx(gamma, beta)
	bn := ctx.In("bn")
	runMean, runVar := randSlice(rng, tC, -1, 1), randSlice(rng, tC, 0.2, 3)
	bn.VariableWithValue(RunningMeanName, runMean)
	bn.VariableWithValue(RunningVarName, runVar)
	exec, err := context.NewExec(backend, ctx, func(ctx *context.Context, x *Node) *Node {
		// Training not set: ctx.IsTraining is false, evaluation mode.
		return BatchNorm(ctx.In("bn").Reuse(), x).Done()
	})
	if err != nil {
		t.Fatal(err)
	}
	x := randSlice(rng, tN*tH*tW*tC, -2, 3)
	out, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, tN, tH, tW, tC))
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "eval output", tensors.MustCopyFlatData[float64](out[0]),
		refNormalize(x, runMean, runVar, gamma, beta, DefaultEpsilon), tol)
	assertClose(t, "running_mean untouched", varValue(t, ctx, "/bn", RunningMeanName), runMean, 0)
	assertClose(t, "running_var untouched", varValue(t, ctx, "/bn", RunningVarName), runVar, 0)
}

// TestGradientFiniteDifferences checks d(Σ y·r)/d{x, gamma, beta} of the training-mode layer, with a channel
// mask, against central differences in float64: the statistics are differentiated, not stopped.
func TestGradientFiniteDifferences(t *testing.T) {
	backend := newBackend(t)
	rng := rand.New(rand.NewPCG(7, 8))
	dims := []int{tN, tH, tW, tC}
	inputs := []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(randSlice(rng, tN*tH*tW*tC, -2, 3), dims...),
		tensors.FromFlatDataAndDimensions(randSlice(rng, tC, 0.5, 2), tC),
		tensors.FromFlatDataAndDimensions(randSlice(rng, tC, -1, 1), tC),
		tensors.FromFlatDataAndDimensions(randSlice(rng, tN*tH*tW*tC, -1, 1), dims...),
		tensors.FromFlatDataAndDimensions([]float64{1, 0, 1, 1}, tC),
	}
	lossFn := func(ctx *context.Context, x, gamma, beta, r, mask *Node) *Node {
		ctx.SetTraining(x.Graph(), true)
		y := BatchNorm(ctx, x).Affine(gamma, beta).Mask(mask).Done()
		return ReduceAllSum(Mul(y, r))
	}
	ctx := context.New()
	lossExec, err := context.NewExec(backend, ctx, lossFn)
	if err != nil {
		t.Fatal(err)
	}
	gradExec, err := context.NewExec(backend, ctx.Reuse(),
		func(ctx *context.Context, x, gamma, beta, r, mask *Node) []*Node {
			return Gradient(lossFn(ctx, x, gamma, beta, r, mask), x, gamma, beta)
		})
	if err != nil {
		t.Fatal(err)
	}
	asAny := func(in []*tensors.Tensor) []any {
		a := make([]any, len(in))
		for i, v := range in {
			a[i] = v
		}
		return a
	}
	grads, err := gradExec.Exec(asAny(inputs)...)
	if err != nil {
		t.Fatal(err)
	}
	const eps = 1e-6
	for p := 0; p < 3; p++ {
		base := tensors.MustCopyFlatData[float64](inputs[p])
		got := tensors.MustCopyFlatData[float64](grads[p])
		for i := range base {
			at := func(delta float64) float64 {
				v := append([]float64(nil), base...)
				v[i] += delta
				in := append([]*tensors.Tensor(nil), inputs...)
				in[p] = tensors.FromFlatDataAndDimensions(v, inputs[p].Shape().Dimensions...)
				out, err := lossExec.Exec(asAny(in)...)
				if err != nil {
					t.Fatal(err)
				}
				return out[0].Value().(float64)
			}
			fd := (at(eps) - at(-eps)) / (2 * eps)
			if math.Abs(fd-got[i]) > 1e-6*math.Max(1, math.Abs(fd)) {
				t.Fatalf("input %d entry %d: gradient %.10g, finite difference %.10g", p, i, got[i], fd)
			}
			if p > 0 && i == 1 && got[i] != 0 {
				t.Errorf("input %d: masked channel 1 has gradient %g, want 0", p, got[i])
			}
		}
	}
}

func TestStatsSetsMaskAndChannels(t *testing.T) {
	backend := newBackend(t)
	rng := rand.New(rand.NewPCG(9, 10))
	const wide = 6
	ctx := context.New()
	mask := []float64{1, 1, 0, 1}
	exec, err := context.NewExec(backend, ctx, func(ctx *context.Context, x, mask *Node) (*Node, *Node) {
		ctx.SetTraining(x.Graph(), true)
		bn := ctx.In("bn")
		// Pass 1 (target): first tC of the wide parameters, its own statistics, masked.
		y := BatchNorm(bn, x).Channels(wide).Stats("target").Mask(mask).Done()
		// Pass 2 (augmented): all channels, shared gamma/beta, default statistics.
		wideX := Concatenate([]*Node{x, Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(0, wide-tC))}, -1)
		y2 := BatchNorm(bn.Reuse(), wideX).Done()
		return y, y2
	})
	if err != nil {
		t.Fatal(err)
	}
	x := randSlice(rng, tN*tH*tW*tC, -2, 3)
	out, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, tN, tH, tW, tC), mask)
	if err != nil {
		t.Fatal(err)
	}
	mean, variance := refStats(x, tC)
	ones, zeros := make([]float64, tC), make([]float64, tC)
	for i := range ones {
		ones[i] = 1
	}
	want := refNormalize(x, mean, variance, ones, zeros, DefaultEpsilon)
	for i := range want {
		want[i] *= mask[i%tC]
	}
	assertClose(t, "masked output", tensors.MustCopyFlatData[float64](out[0]), want, tol)
	if got := out[1].Shape().Dimensions; got[3] != wide {
		t.Fatalf("wide pass output %v", got)
	}

	n := float64(tN * tH * tW)
	m := DefaultMomentum
	wantMean, wantVar := make([]float64, wide), make([]float64, wide)
	for c := range wide {
		wantVar[c] = 1
		if c < tC && mask[c] == 1 {
			wantMean[c] = m * mean[c]
			wantVar[c] = 1 - m + m*variance[c]*n/(n-1)
		}
	}
	assertClose(t, "running_mean_target", varValue(t, ctx, "/bn", RunningMeanName+"_target"), wantMean, tol)
	assertClose(t, "running_var_target", varValue(t, ctx, "/bn", RunningVarName+"_target"), wantVar, tol)
	// The default set was updated by the wide pass only: its first tC channels saw the same data.
	def := varValue(t, ctx, "/bn", RunningMeanName)
	for c := range tC {
		if math.Abs(def[c]-m*mean[c]) > tol {
			t.Errorf("running_mean[%d] = %g, want %g", c, def[c], m*mean[c])
		}
	}
}

func TestRecalibrator(t *testing.T) {
	backend := newBackend(t)
	rng := rand.New(rand.NewPCG(11, 12))
	ctx := context.New()
	r, err := NewRecalibrator(backend, ctx, func(ctx *context.Context, in []*Node) *Node {
		return BatchNorm(ctx.In("bn"), in[0]).Done()
	})
	if err != nil {
		t.Fatal(err)
	}
	feed := func(k int) (avgMean, avgVar []float64) {
		avgMean, avgVar = make([]float64, tC), make([]float64, tC)
		for range k {
			x := randSlice(rng, tN*tH*tW*tC, -2, 3)
			if err := r.Feed(tensors.FromFlatDataAndDimensions(x, tN, tH, tW, tC)); err != nil {
				t.Fatal(err)
			}
			mean, variance := refStats(x, tC)
			for c := range tC {
				avgMean[c] += mean[c] / float64(k)
				avgVar[c] += variance[c] / float64(k) // biased, as NetAug's reset_bn
			}
		}
		return
	}
	if err := r.Reset(); err != nil {
		t.Fatal(err)
	}
	wantMean, wantVar := feed(3)
	if r.Batches() != 3 {
		t.Errorf("Batches() = %d, want 3", r.Batches())
	}
	assertClose(t, "recalibrated mean", varValue(t, ctx, "/bn", RunningMeanName), wantMean, 1e-12)
	assertClose(t, "recalibrated var", varValue(t, ctx, "/bn", RunningVarName), wantVar, 1e-12)

	// After a reset the next batches replace, not extend, the average.
	if err := r.Reset(); err != nil {
		t.Fatal(err)
	}
	wantMean, wantVar = feed(2)
	assertClose(t, "mean after reset", varValue(t, ctx, "/bn", RunningMeanName), wantMean, 1e-12)
	assertClose(t, "var after reset", varValue(t, ctx, "/bn", RunningVarName), wantVar, 1e-12)
}

// TestWideParamsGradient: a narrow pass over wide shared parameters trains only the channels it uses
// (the Slice gradient needs Pad, which the project's engine provides).
func TestWideParamsGradient(t *testing.T) {
	backend := newBackend(t)
	rng := rand.New(rand.NewPCG(13, 14))
	const wide = 6
	ctx := context.New()
	exec, err := context.NewExec(backend, ctx, func(ctx *context.Context, x, r *Node) []*Node {
		g := x.Graph()
		ctx.SetTraining(g, true)
		bn := ctx.In("bn")
		loss := ReduceAllSum(Mul(BatchNorm(bn, x).Channels(wide).Done(), r))
		return Gradient(loss, bn.GetVariable(GammaName).ValueGraph(g), bn.GetVariable(BetaName).ValueGraph(g))
	})
	if err != nil {
		t.Fatal(err)
	}
	x := randSlice(rng, tN*tH*tW*tC, -2, 3)
	r := randSlice(rng, tN*tH*tW*tC, -1, 1)
	out, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, tN, tH, tW, tC),
		tensors.FromFlatDataAndDimensions(r, tN, tH, tW, tC))
	if err != nil {
		t.Fatal(err)
	}
	mean, variance := refStats(x, tC)
	wantG, wantB := make([]float64, wide), make([]float64, wide)
	for i, v := range x {
		c := i % tC
		wantG[c] += (v - mean[c]) / math.Sqrt(variance[c]+DefaultEpsilon) * r[i]
		wantB[c] += r[i]
	}
	assertClose(t, "dgamma", tensors.MustCopyFlatData[float64](out[0]), wantG, 1e-10)
	assertClose(t, "dbeta", tensors.MustCopyFlatData[float64](out[1]), wantB, 1e-10)
}

// TestFusedMatchesComposed: on the project's engine a training-mode BatchNorm is the fused BatchNormForTraining op
// (FusedBatchNormer); with "nofusedbn" it is composed from elementwise ops (Normalize). Both must give the same
// output and running statistics to the bit (a ReLU after the batch norm takes its gradient mask from the output's
// sign), and the same gradients (x, gamma, beta) within float32 rounding, with a mask, a narrow pass over wide
// parameters (Channels) and a second statistics set.
func TestFusedMatchesComposed(t *testing.T) {
	const wide = 32
	dims := []int{6, 5, 7, 24}
	rng := rand.New(rand.NewPCG(13, 14))
	size := dims[0] * dims[1] * dims[2] * dims[3]
	x, r := make([]float32, size), make([]float32, size)
	for i := range x {
		x[i], r[i] = float32(rng.NormFloat64()*2-3), float32(rng.NormFloat64())
		if i%dims[3] == 5 { // a channel whose spread is far below √ε
			x[i] = float32(0.3 + 1e-4*rng.NormFloat64())
		}
	}
	mask := make([]float32, dims[3])
	for i := range mask {
		mask[i] = float32(rng.IntN(2))
	}
	gamma, beta := make([]float32, wide), make([]float32, wide)
	for i := range gamma {
		gamma[i], beta[i] = float32(0.5+rng.Float64()), float32(rng.NormFloat64())
	}
	run := func(config string) (outs [][]float32, fused bool) {
		backend, err := engine.NewEngine(config)
		if err != nil {
			t.Fatal(err)
		}
		defer backend.Finalize()
		ctx := context.New()
		bn := ctx.In("bn")
		bn.VariableWithValue(GammaName, gamma)
		bn.VariableWithValue(BetaName, beta)
		exec, err := context.NewExec(backend, ctx, func(ctx *context.Context, x, r, mask *Node) []*Node {
			ctx.SetTraining(x.Graph(), true)
			fused = fusedBatchNorm(x)
			y := BatchNorm(ctx.In("bn").Reuse(), x).Channels(wide).Stats("target").Mask(mask).Done()
			loss := ReduceAllSum(Mul(y, r))
			gammaVar := ctx.GetVariableByScopeAndName("/bn", GammaName)
			betaVar := ctx.GetVariableByScopeAndName("/bn", BetaName)
			grads := Gradient(loss, x, gammaVar.ValueGraph(x.Graph()), betaVar.ValueGraph(x.Graph()))
			return append([]*Node{y}, grads...)
		})
		if err != nil {
			t.Fatal(err)
		}
		res, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, dims...),
			tensors.FromFlatDataAndDimensions(r, dims...), mask)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range res {
			outs = append(outs, tensors.MustCopyFlatData[float32](o))
		}
		for _, name := range []string{RunningMeanName + "_target", RunningVarName + "_target"} {
			outs = append(outs, tensors.MustCopyFlatData[float32](
				ctx.GetVariableByScopeAndName("/bn", name).MustValue()))
		}
		return outs, fused
	}
	got, fused := run("")
	want, composed := run("nofusedbn")
	if !fused || composed {
		t.Fatalf("fused batch norm chosen: %v with the default engine, %v with nofusedbn; want true, false", fused, composed)
	}
	names := []string{"y", "dx", "dgamma", "dbeta", "running_mean", "running_var"}
	for _, i := range []int{0, 4, 5} {
		for j := range want[i] {
			if got[i][j] != want[i][j] || math.Signbit(float64(got[i][j])) != math.Signbit(float64(want[i][j])) &&
				got[i][j] != 0 {
				t.Fatalf("%s[%d]: fused %g, composed %g: not the same bits", names[i], j, got[i][j], want[i][j])
			}
		}
	}
	for i := range want {
		scale := 1.0
		for _, w := range want[i] {
			scale = max(scale, math.Abs(float64(w)))
		}
		for j := range want[i] {
			if d := math.Abs(float64(got[i][j] - want[i][j])); d > 2e-5*scale {
				t.Fatalf("%s[%d]: fused %g, composed %g", names[i], j, got[i][j], want[i][j])
			}
		}
	}
	for j, m := range mask { // masked channels: zero output and zero gradients for gamma and beta
		if m == 0 && (got[0][j] != 0 || got[2][j] != 0 || got[3][j] != 0) {
			t.Fatalf("masked channel %d: y %g, dgamma %g, dbeta %g; want zeros", j, got[0][j], got[2][j], got[3][j])
		}
	}
}

// TestFusedInferenceMatchesComposed: in evaluation the engine's one-op BatchNormForInference gives the composed
// formulation's bits (a wide layer read through its first channels, with and without an affine, running statistics
// of the named set), and the composed engine does not use it.
func TestFusedInferenceMatchesComposed(t *testing.T) {
	const wide = 40
	dims := []int{3, 5, 7, 36} // 36 channels: the 8-lane kernel and the tail of a row
	rng := rand.New(rand.NewPCG(17, 18))
	x := make([]float32, dims[0]*dims[1]*dims[2]*dims[3])
	for i := range x {
		x[i] = float32(rng.NormFloat64()*3 - 1)
	}
	gamma, beta := make([]float32, wide), make([]float32, wide)
	runMean, runVar := make([]float32, wide), make([]float32, wide)
	for i := range gamma {
		gamma[i], beta[i] = float32(0.5+rng.Float64()), float32(rng.NormFloat64())
		runMean[i], runVar[i] = float32(rng.NormFloat64()), float32(0.1+2*rng.Float64())
	}
	runVar[3] = 0 // ε alone under the root
	for _, affine := range []bool{true, false} {
		run := func(config string) (out []float32, fused bool) {
			backend, err := engine.NewEngine(config)
			if err != nil {
				t.Fatal(err)
			}
			defer backend.Finalize()
			ctx := context.New()
			bn := ctx.In("bn")
			bn.VariableWithValue(GammaName, gamma)
			bn.VariableWithValue(BetaName, beta)
			bn.VariableWithValue(RunningMeanName+"_target", runMean)
			bn.VariableWithValue(RunningVarName+"_target", runVar)
			exec, err := context.NewExec(backend, ctx, func(ctx *context.Context, x *Node) *Node {
				fused = fusedBatchNorm(x)
				c := BatchNorm(ctx.In("bn").Reuse(), x).Channels(wide).Stats("target")
				if !affine {
					c = c.Affine(nil, nil)
				}
				return c.Done()
			})
			if err != nil {
				t.Fatal(err)
			}
			res, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, dims...))
			if err != nil {
				t.Fatal(err)
			}
			return tensors.MustCopyFlatData[float32](res[0]), fused
		}
		got, fused := run("")
		want, composed := run("nofusedbn")
		if !fused || composed {
			t.Fatalf("fused batch norm chosen: %v with the default engine, %v with nofusedbn; want true, false", fused, composed)
		}
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("affine %v: y[%d] = %g fused, %g composed: not the same bits", affine, i, got[i], want[i])
			}
		}
	}
}
