package export

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/shiftaddaug/shiftaddaug/kernels"
	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/pkg/models"
)

// build creates net's variables in a new context (random init) by running the target pass once.
func build(t *testing.T, backend backends.Backend, name string, method arch.Method, aug bool) (*models.Net, *context.Context) {
	t.Helper()
	m, err := arch.Get(name, 4)
	if err != nil {
		t.Fatal(err)
	}
	m = m.WithMethod(method)
	a := models.Aug{}
	if aug {
		a = models.DefaultAug(m)
	}
	net, err := models.New(m, a, 3)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.New()
	x := tensors.FromFlatDataAndDimensions(make([]float32, 32*32*3), 1, 32, 32, 3)
	context.MustExecOnce(backend, ctx, func(ctx *context.Context, x *Node) *Node {
		return net.Logits(ctx, x, models.Pass{})
	}, x)
	// Non-trivial values everywhere, so that a misplaced slice shows: variable i's element j.
	i := 0
	for v := range ctx.IterVariables() {
		if v.Name() == "weights" {
			continue // keep the init (Shift quantisation needs realistic magnitudes)
		}
		vals := make([]float32, v.Shape().Size())
		for j := range vals {
			vals[j] = float32(i) + float32(j)/1024
		}
		v.MustSetValue(tensors.FromFlatDataAndDimensions(vals, v.Shape().Dimensions...))
		i++
	}
	return net, ctx
}

func variableData(t *testing.T, ctx *context.Context, scope, name string) ([]float32, []int) {
	t.Helper()
	v, err := readVariable(ctx, scope, name)
	if err != nil {
		t.Fatal(err)
	}
	return v.data, v.dims
}

