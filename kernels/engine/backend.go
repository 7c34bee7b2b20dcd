package engine

import (
	"fmt"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/notimplemented"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/pkg/errors"
)

// Name is the name under which the project's pure-Go engine is registered with GoMLX
// (backends.Register), usable in GOMLX_BACKEND as "shiftaddaug" or "shiftaddaug:<simplego options>".
const Name = "shiftaddaug"

// Alias is a short alias of Name, also registered: GOMLX_BACKEND=saa.
const Alias = "saa"

func init() {
	backends.Register(Name, func(config string) (backends.Backend, error) { return NewEngine(config) })
	backends.Register(Alias, func(config string) (backends.Backend, error) { return NewEngine(config) })
}

// Backend is the project's pure-Go engine: GoMLX's SimpleGo backend with the fixes that let it train CNNs
// (Pad, Reverse, Clamp, nil conv strides/dilations filled in, unsupported ops reported by name).
//
// It embeds the SimpleGo backend: data transfer, compilation and execution are SimpleGo's own.
type Backend struct {
	backends.Backend // the wrapped *simplego.Backend
	config           string
	fastOps          bool // use the reformulated ops of fastops.go
	fastExec         bool // the executors of executors.go run this backend's ops
	directDW         bool // ConvGeneral runs depthwise convolutions directly (convexec.go)
	fusedBN          bool // the builder has BatchNormForTraining and BatchNormGradient (bnexec.go)
	fusedAct         bool // the builder fuses clipping activations and their gradient masks (fusedact.go)
	fusedAdder       bool // the builder fuses adder products (adderexec.go)
	fusedGather      bool // the builder fuses tap gathers, im2col (gatherexec.go)
	// arena serves SimpleGo's pools of large float32 buffers (arena.go); nil with "noarena" or without a reservation.
	arena *bufferArena
	// arenaPools holds the buffer lengths whose pools use the arena (int -> true).
	arenaPools sync.Map
}

var _ backends.Backend = (*Backend)(nil)

