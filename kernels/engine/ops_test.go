package engine

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/notimplemented"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func newTestEngine(t *testing.T) *Backend {
	t.Helper()
	b, err := NewEngine("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Finalize)
	return b
}

func iotaF64(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = float64(i + 1)
	}
	return v
}

func TestPad(t *testing.T) {
	b := newTestEngine(t)
	pad1 := func(x []float64, cfg backends.PadAxis) []float64 {
		t.Helper()
		out, err := ExecOnce(b, func(x *Node) *Node { return Pad(x, Scalar(x.Graph(), x.DType(), -1), cfg) }, x)
		if err != nil {
			t.Fatalf("Pad %+v: %v", cfg, err)
		}
		return tensors.MustCopyFlatData[float64](out)
	}
	x := []float64{1, 2, 3}
	cases := []struct {
		cfg  backends.PadAxis
		want []float64
	}{
		{backends.PadAxis{Start: 2, End: 1}, []float64{-1, -1, 1, 2, 3, -1}},
		{backends.PadAxis{Interior: 2}, []float64{1, -1, -1, 2, -1, -1, 3}},
		{backends.PadAxis{Start: 1, End: 2, Interior: 1}, []float64{-1, 1, -1, 2, -1, 3, -1, -1}},
		{backends.PadAxis{Start: -1, End: 1}, []float64{2, 3, -1}},
		{backends.PadAxis{Start: 1, End: -2}, []float64{-1, 1}},
		// Negative edges cut the interior-padded axis (XLA order: interior first).
		{backends.PadAxis{Start: -1, End: -1, Interior: 1}, []float64{-1, 2, -1}},
		{backends.PadAxis{Start: -3, End: 2}, []float64{-1, -1}},
		{backends.PadAxis{}, []float64{1, 2, 3}},
		{backends.PadAxis{Start: -2, End: -1}, []float64{}},
	}
	for _, c := range cases {
		got := pad1(x, c.cfg)
		if !equalF64(got, c.want) {
			t.Errorf("Pad(%v, %+v) = %v, want %v", x, c.cfg, got, c.want)
		}
	}

	// 2D: pad rows at the end, columns with interior 1 and start 1.
	x2 := [][]float64{{1, 2}, {3, 4}}
	out, err := ExecOnce(b, func(x *Node) *Node {
		return Pad(x, Scalar(x.Graph(), x.DType(), 0),
			backends.PadAxis{End: 1}, backends.PadAxis{Start: 1, Interior: 1})
	}, x2)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]float64{{0, 1, 0, 2}, {0, 3, 0, 4}, {0, 0, 0, 0}}
	if got := out.Value().([][]float64); !equal2D(got, want) {
		t.Errorf("Pad 2D = %v, want %v", got, want)
	}

	// Negative interior is rejected with an error, not a crash.
	_, err = ExecOnce(b, func(x *Node) *Node {
		return Pad(x, Scalar(x.Graph(), x.DType(), 0), backends.PadAxis{Interior: -1})
	}, x)
	if err == nil || !strings.Contains(err.Error(), "interior") {
		t.Errorf("negative interior: want an error about interior padding, got %v", err)
	}
}

func TestReverse(t *testing.T) {
	b := newTestEngine(t)
	x := [][][]float64{
		{{1, 2, 3}, {4, 5, 6}},
		{{7, 8, 9}, {10, 11, 12}},
	}
	rev := func(axes ...int) [][][]float64 {
		t.Helper()
		out, err := ExecOnce(b, func(x *Node) *Node { return Reverse(x, axes...) }, x)
		if err != nil {
			t.Fatalf("Reverse%v: %v", axes, err)
		}
		return out.Value().([][][]float64)
	}
	cases := []struct {
		axes []int
		want [][][]float64
	}{
		{[]int{2}, [][][]float64{{{3, 2, 1}, {6, 5, 4}}, {{9, 8, 7}, {12, 11, 10}}}},
		{[]int{1}, [][][]float64{{{4, 5, 6}, {1, 2, 3}}, {{10, 11, 12}, {7, 8, 9}}}},
		{[]int{0, 2}, [][][]float64{{{9, 8, 7}, {12, 11, 10}}, {{3, 2, 1}, {6, 5, 4}}}},
		{[]int{0, 1, 2}, [][][]float64{{{12, 11, 10}, {9, 8, 7}}, {{6, 5, 4}, {3, 2, 1}}}},
	}
	for _, c := range cases {
		got := rev(c.axes...)
		for i := range got {
			if !equal2D(got[i], c.want[i]) {
				t.Errorf("Reverse(axes=%v) = %v, want %v", c.axes, got, c.want)
				break
			}
		}
	}
}

func TestClamp(t *testing.T) {
	b := newTestEngine(t)
	out, err := ExecOnce(b, func(x *Node) *Node {
		g := x.Graph()
		return Clamp(Scalar(g, x.DType(), -1), x, Scalar(g, x.DType(), 1))
	}, []float64{-3, -0.5, 0, 2})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tensors.MustCopyFlatData[float64](out), []float64{-1, -0.5, 0, 1}; !equalF64(got, want) {
		t.Errorf("Clamp = %v, want %v", got, want)
	}
}

