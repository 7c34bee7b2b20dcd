// Package export writes and reads a trained ShiftAddAug target network as one self-contained file: the
// architecture, how its input was prepared, and the target's weights only (the leading slice of the wide shared
// weights), with Shift weights as sign and exponent. pkg/models/deploy runs such a file in plain Go on the
// integer kernels.
//
// # File format (version 1)
//
// All integers little-endian.
//
//	offset   size  content
//	0        8     magic "SAAUGTGT"
//	8        4     uint32 format version (1)
//	12       8     uint64 total file length L, checksum included
//	20       4     uint32 header length H
//	24       H     header: JSON (see below)
//	24+H     D     tensor data: the tensors listed in the header, contiguous, in header order, no padding
//	L-32     32    SHA-256 of bytes [0, L-32)
//
// The header JSON holds:
//
//	arch        the full layer description (name, classes, stem, blocks, head, classifier; operators and
//	            activations by name), enough to rebuild the arch.Model without the zoo
//	method      "base", "shift", "add" (or "mixed" when the per-layer operators follow none of them)
//	input       res (the training resolution, 0 if unknown), mean and std: the network's input was
//	            (pixel/255 − mean)/std per channel (datasets.Transform's normalisation); absent when not given
//	shift       weight_bits (5: exponents in [−15, 0]), act_frac_bits (16) and act_quant (true): the Shift
//	            operator settings the model was trained with
//	bn_epsilon  the batch norms' ε (1e-5)
//	tensors     [{name, dtype, dims, offset}]: offset relative to the start of the tensor data
//
// Tensors are named "<layer scope>/<name>" after the model's variables: "stem/weights", "blocks.3/expand/gamma",
// "blocks.5/se/reduce/bias", "classifier/weights". Mult and Add layers store "weights" (float32); Shift layers
// store "weights.sign" and "weights.exp" (int8 each, value = sign·2^exp, from kernels.ShiftQuantizeValue applied
// to the weights the training-time Shift operator quantises). Layers with a bias store "bias"; layers with batch
// norm store "gamma", "beta", "running_mean", "running_var" (the target's running statistics). Shapes are the
// target's: conv [k,k,Cin,Cout], depthwise [k,k,C], classifier [In,classes], per-channel vectors [C].
package export

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/shiftaddaug/shiftaddaug/internal/atomicio"
	"github.com/shiftaddaug/shiftaddaug/kernels"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
)

// Magic opens every exported model file.
const Magic = "SAAUGTGT"

// Version is the format version this package writes and reads.
const Version = 1

const (
	fixedLen = 24 // magic, version, total length, header length
	sumLen   = sha256.Size
	// maxHeader bounds the header JSON (a model description is a few tens of kB).
	maxHeader = 64 << 20
)

// Errors that Load and Decode wrap (test with errors.Is); the message also names the file and the detail.
var (
	ErrTruncated = errors.New("truncated file")
	ErrBadMagic  = errors.New("not a ShiftAddAug exported model (bad magic)")
	ErrVersion   = errors.New("unsupported format version")
	ErrChecksum  = errors.New("checksum mismatch (the file is corrupted)")
	ErrInvalid   = errors.New("inconsistent model")
)

// Input says how the network's input was prepared in training.
type Input struct {
	// Res is the square input resolution the model was trained at (0: not recorded).
	Res int `json:"res,omitempty"`
	// Mean and Std normalise each channel as (pixel/255 − Mean)/Std (one value: every channel); nil: none.
	Mean []float32 `json:"mean,omitempty"`
	Std  []float32 `json:"std,omitempty"`
}

// Normalize maps 8-bit-range pixels (NHWC, 3 channels, values 0..255) to the network's input as training
// prepared it: (pixel/255 − Mean)/Std per channel. Without Mean and Std it only divides by 255.
func (in Input) Normalize(pixels []float32) []float32 {
	out := make([]float32, len(pixels))
	for i, p := range pixels {
		v := p / 255
		c := i % 3
		if len(in.Mean) > 0 {
			v -= in.Mean[min(c, len(in.Mean)-1)]
		}
		if len(in.Std) > 0 {
			v /= in.Std[min(c, len(in.Std)-1)]
		}
		out[i] = v
	}
	return out
}