// NewEngine creates the project's pure-Go engine directly (no selection, no logging).
//
// config is passed to SimpleGo unchanged; its options are a comma-separated list of
// "parallelism=N", "dotgeneral_small", "dotgeneral_large", "ops_sequential", "ops_parallel".
//
// Unless config names an ops_* option, ops_parallel is added: independent ops (the target and augmented passes'
// branches, a layer's weight map beside its input's batch norm) run at once, which fills the two cores that a
// small op alone leaves half idle (1.1-1.4x faster augmented steps, bit-identical results). With ops_parallel,
// unless config sets a parallelism, parallelism=-1 is added too: SimpleGo v0.26.0 runs each ready op as a task
// of a bounded worker pool, and an op whose executor splits its own work over that pool (its DotGeneral, Erf)
// waits for workers while holding one, so with a bound two such ops can each wait forever for the workers the
// other holds (seen as a hang of the augmented training step, every goroutine in workersPool.WaitToStart). An
// unbounded pool starts every task at once and never waits; the Go scheduler still runs them on GOMAXPROCS
// threads. ops_sequential keeps the parallelism inside each op only.
//
// "dotgeneral_small" and "dotgeneral_large" only matter for the DotGenerals that SimpleGo still runs (float64, batch
// axes, or with "nogemm"): float32 matrix products go to the GEMM executor (dotexec.go).
//
// The engine's own options are removed before the rest goes to SimpleGo: "nofastops" switches off the reformulated
// ops of fastops.go (broadcasting binary ops, Identity elision) and the fast executors of executors.go;
// "nofastexec" switches off only the executors; "nogemm" only the DotGeneral executor (dotexec.go) and
// "nodirectdw" only the direct depthwise convolutions (convexec.go; kernels.Depthwise then builds tap windows),
// "nofusedbn" only the fused batch norm (bnexec.go; kernels/norm then composes it from elementwise ops),
// "nofusedact" only the fused clipping activations (fusedact.go), "nofusedadder" only the fused adder products
// (adderexec.go; kernels.AddMatMul then builds chunked elementwise ops), "nofusedgather" only the fused tap gathers
// (gatherexec.go; an im2col then runs as pads, slices and a concatenation), "noarena" serves no graph's buffers from the
// buffer arena (arena.go; graphs marked with UseArena then use SimpleGo's pools).
func NewEngine(config string) (*Backend, error) {
	fast, fastExec, noArena := true, true, false
	var flags fastFlags
	var kept []string
	for _, opt := range strings.Split(config, ",") {
		switch strings.TrimSpace(opt) {
		case optNoFastOps:
			fast, fastExec = false, false
			continue
		case optNoFastExec:
			fastExec = false
			continue
		case optNoGemm:
			flags.noGemm = true
			continue
		case optNoDirectDW:
			flags.noDirectDW = true
			continue
		case optNoFusedBN:
			flags.noFusedBN = true
			continue
		case optNoFusedAct:
			flags.noFusedAct = true
			continue
		case optNoFusedAdder:
			flags.noFusedAdder = true
			continue
		case optNoFusedGather:
			flags.noFusedGather = true
			continue
		case optNoArena:
			noArena = true
			continue
		}
		kept = append(kept, opt)
	}
	config = strings.Join(kept, ",")
	if !strings.Contains(config, "ops_") {
		kept = append(kept, "ops_parallel")
	}
	unbounded := slices.Contains(kept, "ops_parallel") && !strings.Contains(config, "parallelism=")
	config = strings.Join(slices.DeleteFunc(kept, func(o string) bool { return strings.TrimSpace(o) == "" }), ",")
	sg, err := simplego.New(config)
	if err != nil {
		return nil, errors.WithMessagef(err, "creating the %s engine", Name)
	}
	if unbounded {
		// Set directly: SimpleGo's "parallelism=-1" option prints a line on stdout, where the CLI writes JSON.
		if err := setUnboundedWorkers(sg); err != nil {
			sg.Finalize()
			return nil, errors.WithMessagef(err, "creating the %s engine", Name)
		}
		config += ",parallelism=-1"
	}
	label := config
	if !fast {
		label += "," + optNoFastOps
	} else if !fastExec {
		label += "," + optNoFastExec
	} else {
		if flags.noGemm {
			label += "," + optNoGemm
		}
		if flags.noDirectDW {
			label += "," + optNoDirectDW
		}
		if flags.noFusedBN {
			label += "," + optNoFusedBN
		}
		if flags.noFusedAct {
			label += "," + optNoFusedAct
		}
		if flags.noFusedAdder {
			label += "," + optNoFusedAdder
		}
		if flags.noFusedGather {
			label += "," + optNoFusedGather
		}
	}
	if fastExec {
		if err := registerFast(sg, flags); err != nil {
			// Only a different GoMLX version gets here; the engine still works, at stock SimpleGo speed.
			label += ",nofastexec(" + err.Error() + ")"
			fastExec = false
		}
	}
	var arena *bufferArena
	if noArena {
		label += "," + optNoArena
	} else if arena, err = sharedArena(); err != nil {
		label += ",noarena(" + err.Error() + ")"
	}
	return &Backend{Backend: sg, config: label, fastOps: fast, fastExec: fastExec, arena: arena,
		directDW: fastExec && !flags.noDirectDW, fusedBN: fastExec && !flags.noFusedBN,
		fusedAct: fastExec && !flags.noFusedAct, fusedAdder: fastExec && !flags.noFusedAdder,
		fusedGather: fastExec && !flags.noFusedGather}, nil
}

// Engine options: optNoFastOps switches fastops.go and executors.go off, optNoFastExec only executors.go.
const (
	optNoFastOps     = "nofastops"
	optNoFastExec    = "nofastexec"
	optNoGemm        = "nogemm"
	optNoDirectDW    = "nodirectdw"
	optNoFusedBN     = "nofusedbn"
	optNoFusedAct    = "nofusedact"
	optNoFusedAdder  = "nofusedadder"
	optNoFusedGather = "nofusedgather"
	optNoArena       = "noarena"
)