func TestUnsupportedOpNamesIt(t *testing.T) {
	b := newTestEngine(t)
	// DynamicSlice is implemented neither by SimpleGo nor here.
	_, err := ExecOnce(b, func(x *Node) *Node {
		return DynamicSlice(x, []*Node{Scalar(x.Graph(), x.DType(), 1)}, []int{2})
	}, []int32{1, 2, 3, 4})
	if err == nil {
		t.Fatal("DynamicSlice: want an error, got none")
	}
	if !strings.Contains(err.Error(), "DynamicSlice") {
		t.Errorf("error does not name the op: %v", err)
	}
	var ue *UnsupportedOpError
	if !errors.As(err, &ue) || !errors.Is(err, notimplemented.NotImplementedError) {
		t.Errorf("error %v: want an *UnsupportedOpError wrapping NotImplementedError", err)
	}
	// Capabilities advertise the added ops and not the missing ones.
	caps := b.Capabilities()
	if !caps.Operations[backends.OpTypePad] || !caps.Operations[backends.OpTypeReverse] ||
		caps.Operations[backends.OpTypeDynamicSlice] {
		t.Errorf("capabilities wrong: Pad=%v Reverse=%v DynamicSlice=%v", caps.Operations[backends.OpTypePad],
			caps.Operations[backends.OpTypeReverse], caps.Operations[backends.OpTypeDynamicSlice])
	}
}

// convNet is a tiny CNN: conv 3x3 stride 2 (no .Strides/.Dilation defaults elsewhere), tanh, depthwise 3x3
// stride 1 without DilationPerAxis (crashes stock SimpleGo), tanh, strided depthwise, global mean, dense, and a
// weighted sum as a scalar loss.
func convNet(x, k1, k2, k3, w, mix *Node) *Node {
	h := Convolve(x, k1).Strides(2).PadSame().Done() // [N, 4, 4, C]
	h = Tanh(h)
	c := h.Shape().Dimensions[3]
	h = Convolve(h, k2).FeatureGroupCount(c).PadSame().Done() // depthwise, nil strides and dilations
	h = Tanh(h)
	h = Convolve(h, k3).FeatureGroupCount(c).Strides(2).PadSame().Done() // depthwise stride 2: dilated VJP
	h = ReduceMean(h, 1, 2)                                              // [N, C]
	y := Dot(h, w)                                                       // [N, O]
	return ReduceAllSum(Mul(y, mix))
}

func TestConvNetGradientFiniteDifferences(t *testing.T) {
	b := newTestEngine(t)
	rng := rand.New(rand.NewPCG(1, 2))
	randT := func(scale float64, dims ...int) *tensors.Tensor {
		n := 1
		for _, d := range dims {
			n *= d
		}
		v := make([]float64, n)
		for i := range v {
			v[i] = scale * (2*rng.Float64() - 1)
		}
		return tensors.FromFlatDataAndDimensions(v, dims...)
	}
	const N, H, W, Cin, C, O = 2, 7, 7, 3, 4, 5 // odd spatial size
	inputs := []*tensors.Tensor{
		randT(1, N, H, W, Cin),
		randT(0.5, 3, 3, Cin, C),
		randT(0.5, 3, 3, 1, C),
		randT(0.5, 3, 3, 1, C),
		randT(0.5, C, O),
		randT(1, N, O),
	}
	const numParams = 5 // gradients w.r.t. all but mix

	lossExec, err := NewExec(b, func(x, k1, k2, k3, w, mix *Node) *Node { return convNet(x, k1, k2, k3, w, mix) })
	if err != nil {
		t.Fatal(err)
	}
	gradExec, err := NewExec(b, func(x, k1, k2, k3, w, mix *Node) []*Node {
		return Gradient(convNet(x, k1, k2, k3, w, mix), x, k1, k2, k3, w)
	})
	if err != nil {
		t.Fatal(err)
	}
	args := make([]any, len(inputs))
	for i, in := range inputs {
		args[i] = in
	}
	grads, err := gradExec.Exec(args...)
	if err != nil {
		t.Fatalf("gradient graph failed on the engine: %v", err)
	}
	loss := func(in []*tensors.Tensor) float64 {
		a := make([]any, len(in))
		for i, v := range in {
			a[i] = v
		}
		out, err := lossExec.Exec(a...)
		if err != nil {
			t.Fatal(err)
		}
		return out[0].Value().(float64)
	}

	const eps = 1e-6
	for p := 0; p < numParams; p++ {
		base := tensors.MustCopyFlatData[float64](inputs[p])
		dims := inputs[p].Shape().Dimensions
		got := tensors.MustCopyFlatData[float64](grads[p])
		// Check every entry of the weights and a stride of the input's entries.
		step := 1
		if p == 0 {
			step = 7
		}
		maxErr := 0.0
		for i := 0; i < len(base); i += step {
			perturbed := func(delta float64) float64 {
				v := append([]float64(nil), base...)
				v[i] += delta
				in := append([]*tensors.Tensor(nil), inputs...)
				in[p] = tensors.FromFlatDataAndDimensions(v, dims...)
				return loss(in)
			}
			fd := (perturbed(eps) - perturbed(-eps)) / (2 * eps)
			e := math.Abs(fd-got[i]) / math.Max(1, math.Abs(fd))
			maxErr = max(maxErr, e)
			if e > 1e-6 {
				t.Errorf("input %d entry %d: gradient %.9g, finite difference %.9g", p, i, got[i], fd)
			}
		}
		t.Logf("input %d %v: max relative error %.2e", p, dims, maxErr)
	}
}

func equalF64(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equal2D(a, b [][]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !equalF64(a[i], b[i]) {
			return false
		}
	}
	return true
}