// ShiftFormat records the Shift operator settings the model was trained with.
type ShiftFormat struct {
	// WeightBits is the weight width (sign + exponent): exponents lie in [−(2^(b−1)−1), 0].
	WeightBits int `json:"weight_bits"`
	// ActFracBits is the number of fraction bits of the activation quantiser in front of Shift layers.
	ActFracBits int `json:"act_frac_bits"`
	// ActQuant is false when the model was trained without activation quantisation (an ablation).
	ActQuant bool `json:"act_quant"`
}

// Model is an exported target network.
type Model struct {
	// Arch is the target's architecture (its per-layer operators included).
	Arch *arch.Model
	// Method is the deployment method the operators follow ("base", "shift", "add") or "mixed".
	Method string
	// Input is how the input was prepared in training.
	Input Input
	// Shift are the Shift operator settings.
	Shift ShiftFormat
	// BNEpsilon is the batch norms' ε.
	BNEpsilon float64
	// Layers are the weighted layers in execution order (Specs(Arch) order).
	Layers []*Layer
}

// Layer returns the layer with the given scope, or nil.
func (m *Model) Layer(scope string) *Layer {
	for _, l := range m.Layers {
		if l.Scope == scope {
			return l
		}
	}
	return nil
}

// MethodOf names the deployment method whose operators m follows: "base", "shift" or "add", else "mixed".
func MethodOf(m *arch.Model) string {
	specs := Specs(m)
	for _, method := range arch.Methods {
		ref := Specs(m.WithMethod(method))
		same := true
		for i := range specs {
			same = same && specs[i].Op == ref[i].Op
		}
		if same {
			return string(method)
		}
	}
	return "mixed"
}

type tensorEntry struct {
	Name   string `json:"name"`
	DType  dtype  `json:"dtype"`
	Dims   []int  `json:"dims"`
	Offset int64  `json:"offset"`
}

type header struct {
	Arch      archJSON      `json:"arch"`
	Method    string        `json:"method"`
	Input     Input         `json:"input"`
	Shift     ShiftFormat   `json:"shift"`
	BNEpsilon float64       `json:"bn_epsilon"`
	Tensors   []tensorEntry `json:"tensors"`
}

// Validate checks that m is complete and consistent: a valid architecture, every layer of it present with
// parameters of the target's shapes, Shift signs in {−1, 0, 1} and exponents in range, finite floats,
// non-negative variances, sensible settings.
func (m *Model) Validate() error {
	if m.Arch == nil {
		return fmt.Errorf("no architecture")
	}
	if err := CheckArch(m.Arch); err != nil {
		return err
	}
	if b := m.Shift.WeightBits; b < 1 || b > 8 {
		return fmt.Errorf("shift weight bits %d outside [1, 8]", b)
	}
	if m.Shift.ActFracBits < 1 || m.Shift.ActFracBits > 30 {
		return fmt.Errorf("shift activation fraction bits %d outside [1, 30]", m.Shift.ActFracBits)
	}
	if !(m.BNEpsilon > 0) || math.IsInf(m.BNEpsilon, 0) {
		return fmt.Errorf("batch-norm epsilon %v must be positive", m.BNEpsilon)
	}
	if err := m.Input.check(); err != nil {
		return err
	}
	specs := Specs(m.Arch)
	if len(m.Layers) != len(specs) {
		return fmt.Errorf("%d layers, the architecture has %d", len(m.Layers), len(specs))
	}
	emin := kernels.ShiftMinExponent(m.Shift.WeightBits)
	for i, s := range specs {
		l := m.Layers[i]
		if l == nil || l.Scope != s.Scope {
			return fmt.Errorf("layer %d is not %s", i, s.Scope)
		}
		if l.LayerSpec != s {
			return fmt.Errorf("layer %s: description %+v differs from the architecture's %+v", s.Scope, l.LayerSpec, s)
		}
		if s.BN != (l.BN != nil) {
			return fmt.Errorf("layer %s: batch norm present %v, architecture says %v", s.Scope, l.BN != nil, s.BN)
		}
		if s.Op != arch.Shift && (l.Sign != nil || l.Exp != nil) || s.Op == arch.Shift && l.Weights != nil {
			return fmt.Errorf("layer %s: weights stored in the wrong form for a %s layer", s.Scope, s.Op)
		}
		for _, ts := range s.tensorSpecs() {
			_, n, _ := splitName(ts.name)
			want := numel(ts.dims)
			if ts.dtype == dtInt8 {
				v := *l.i8(n)
				if len(v) != want {
					return fmt.Errorf("tensor %s has %d values, want %d for shape %v", ts.name, len(v), want, ts.dims)
				}
				for j, x := range v {
					if n == nameSign && (x < -1 || x > 1) {
						return fmt.Errorf("tensor %s[%d] = %d: a sign must be -1, 0 or 1", ts.name, j, x)
					}
					if n == nameExp && (int(x) < emin || x > 0) {
						return fmt.Errorf("tensor %s[%d] = %d: exponent outside [%d, 0]", ts.name, j, x, emin)
					}
				}
				continue
			}
			p := l.f32(n)
			if p == nil || len(*p) != want {
				got := 0
				if p != nil {
					got = len(*p)
				}
				return fmt.Errorf("tensor %s has %d values, want %d for shape %v", ts.name, got, want, ts.dims)
			}
			for j, x := range *p {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					return fmt.Errorf("tensor %s[%d] is %v", ts.name, j, x)
				}
				if n == nameVar && x < 0 {
					return fmt.Errorf("tensor %s[%d] = %v: a variance cannot be negative", ts.name, j, x)
				}
			}
		}
		if s.Bias != (l.Bias != nil) {
			return fmt.Errorf("layer %s: bias present %v, architecture says %v", s.Scope, l.Bias != nil, s.Bias)
		}
	}
	return nil
}