// Finalize implements backends.Backend: SimpleGo's, after taking the backend off the fast executors' list.
func (b *Backend) Finalize() {
	unregisterFast(b.Backend)
	b.Backend.Finalize()
}

// DirectDepthwise implements kernels.DirectDepthwiser: with the fast executors on, ConvGeneral runs depthwise
// convolutions and their filter gradient directly (convexec.go).
func (b *Backend) DirectDepthwise() bool { return b.directDW }

// FusedBatchNorm implements norm.FusedBatchNormer: with the fast executors on, the builder has the fused
// BatchNormForTraining and BatchNormGradient ops (bnexec.go), for float32 and float64 with the channels last.
func (b *Backend) FusedBatchNorm() bool { return b.fusedBN }

// FusedActivations implements kernels.FusedActivationer: the builder fuses float32 clips (Min(Max(x, lo), hi)) and
// masked gradients (v·Where(lo ≤ x < hi, 1, 0)) into one pass each (fusedact.go).
func (b *Backend) FusedActivations() bool { return b.fusedAct }

// FusedAdder implements kernels.FusedAdderer: the builder turns kernels.AddMatMul's canonical formulation into
// direct adder kernels (adderexec.go).
func (b *Backend) FusedAdder() bool { return b.fusedAdder }

// Name implements backends.Backend.
func (b *Backend) Name() string { return Name + " (SimpleGo + fixes)" }

// String implements backends.Backend: the registered name.
func (b *Backend) String() string { return Name }

// Description implements backends.Backend.
func (b *Backend) Description() string {
	d := "ShiftAddAug pure-Go engine: GoMLX SimpleGo with Pad, Reverse, Clamp and conv fixes"
	if b.config != "" {
		d += " [" + b.config + "]"
	}
	return d
}

// extraOps are the ops this engine adds on top of SimpleGo.
var extraOps = []backends.OpType{backends.OpTypePad, backends.OpTypeReverse, backends.OpTypeClamp}

// Capabilities implements backends.Backend: SimpleGo's plus the ops added here.
func (b *Backend) Capabilities() backends.Capabilities {
	c := b.Backend.Capabilities().Clone()
	for _, op := range extraOps {
		c.Operations[op] = true
	}
	return c
}

// Builder implements backends.Backend.
func (b *Backend) Builder(name string) backends.Builder {
	sb := b.Backend.Builder(name)
	if s, ok := sb.(*simplego.Builder); ok {
		// SimpleGo's message asks users to file an issue upstream; say what to do in this project instead.
		s.Builder.ErrFn = unsupportedOpError
	}
	bl := &Builder{Builder: sb, owner: b, fastOps: b.fastOps, fusedBN: b.fusedBN, fuseActs: b.fusedAct,
		fuseGather: b.fusedGather}
	bl.useArena = strings.Contains(name, arenaMark)
	if b.fusedAct || b.fusedAdder || b.fusedGather {
		bl.acts = newActTracker()
	}
	return bl
}

// UnsupportedOpError is the error for an op that neither SimpleGo nor this engine implements.
// It unwraps to notimplemented.NotImplementedError.
type UnsupportedOpError struct {
	Op backends.OpType
}

// Error implements error; the message names the op.
func (e *UnsupportedOpError) Error() string {
	return fmt.Sprintf("op %s is not supported by the pure-Go engine %q (GoMLX SimpleGo lacks it too): "+
		"use XLA (GOMLX_BACKEND=xla:<plugin>) or express it with other ops", e.Op, Name)
}

// Unwrap returns notimplemented.NotImplementedError, so errors.Is works as for any GoMLX backend.
func (e *UnsupportedOpError) Unwrap() error { return notimplemented.NotImplementedError }

func unsupportedOpError(op backends.OpType) error { return &UnsupportedOpError{Op: op} }

