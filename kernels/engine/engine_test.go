package engine

import (
	"bytes"
	"log"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// captureLog routes the package logger to a buffer for the test.
func captureLog(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	SetLogger(log.New(&buf, "", 0))
	t.Cleanup(func() { SetLogger(defaultLogger()) })
	logMu.Lock()
	clear(logged)
	logMu.Unlock()
	return &buf
}

func TestNewAutoFallsBackToEngine(t *testing.T) {
	buf := captureLog(t)
	t.Setenv(EnvVar, "")
	t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", t.TempDir()) // an empty plugin directory
	if plugins := xlaPlugins(); len(plugins) > 0 {
		t.Skipf("this machine has PJRT plugins %v: auto choice is XLA", plugins)
	}
	b, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer b.Finalize()
	if _, ok := b.(*Backend); !ok || b.String() != Name {
		t.Fatalf("New chose %q (%T), want the %s engine", b.String(), b, Name)
	}
	if Chosen() != Name {
		t.Errorf("Chosen() = %q, want %q", Chosen(), Name)
	}
	// Logged once, with a reason, however many times New is called.
	b2 := MustNew()
	b2.Finalize()
	out := buf.String()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, Name) || !(strings.Contains(out, "no XLA PJRT plugin") || !xlaCompiled && strings.Contains(out, "not compiled in")) {
		t.Errorf("log = %q, want one line naming %q and the reason", out, Name)
	}
	if strings.Contains(strings.ToLower(out), "download") {
		t.Errorf("log mentions a download: %q", out)
	}
}

func TestNewWithEnv(t *testing.T) {
	captureLog(t)
	t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", t.TempDir())
	for _, c := range []struct{ env, want string }{
		{"shiftaddaug", Name},
		{"saa:dotgeneral_small", Name},
		{"go", simplego.BackendName},
		{"go:ops_sequential", simplego.BackendName},
	} {
		t.Setenv(EnvVar, c.env)
		b, err := New()
		if err != nil {
			t.Errorf("%s=%q: %v", EnvVar, c.env, err)
			continue
		}
		if b.String() != c.want {
			t.Errorf("%s=%q chose %q, want %q", EnvVar, c.env, b.String(), c.want)
		}
		b.Finalize()
	}
}

func TestNewErrors(t *testing.T) {
	captureLog(t)
	t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", t.TempDir())
	for _, c := range []struct{ env, mention string }{
		{"xla:/nonexistent/dir/pjrt_c_api_cpu_plugin.so", "/nonexistent/dir"},
		{"xla", "xla"},
		{"xla:cuda", "xla"},
		{"stablehlo:cpu", "XLA"},
		{"nosuchbackend", "nosuchbackend"},
		{"saa:bogus_option", "bogus_option"},
	} {
		if !xlaCompiled && strings.Contains(c.env, "xla") {
			continue
		}
		t.Setenv(EnvVar, c.env)
		b, err := New()
		if err == nil {
			b.Finalize()
			t.Errorf("%s=%q: want an error, got backend %q", EnvVar, c.env, b.String())
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || !strings.Contains(msg, c.mention) {
			t.Errorf("%s=%q: error should be one line mentioning %q, got %q", EnvVar, c.env, c.mention, msg)
		}
		if strings.Contains(strings.ToLower(msg), "download") || strings.Contains(msg, "auto-install") {
			t.Errorf("%s=%q: error mentions a download: %q", EnvVar, c.env, msg)
		}
	}
}

func TestRegistered(t *testing.T) {
	names := backends.List()
	for _, want := range []string{Name, Alias, simplego.BackendName} {
		if !slices.Contains(names, want) {
			t.Errorf("backend %q not registered (have %v)", want, names)
		}
	}
	// With cgo on linux/amd64 (this project's machines) XLA is compiled in and registered.
	if xlaCompiled != slices.Contains(names, "xla") {
		t.Errorf("xlaCompiled=%v but registered backends are %v", xlaCompiled, names)
	}
}

// TestParallelOpsDoNotDeadlock: the default engine schedules independent ops at once (ops_parallel); ops whose
// SimpleGo executors split their work over SimpleGo's worker pool (Erf over more than 4,096 values, batched
// DotGenerals) must not wait forever for each other's workers, as they do with a bounded pool
// ("ops_parallel,parallelism=2" hangs on this graph).
func TestParallelOpsDoNotDeadlock(t *testing.T) {
	b, err := NewEngine("")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	exec, err := NewExec(b, func(x *Node) *Node {
		var terms []*Node
		for i := range 16 {
			xi := AddScalar(x, float64(i))
			terms = append(terms, ReduceAllSum(Erf(xi)))
			m := Reshape(xi, 8, 100, 125) // a batched product: SimpleGo's own DotGeneral
			terms = append(terms, ReduceAllSum(Einsum("bij,bkj->bik", m, m)))
		}
		return ReduceSum(Stack(terms, 0), 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := exec.Exec(tensors.FromFlatDataAndDimensions(make([]float32, 100_000), 100_000))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the graph did not finish in 60 s: parallel op scheduling deadlocked")
	}
}

// TestUseArena: a graph named with UseArena takes its large buffers from the arena and computes what it computes
// with SimpleGo's pools, to the bit; an unmarked graph of other sizes keeps SimpleGo's pools; "noarena" has no arena.
func TestUseArena(t *testing.T) {
	b, err := NewEngine("")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	if b.arena == nil {
		if _, err := sharedArena(); err != nil {
			t.Skipf("this machine refused the arena's reservation (the engine runs without it): %v", err)
		}
		t.Fatalf("the default engine has no buffer arena: %s", b.Label())
	}
	ref, err := NewEngine("noarena")
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Finalize()
	if ref.arena != nil || !strings.Contains(ref.Label(), "noarena") {
		t.Errorf("noarena: arena %v, label %s", ref.arena, ref.Label())
	}
	fn := func(x *Node) *Node {
		n := x.Shape().Size()
		var terms []*Node
		for i := range 8 {
			m := Reshape(AddScalar(x, float64(i)), n/500, 500)
			terms = append(terms, ReduceAllSum(Tanh(MatMul(m, Transpose(m, 0, 1)))))
		}
		return ReduceSum(Stack(terms, 0), 0)
	}
	run := func(exec *Exec, n int) float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(i%97) / 97
		}
		return tensors.ToScalar[float32](exec.MustExec(tensors.FromFlatDataAndDimensions(x, n))[0])
	}
	made := func() int {
		b.arena.mu.Lock()
		defer b.arena.mu.Unlock()
		return b.arena.total
	}
	before := made()
	got := run(MustNewExec(b, fn).WithName(UseArena("arena")), 200_000)
	afterMarked := made()
	want := run(MustNewExec(ref, fn).WithName(UseArena("arena")), 200_000)
	_ = run(MustNewExec(b, fn), 300_000) // sizes no marked graph has
	if afterMarked == before || made() != afterMarked {
		t.Errorf("arena buffers made: %d by the marked graph (want some), %d by an unmarked one of other sizes "+
			"(want 0)", afterMarked-before, made()-afterMarked)
	}
	if got != want {
		t.Errorf("the marked graph gives %v with the arena, %v without", got, want)
	}
}