func (in Input) check() error {
	if in.Res < 0 {
		return fmt.Errorf("input resolution %d", in.Res)
	}
	for _, l := range [][]float32{in.Mean, in.Std} {
		if n := len(l); n != 0 && n != 1 && n != 3 {
			return fmt.Errorf("input normalisation has %d values per statistic, want 1 or 3", n)
		}
	}
	for _, s := range in.Std {
		if s == 0 || math.IsNaN(float64(s)) {
			return fmt.Errorf("input normalisation std %v", s)
		}
	}
	return nil
}

// Encode serialises a valid model in the file format.
func Encode(m *Model) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	h := header{Arch: archToJSON(m.Arch), Method: m.Method, Input: m.Input, Shift: m.Shift, BNEpsilon: m.BNEpsilon}
	var data bytes.Buffer
	for _, l := range m.Layers {
		for _, ts := range l.tensorSpecs() {
			_, n, _ := splitName(ts.name)
			h.Tensors = append(h.Tensors, tensorEntry{Name: ts.name, DType: ts.dtype, Dims: ts.dims, Offset: int64(data.Len())})
			if ts.dtype == dtInt8 {
				for _, v := range *l.i8(n) {
					data.WriteByte(byte(v))
				}
				continue
			}
			var b [4]byte
			for _, v := range *l.f32(n) {
				binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
				data.Write(b[:])
			}
		}
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encoding the model header: %w", err)
	}
	return assemble(hj, data.Bytes()), nil
}

// assemble frames a header and tensor data: fixed prefix, header, data, checksum.
func assemble(hj, data []byte) []byte {
	total := fixedLen + len(hj) + len(data) + sumLen
	out := make([]byte, 0, total)
	out = append(out, Magic...)
	out = binary.LittleEndian.AppendUint32(out, Version)
	out = binary.LittleEndian.AppendUint64(out, uint64(total))
	out = binary.LittleEndian.AppendUint32(out, uint32(len(hj)))
	out = append(out, hj...)
	out = append(out, data...)
	sum := sha256.Sum256(out)
	return append(out, sum[:]...)
}

// Save writes m to path atomically (a temporary file renamed into place only when complete).
func (m *Model) Save(path string) error {
	b, err := Encode(m)
	if err != nil {
		return fmt.Errorf("exporting to %s: %w", path, err)
	}
	if err := atomicio.WriteFile(path, b); err != nil {
		return fmt.Errorf("exporting: %w", err)
	}
	return nil
}

// Load reads and verifies an exported model file. A truncated file, a bad magic, another format version, a
// checksum mismatch or parameters inconsistent with the architecture are errors naming the file and the
// problem (wrapping ErrTruncated, ErrBadMagic, ErrVersion, ErrChecksum or ErrInvalid).
func Load(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading exported model: %w", err)
	}
	return Decode(b, path)
}