// Builder wraps SimpleGo's builder and overrides the ops it lacks or mishandles.
// All other methods are SimpleGo's.
type Builder struct {
	backends.Builder // the wrapped *simplego.Builder
	owner            *Backend
	fastOps          bool
	fusedBN          bool
	fuseActs         bool        // fuse clipping activations (fusedact.go)
	fuseGather       bool        // fuse tap gathers (gatherexec.go)
	acts             *actTracker // remembered for fusedact.go, adderexec.go, gatherexec.go; nil if none is on
	useArena         bool        // the graph is marked with UseArena
}

var _ backends.Builder = (*Builder)(nil)

// Compile implements backends.Builder; the executable turns panics raised while executing
// on the calling goroutine into errors.
func (b *Builder) Compile(outputs []backends.Op, shardings []*backends.ShardingSpec) (backends.Executable, error) {
	if b.fastOps {
		var err error
		if outputs, err = b.distinctOutputs(outputs); err != nil {
			return nil, err
		}
	}
	exe, err := b.Builder.Compile(outputs, shardings)
	if err != nil {
		return nil, err
	}
	if o := b.owner; b.useArena && o.arena != nil {
		if sg, ok := o.Backend.(*simplego.Backend); ok {
			if err := useArena(sg, b.Builder, o.arena, &o.arenaPools); err != nil {
				return nil, errors.WithMessagef(err, "%s engine: the buffer arena", Name)
			}
		}
	}
	return &executable{Executable: exe}, nil
}

type executable struct {
	backends.Executable
}

// Execute implements backends.Executable. A panic in SimpleGo's executor on this goroutine becomes an error;
// panics inside SimpleGo's worker goroutines cannot be caught, which is why the builder validates parameters
// (e.g. conv dilations) before they reach the executor.
func (e *executable) Execute(inputs []backends.Buffer, donate []bool, dev backends.DeviceNum) (
	outs []backends.Buffer, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.Errorf("%s engine: execution panicked: %v\n%s", Name, r, debug.Stack())
		}
	}()
	return e.Executable.Execute(inputs, donate, dev)
}

// arenaMark is what UseArena adds to a graph's name.
const arenaMark = "[shiftaddaug:arena]"

// UseArena returns name marked so that this engine serves the large float32 buffers of a graph of that name from its
// buffer arena (arena.go), which reuses memory across sizes where SimpleGo's pools reuse it only within one size.
// It is for graphs whose tensors are large (the augmented training step at large batches, pkg/train): there it
// cuts the peak memory by a third at no cost in speed. Other backends ignore the mark (it is only part of the name).
// Use it as the name of a graph or a (context.)Exec: exec.WithName(engine.UseArena(exec.Name())).
func UseArena(name string) string { return name + arenaMark }

// Label is a short label of the engine with its options, e.g. "shiftaddaug:dotgeneral_small" (benchmarks record it).
func (b *Backend) Label() string {
	if b.config == "" {
		return Name
	}
	return Name + ":" + b.config
}

// setUnboundedWorkers makes SimpleGo's worker pool unbounded (its maxParallelism −1, what "parallelism=-1" sets),
// reaching the unexported field by reflection; the field's name and type are checked, so another GoMLX version
// gives an error instead of a write to the wrong place.
func setUnboundedWorkers(sg backends.Backend) error {
	b, ok := sg.(*simplego.Backend)
	if !ok {
		return errors.Errorf("SimpleGo returned a %T, not its *Backend", sg)
	}
	w := reflect.ValueOf(b).Elem().FieldByName("workers")
	if !w.IsValid() || w.Kind() != reflect.Struct {
		return errors.New("SimpleGo's Backend has no workers pool where this engine expects it")
	}
	f := w.FieldByName("maxParallelism")
	if !f.IsValid() || f.Kind() != reflect.Int {
		return errors.New("SimpleGo's workers pool has no int maxParallelism")
	}
	*(*int)(unsafe.Pointer(f.UnsafeAddr())) = -1
	return nil
}
