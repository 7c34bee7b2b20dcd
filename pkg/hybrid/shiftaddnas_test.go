package hybrid

import (
	"math"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
)

// TestPiecewiseKernel: W_mf = W·a[bin(W)] with bins over [min, max], the maximum in no bin (0, as ShiftAddNAS's
// code does), the gradient to a the sum of the weights (times upstream) in each bin and to W the bin's scalar.
func TestPiecewiseKernel(t *testing.T) {
	backend := engine.MustNew()
	const bins = 4
	w := []float32{-1, -0.6, -0.1, 0.2, 0.4, 0.99, 1} // bins of width 0.5 from -1: 0,0,1,2,2,3,none
	wantBin := []int{0, 0, 1, 2, 2, 3, -1}
	scales := []float32{2, 3, 5, 7}
	ctx := context.New()
	ctx.In("layer").VariableWithValue(PiecewiseScaleName, scales)
	outs := context.MustExecOnceN(backend, ctx, func(ctx *context.Context, wn *Node) []*Node {
		lctx := ctx.In("layer")
		out := ShiftAddNAS{Kernel: true, Bins: bins}.Layer(lctx, wn, arch.Add)
		a := lctx.GetVariable(PiecewiseScaleName).ValueGraph(wn.Graph())
		loss := ReduceAllSum(out)
		grads := Gradient(loss, wn, a)
		return []*Node{out, grads[0], grads[1]}
	}, tensors.FromFlatDataAndDimensions(w, len(w)))
	got, _ := tensors.CopyFlatData[float32](outs[0])
	gw, _ := tensors.CopyFlatData[float32](outs[1])
	ga, _ := tensors.CopyFlatData[float32](outs[2])
	wantGA := make([]float32, bins)
	for i, b := range wantBin {
		want, wantGW := float32(0), float32(0)
		if b >= 0 {
			want, wantGW = w[i]*scales[b], scales[b]
			wantGA[b] += w[i]
		}
		if math.Abs(float64(got[i]-want)) > 1e-6 || math.Abs(float64(gw[i]-wantGW)) > 1e-6 {
			t.Errorf("w=%g: W_mf %g (want %g), dW %g (want %g)", w[i], got[i], want, gw[i], wantGW)
		}
	}
	for b := range wantGA {
		if math.Abs(float64(ga[b]-wantGA[b])) > 1e-6 {
			t.Errorf("bin %d: da %g, want %g", b, ga[b], wantGA[b])
		}
	}
}

// TestKLFromSamples checks the KL term against a float64 computation, and that it vanishes when the weights
// are the samples.
func TestKLFromSamples(t *testing.T) {
	backend := engine.MustNew()
	w := []float64{0.3, -1.2, 0.8, 2.0, -0.1}
	s := []float64{1.1, 0.2, -0.7, 0.4, 0.9}
	outs := MustExecOnceN(backend, func(w, s *Node) []*Node {
		return []*Node{klFromSamples(w, s), klFromSamples(s, s)}
	}, w, s)
	logSoftmax := func(v []float64) []float64 {
		var z float64
		for _, x := range v {
			z += math.Exp(x)
		}
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = x - math.Log(z)
		}
		return out
	}
	lq, lp := logSoftmax(w), logSoftmax(s)
	var want float64
	for i := range w {
		want += math.Exp(lp[i]) * (lp[i] - lq[i])
	}
	want /= float64(len(w))
	if got := outs[0].Value().(float64); math.Abs(got-want) > 1e-12 || got <= 0 {
		t.Errorf("KL = %g, want %g", got, want)
	}
	if self := outs[1].Value().(float64); math.Abs(self) > 1e-15 {
		t.Errorf("KL of a distribution with itself = %g", self)
	}
}

// TestLaplaceSamples: the inverse-CDF sampler has Laplace(0, 2)'s mean and standard deviation (2√2), and no
// infinities.
func TestLaplaceSamples(t *testing.T) {
	backend := engine.MustNew()
	ctx := context.New()
	if err := ctx.SetRNGStateFromSeed(7); err != nil {
		t.Fatal(err)
	}
	const n = 200000
	out := context.MustExecOnce(backend, ctx, func(ctx *context.Context, dummy *Node) *Node {
		return laplaceSamples(ctx, dummy.Graph(), dummy.DType(), n, 0, 2)
	}, float32(0))
	v, _ := tensors.CopyFlatData[float32](out)
	var m, sq float64
	for _, x := range v {
		if math.IsInf(float64(x), 0) || math.IsNaN(float64(x)) {
			t.Fatalf("sample %g", x)
		}
		m += float64(x)
	}
	m /= n
	for _, x := range v {
		sq += (float64(x) - m) * (float64(x) - m)
	}
	sd := math.Sqrt(sq / n)
	if math.Abs(m) > 0.03 || math.Abs(sd-laplaceStd(2)) > 0.03 {
		t.Errorf("Laplace(0,2) samples: mean %.4f, std %.4f (want 0, %.4f)", m, sd, laplaceStd(2))
	}
}

// TestKLPenaltyAddedInTrainingOnly: the layer adds KLWeight·KL to the loss terms when training, nothing in
// inference; the kernel off leaves the weights as they are (Table 8's "KL-loss only").
func TestKLPenaltyAddedInTrainingOnly(t *testing.T) {
	backend := engine.MustNew()
	w := tensors.FromFlatDataAndDimensions([]float32{0.1, -0.2, 0.3, 0.05, -0.4, 0.25}, 2, 3)
	for _, training := range []bool{true, false} {
		ctx := context.New()
		if err := ctx.SetRNGStateFromSeed(1); err != nil {
			t.Fatal(err)
		}
		outs := context.MustExecOnceN(backend, ctx, func(ctx *context.Context, w *Node) []*Node {
			ctx.SetTraining(w.Graph(), training)
			out := ShiftAddNAS{KLWeight: 10}.Layer(ctx.In("l"), w, arch.Shift)
			pen := Penalty(ctx, w.Graph())
			if pen == nil {
				pen = ScalarZero(w.Graph(), w.DType())
			}
			return []*Node{ReduceAllMax(Abs(Sub(out, w))), pen}
		}, w)
		diff, pen := outs[0].Value().(float32), outs[1].Value().(float32)
		if diff != 0 {
			t.Errorf("kernel off changed the weights by %g", diff)
		}
		if training && !(pen > 0) || !training && pen != 0 {
			t.Errorf("training=%v: penalty %g", training, pen)
		}
	}
}

// TestLinearSkip: W + (a·W + c), in the graph and on the host.
func TestLinearSkip(t *testing.T) {
	backend := engine.MustNew()
	r := Remap{Mode: ShareLinearSkip, A: 0.5, C: 0.01}
	w := []float32{-0.3, 0, 0.2}
	out := MustExecOnce(backend, func(w *Node) *Node { return r.Apply(w) }, w)
	got, _ := tensors.CopyFlatData[float32](out)
	for i, x := range w {
		want := float64(x) + 0.5*float64(x) + 0.01
		if math.Abs(float64(got[i])-want) > 1e-6 || math.Abs(r.RemapValue(float64(x), 0, 1)-want) > 1e-12 {
			t.Errorf("w=%g: %g, want %g", x, got[i], want)
		}
	}
	for _, m := range SharingModes {
		if got, err := ParseSharing(string(m)); err != nil || got != m {
			t.Errorf("ParseSharing(%q) = %q, %v", m, got, err)
		}
	}
	if _, err := ParseSharing("bogus"); err == nil {
		t.Error("ParseSharing accepted bogus")
	}
}