// TestArchJSONRoundTrip: every zoo model under every method survives the JSON description unchanged.
func TestArchJSONRoundTrip(t *testing.T) {
	for _, name := range arch.Names() {
		for _, method := range arch.Methods {
			m, _ := arch.Get(name, 7)
			m = m.WithMethod(method)
			b, err := json.Marshal(archToJSON(m))
			if err != nil {
				t.Fatal(err)
			}
			var j archJSON
			if err := json.Unmarshal(b, &j); err != nil {
				t.Fatal(err)
			}
			got, err := archFromJSON(j)
			if err != nil {
				t.Fatalf("%s/%s: %v", name, method, err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Errorf("%s/%s: round trip changed the model:\n got %+v\nwant %+v", name, method, got, m)
			}
			if MethodOf(got) != string(method) {
				t.Errorf("%s/%s: MethodOf = %s", name, method, MethodOf(got))
			}
		}
	}
}

// TestExportRoundTrip: a Shift MobileNetV3 (SE convs, pooled conv with bias, h-swish) written with
// ExportFromContext loads back identical to what Extract produced, with the resolution recorded, and no
// temporary file is left behind.
func TestExportRoundTrip(t *testing.T) {
	backend := engine.MustNew()
	net, ctx := build(t, backend, "mbv3-w0.35", arch.MethodShift, false)
	dir := t.TempDir()
	path := filepath.Join(dir, "mbv3.saaug")
	if err := ExportFromContext(ctx, net, 32, path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Extract(ctx, net, Options{Input: Input{Res: 32}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("the loaded model differs from the extracted one")
	}
	if got.Input.Res != 32 || got.Method != "shift" || got.Shift != (ShiftFormat{5, 16, true}) || got.BNEpsilon != 1e-5 {
		t.Errorf("header: res %d, method %s, shift %+v, eps %g", got.Input.Res, got.Method, got.Shift, got.BNEpsilon)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the export directory holds %d entries, want only the model file", len(entries))
	}
	// Normalisation is recorded when given.
	m := *want
	m.Input = Input{Res: 32, Mean: []float32{0.5, 0.4, 0.3}, Std: []float32{0.2, 0.2, 0.25}}
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	if l, err := Load(path); err != nil || !reflect.DeepEqual(l.Input, m.Input) {
		t.Errorf("normalisation: %v, %+v", err, l)
	}
	if px := m.Input.Normalize([]float32{255, 0, 127.5}); math.Abs(float64(px[0])-2.5) > 1e-6 || math.Abs(float64(px[1])+2) > 1e-6 {
		t.Errorf("Normalize: %v", px)
	}
}

// TestShiftWeightsAreTheGraphQuantiser: every exported Shift weight sign·2^exp equals, bit for bit, what
// kernels.QuantizeShiftWeight (the training-time forward's quantiser) makes of the target slice.
func TestShiftWeightsAreTheGraphQuantiser(t *testing.T) {
	backend := engine.MustNew()
	net, ctx := build(t, backend, "mbv3-w0.35", arch.MethodShift, true)
	m, err := Extract(ctx, net, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var shifts int
	for _, l := range m.Layers {
		if l.Op != arch.Shift {
			t.Errorf("layer %s is %s under shift", l.Scope, l.Op)
			continue
		}
		shifts++
		data, dims := variableData(t, ctx, l.Scope, "weights")
		target, err := leading(variable{name: l.Scope, dims: dims, data: data}, l.WeightDims())
		if err != nil {
			t.Fatal(err)
		}
		q := tensors.MustCopyFlatData[float32](MustExecOnce(backend, func(w *Node) *Node {
			return kernels.QuantizeShiftWeight(w, kernels.DefaultShiftBits)
		}, tensors.FromFlatDataAndDimensions(target, l.WeightDims()...)))
		for i := range q {
			if v := float32(math.Ldexp(float64(l.Sign[i]), int(l.Exp[i]))); v != q[i] {
				t.Fatalf("%s[%d]: exported %d·2^%d = %g, the graph quantiser gives %g", l.Scope, i, l.Sign[i], l.Exp[i], v, q[i])
			}
		}
	}
	if shifts != len(Specs(net.Arch)) {
		t.Errorf("%d Shift layers of %d", shifts, len(Specs(net.Arch)))
	}
}

// TestExportSlicesTheTarget: from an augmented (wide) network, every exported tensor is the target's leading
// slice on every axis of the wide variable.
func TestExportSlicesTheTarget(t *testing.T) {
	backend := engine.MustNew()
	net, ctx := build(t, backend, "mbv3-w0.35", arch.MethodAdd, true)
	if !net.Augmented() {
		t.Fatal("not augmented")
	}
	m, err := Extract(ctx, net, Options{})
	if err != nil {
		t.Fatal(err)
	}
	wider := 0
	for _, l := range m.Layers {
		data, dims := variableData(t, ctx, l.Scope, "weights")
		if numel(dims) > numel(l.WeightDims()) {
			wider++
		}
		// Independent index arithmetic: element (a, b, c, d) of the target is element (a, b, c, d) of the wide.
		td := l.WeightDims()
		for i := range numel(td) {
			idx, rest := make([]int, len(td)), i
			for ax := len(td) - 1; ax >= 0; ax-- {
				idx[ax], rest = rest%td[ax], rest/td[ax]
			}
			flat := 0
			for ax := range dims {
				flat = flat*dims[ax] + idx[ax]
			}
			if l.Weights[i] != data[flat] {
				t.Fatalf("%s weights%v = %g, wide variable has %g", l.Scope, idx, l.Weights[i], data[flat])
			}
		}
		check := func(name string, got []float32) {
			wide, _ := variableData(t, ctx, l.Scope, name)
			if !reflect.DeepEqual(got, wide[:l.Out]) {
				t.Errorf("%s/%s is not the leading %d of the wide vector", l.Scope, name, l.Out)
			}
		}
		if l.Bias != nil {
			check("bias", l.Bias)
		}
		if l.BN != nil {
			check("gamma", l.BN.Gamma)
			check("beta", l.BN.Beta)
			check("running_mean", l.BN.Mean)
			check("running_var", l.BN.Var)
		}
	}
	if wider < len(m.Layers)/2 {
		t.Errorf("only %d of %d layers were wider than the target", wider, len(m.Layers))
	}
}

func TestExtractMissingVariable(t *testing.T) {
	m, _ := arch.Get("mbv2-tiny", 3)
	net, _ := models.New(m, models.Aug{}, 1)
	_, err := Extract(context.New(), net, Options{})
	if err == nil || !strings.Contains(err.Error(), "/stem/weights not found") {
		t.Errorf("got %v, want an error naming /stem/weights", err)
	}
}

// TestLoadErrors: each kind of damage gives its error, naming the file.
func TestLoadErrors(t *testing.T) {
	backend := engine.MustNew()
	net, ctx := build(t, backend, "mbv2-tiny", arch.MethodShift, false)
	m, err := Extract(ctx, net, Options{Input: Input{Res: 32}})
	if err != nil {
		t.Fatal(err)
	}
	good, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	hl := binary.LittleEndian.Uint32(good[20:])
	var h header
	if err := json.Unmarshal(good[fixedLen:fixedLen+int(hl)], &h); err != nil {
		t.Fatal(err)
	}
	data := good[fixedLen+int(hl) : len(good)-sumLen]
	// reframe re-encodes a modified header with the same tensor data and a valid checksum.
	reframe := func(edit func(h *header), d []byte) []byte {
		var c header
		hj, _ := json.Marshal(h)
		_ = json.Unmarshal(hj, &c)
		edit(&c)
		hj, _ = json.Marshal(c)
		return assemble(hj, d)
	}
	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 0x40
		return c
	}
	cases := []struct {
		name string
		b    []byte
		kind error
		msg  string
	}{
		{"empty", nil, ErrTruncated, "0 bytes"},
		{"cut in the fixed header", good[:15], ErrTruncated, "15 bytes"},
		{"cut in the header", good[:fixedLen+int(hl)/2], ErrTruncated, "the header declares"},
		{"cut in the data", good[:len(good)-sumLen-100], ErrTruncated, "the header declares"},
		{"last byte missing", good[:len(good)-1], ErrTruncated, "the header declares"},
		{"trailing bytes", append(bytes.Clone(good), 0, 0), ErrInvalid, "trailing"},
		{"bad magic", flip(good, 0), ErrBadMagic, "SAAUGTGT"},
		{"not a model", []byte("{\"json\": true}"), ErrBadMagic, "starts with"},
		{"version 2", func() []byte { c := bytes.Clone(good); c[8] = 2; return c }(), ErrVersion, "version 2"},
		{"flipped data byte", flip(good, len(good)-sumLen-7), ErrChecksum, "SHA-256"},
		{"flipped header byte", flip(good, fixedLen+10), ErrChecksum, "SHA-256"},
		{"flipped checksum", flip(good, len(good)-1), ErrChecksum, "SHA-256"},
		{"wrong tensor shape", reframe(func(h *header) { h.Tensors[0].Dims = []int{3, 3, 3, 15} }, data), ErrInvalid,
			"tensor stem/weights.sign is int8 [3 3 3 15], the architecture needs int8 [3 3 3 16]"},
		{"wrong dtype", reframe(func(h *header) { h.Tensors[0].DType = dtFloat32 }, data), ErrInvalid, "stem/weights.sign is float32"},
		{"missing tensor", reframe(func(h *header) { h.Tensors = h.Tensors[1:] }, data), ErrInvalid, "stem/weights.sign (int8 [3 3 3 16]) is missing"},
		{"extra tensor", reframe(func(h *header) {
			h.Tensors = append(h.Tensors, tensorEntry{Name: "stem/bias", DType: dtFloat32, Dims: []int{16}, Offset: int64(len(data))})
		}, append(bytes.Clone(data), make([]byte, 64)...)), ErrInvalid, "stem/bias is not a parameter"},
		{"short data", reframe(func(h *header) {}, data[:len(data)-4]), ErrInvalid, "runs past the end"},
		{"moved tensor", reframe(func(h *header) { h.Tensors[1].Offset++ }, data), ErrInvalid, "stem/weights.exp is at offset 433, want 432"},
		{"architecture: wrong chaining", reframe(func(h *header) { h.Arch.Blocks[3].In = 9 }, data), ErrInvalid,
			"blocks.3 takes 9 channels after a layer that gives 8"},
		{"architecture: classifier", reframe(func(h *header) { h.Arch.Classifier.Out = 5 }, data), ErrInvalid, "classifier has 5 outputs for 4 classes"},
		{"architecture: unknown op", reframe(func(h *header) { h.Arch.Blocks[0].Op = "divide" }, data), ErrInvalid, "unknown operator \"divide\""},
		{"exponent out of range", reframe(func(h *header) { h.Shift.WeightBits = 2 }, data), ErrInvalid, "exponent outside [-1, 0]"},
		{"unknown header field", func() []byte {
			var raw map[string]any
			hj, _ := json.Marshal(h)
			_ = json.Unmarshal(hj, &raw)
			raw["surprise"] = 1
			hj, _ = json.Marshal(raw)
			return assemble(hj, data)
		}(), ErrInvalid, "surprise"},
	}
	dir := t.TempDir()
	for i, c := range cases {
		path := filepath.Join(dir, "case"+string(rune('a'+i))+".saaug")
		if err := os.WriteFile(path, c.b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		switch {
		case err == nil:
			t.Errorf("%s: loaded without error", c.name)
		case !errors.Is(err, c.kind):
			t.Errorf("%s: error %q is not %q", c.name, err, c.kind)
		case !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.msg):
			t.Errorf("%s: error %q does not name the file and %q", c.name, err, c.msg)
		default:
			t.Logf("%s: %v", c.name, err)
		}
	}
	if _, err := Load(filepath.Join(dir, "absent.saaug")); err == nil || !strings.Contains(err.Error(), "absent.saaug") {
		t.Errorf("missing file: %v", err)
	}
}

// TestSaveRefusesInvalid: an inconsistent model is not written, and no file appears.
func TestSaveRefusesInvalid(t *testing.T) {
	backend := engine.MustNew()
	net, ctx := build(t, backend, "mbv2-tiny", arch.MethodAdd, false)
	m, err := Extract(ctx, net, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m.Layers[2].BN.Var[0] = -1
	path := filepath.Join(t.TempDir(), "bad.saaug")
	if err := m.Save(path); err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "variance") {
		t.Errorf("got %v, want an invalid-model error about the variance", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a file was written: %v", err)
	}
}