// Decode parses a model from the bytes of an exported file; name identifies it in errors.
func Decode(b []byte, name string) (*Model, error) {
	fail := func(kind error, format string, args ...any) (*Model, error) {
		return nil, fmt.Errorf("exported model %s: %w: %s", name, kind, fmt.Sprintf(format, args...))
	}
	n := min(len(b), len(Magic))
	if string(b[:n]) != Magic[:n] {
		return fail(ErrBadMagic, "starts with %q, want %q", b[:n], Magic)
	}
	if len(b) < fixedLen+sumLen {
		return fail(ErrTruncated, "%d bytes, shorter than the fixed header and checksum (%d)", len(b), fixedLen+sumLen)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != Version {
		return fail(ErrVersion, "file is version %d, this build reads version %d", v, Version)
	}
	total := binary.LittleEndian.Uint64(b[12:])
	switch {
	case uint64(len(b)) < total:
		return fail(ErrTruncated, "%d bytes, the header declares %d", len(b), total)
	case uint64(len(b)) > total:
		return fail(ErrInvalid, "%d bytes, the header declares %d (trailing data)", len(b), total)
	}
	body := b[:len(b)-sumLen]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], b[len(body):]) {
		return fail(ErrChecksum, "SHA-256 of the content is %x, the file records %x", sum, b[len(body):])
	}
	hl := uint64(binary.LittleEndian.Uint32(b[20:]))
	if hl > maxHeader || fixedLen+hl > uint64(len(body)) {
		return fail(ErrInvalid, "header length %d does not fit in the file", hl)
	}
	var h header
	dec := json.NewDecoder(bytes.NewReader(b[fixedLen : fixedLen+hl]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return fail(ErrInvalid, "header: %v", err)
	}
	m, err := fromHeader(h, body[fixedLen+hl:])
	if err != nil {
		return fail(ErrInvalid, "%v", err)
	}
	return m, nil
}

// fromHeader rebuilds the model from a parsed header and the tensor data, checking every tensor against the
// architecture.
func fromHeader(h header, data []byte) (*Model, error) {
	a, err := archFromJSON(h.Arch)
	if err != nil {
		return nil, fmt.Errorf("architecture: %w", err)
	}
	m := &Model{Arch: a, Method: h.Method, Input: h.Input, Shift: h.Shift, BNEpsilon: h.BNEpsilon}
	entries := map[string]tensorEntry{}
	for _, e := range h.Tensors {
		if _, dup := entries[e.Name]; dup {
			return nil, fmt.Errorf("tensor %s is listed twice", e.Name)
		}
		entries[e.Name] = e
	}
	used := 0
	var end int64
	for _, s := range Specs(a) {
		l := &Layer{LayerSpec: s}
		if s.BN {
			l.BN = &BatchNorm{}
		}
		for _, ts := range s.tensorSpecs() {
			e, ok := entries[ts.name]
			if !ok {
				return nil, fmt.Errorf("tensor %s (%s %v) is missing", ts.name, ts.dtype, ts.dims)
			}
			used++
			if e.DType != ts.dtype || !dimsEqual(e.Dims, ts.dims) {
				return nil, fmt.Errorf("tensor %s is %s %v, the architecture needs %s %v", ts.name, e.DType, e.Dims, ts.dtype, ts.dims)
			}
			size := int64(numel(ts.dims))
			if ts.dtype == dtFloat32 {
				size *= 4
			}
			if e.Offset != end {
				return nil, fmt.Errorf("tensor %s is at offset %d, want %d (tensors are contiguous, in header order)", ts.name, e.Offset, end)
			}
			if e.Offset+size > int64(len(data)) {
				return nil, fmt.Errorf("tensor %s (%d bytes at offset %d) runs past the end of the %d bytes of tensor data",
					ts.name, size, e.Offset, len(data))
			}
			raw := data[e.Offset : e.Offset+size]
			end += size
			_, n, _ := splitName(ts.name)
			if ts.dtype == dtInt8 {
				v := make([]int8, len(raw))
				for i, c := range raw {
					v[i] = int8(c)
				}
				*l.i8(n) = v
				continue
			}
			v := make([]float32, len(raw)/4)
			for i := range v {
				v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
			*l.f32(n) = v
		}
		m.Layers = append(m.Layers, l)
	}
	if used != len(h.Tensors) {
		want := map[string]bool{}
		for _, s := range Specs(a) {
			for _, ts := range s.tensorSpecs() {
				want[ts.name] = true
			}
		}
		for _, e := range h.Tensors {
			if !want[e.Name] {
				return nil, fmt.Errorf("tensor %s is not a parameter of the architecture", e.Name)
			}
		}
	}
	if end != int64(len(data)) {
		return nil, fmt.Errorf("%d bytes of tensor data, the tensors take %d", len(data), end)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}
