package train

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/checkpoints"

	"github.com/shiftaddaug/shiftaddaug/datasets"
	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/kernels/norm"
)

// resumeConfig is the smallest run that crosses everything a resume must restore: warm-up into the cosine
// schedule, the channel reorder at the start of each width-augmented epoch, the per-step sampler, the switch to
// expand-only augmentation in the last epoch, and batch-norm recalibration before every evaluation. Two steps an
// epoch (32 images, batch 16) keep both resume tests near two minutes on two cores.
func resumeConfig(method string) Config {
	cfg := DefaultConfig("mbv2-w0.35", method)
	cfg.Res, cfg.Batch, cfg.Epochs, cfg.StopWidthAugEpochs = 32, 16, 3, 1
	cfg.TrainLimit, cfg.TestLimit, cfg.BNCalib = 32, 32, 32
	if method == "augshift" || method == "augadd" {
		cfg.Sharing = "hws"
	}
	return cfg
}

// skipWithoutData skips when Fashion-MNIST is not installed (scripts/setup installs it).
func skipWithoutData(t *testing.T) {
	t.Helper()
	if _, err := datasets.Open("fashion-mnist", datasets.Options{}); err != nil {
		t.Skipf("%v (run scripts/setup)", err)
	}
}

// resumeRef is an uninterrupted run, shared by the tests that compare an interrupted one with it.
type resumeRef struct {
	res     *Result
	history []EpochRecord // metrics.jsonl
	live    map[string]*tensors.Tensor
	saved   map[string]*tensors.Tensor // the last checkpoint
	// epoch2 holds the files of the checkpoint written after the second epoch, by name.
	epoch2 map[string][]byte
}

var (
	refsMu sync.Mutex
	refs   = map[string]*resumeRef{}
)

// reference runs cfg(method) without interruption once per test binary.
func reference(t *testing.T, method string) *resumeRef {
	t.Helper()
	refsMu.Lock()
	defer refsMu.Unlock()
	if r := refs[method]; r != nil {
		return r
	}
	cfg := resumeConfig(method)
	dir := t.TempDir()
	r := &resumeRef{epoch2: map[string][]byte{}}
	var last *Session
	var err error
	r.res, err = Run(engine.MustNew(), cfg, RunOptions{Dir: dir, OnEpoch: func(s *Session, _ EpochRecord) { last = s }})
	if err != nil {
		t.Fatal(err)
	}
	r.history = readHistory(t, dir)
	r.live = contextVars(last.Ctx)
	r.saved = checkpointVars(t, dir)
	steps := fmt.Sprintf("-step-%08d.", 2*r.res.Config.StepsPerEpoch)
	files, _ := filepath.Glob(filepath.Join(dir, "checkpoint", "checkpoint-*"))
	for _, f := range files {
		if strings.Contains(filepath.Base(f), steps) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r.epoch2[filepath.Base(f)] = data
		}
	}
	if len(r.epoch2) != 2 {
		t.Fatalf("the uninterrupted run kept %v, no checkpoint of step %s", files, steps)
	}
	refs[method] = r
	return r
}

// TestResumeEqualsUninterrupted: a run stopped after its first epoch's checkpoint and resumed ends exactly where
// the same run without the interruption ends: every variable (weights, momentum buffers, both sets of batch-norm
// running statistics, global step), the final accuracy and the metrics log. Before resuming, the debris of a kill
// during the second epoch's save is planted in the run directory: temporary state files, that epoch's complete
// checkpoint (killed before state.json recorded the epoch) and a newer half-written one. Resuming must discard
// them and redo the epoch.
func TestResumeEqualsUninterrupted(t *testing.T) {
	skipWithoutData(t)
	backend := engine.MustNew()
	for _, method := range []string{"augshift", "netaug"} {
		t.Run(method, func(t *testing.T) {
			t0 := time.Now()
			cfg := resumeConfig(method)
			ref := reference(t, method)
			tRef := time.Since(t0)
			dir := t.TempDir()
			part, err := Run(backend, cfg, RunOptions{Dir: dir, StopAfterEpochs: 1})
			if !errors.Is(err, ErrStopped) {
				t.Fatalf("first part of the interrupted run: want ErrStopped, got %v", err)
			}
			if len(part.History) != 1 {
				t.Fatalf("interrupted run kept %d epochs, want 1", len(part.History))
			}
			if got := readHistory(t, dir); len(got) != 1 {
				t.Fatalf("after the interruption metrics.jsonl has %d records, want 1", len(got))
			}
			plantSaveDebris(t, dir, ref)
			var final *Session
			epochs := 0
			res, err := Run(backend, cfg, RunOptions{Dir: dir, Resume: true, OnEpoch: func(s *Session, _ EpochRecord) {
				final = s
				epochs++
			}})
			if err != nil {
				t.Fatal(err)
			}
			if epochs != cfg.Epochs-1 {
				t.Errorf("the resumed run trained %d epochs, want %d", epochs, cfg.Epochs-1)
			}
			assertNoTempFiles(t, dir)
			live := compareVars(t, "final context", ref.live, contextVars(final.Ctx))
			saved := compareVars(t, "last checkpoint", ref.saved, checkpointVars(t, dir))
			compareResults(t, ref.res, res)
			compareHistories(t, ref.history, readHistory(t, dir))
			t.Logf("%s: final acc %.4f (both); live %s; checkpoint %s; uninterrupted run %.1fs, interrupted and resumed %.1fs",
				method, res.FinalAcc, live, saved, tRef.Seconds(), (time.Since(t0) - tRef).Seconds())
		})
	}
}

// plantSaveDebris leaves in dir what a kill during the second epoch's save would: the temporary files of
// state.json and metrics.jsonl, the second epoch's checkpoint (complete, but not in state.json) and a third one
// cut short (GoMLX creates the .json empty first and writes the .bin into place).
func plantSaveDebris(t *testing.T, dir string, ref *resumeRef) {
	t.Helper()
	ck := filepath.Join(dir, "checkpoint")
	for name, data := range ref.epoch2 {
		name = "checkpoint-n0000005-" + strings.SplitN(name, "-", 3)[2]
		if err := os.WriteFile(filepath.Join(ck, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	half := fmt.Sprintf("checkpoint-n0000006-20260101-000000-step-%08d", 3*ref.res.Config.StepsPerEpoch)
	for name, data := range map[string][]byte{
		filepath.Join(ck, half+".json"): nil, filepath.Join(ck, half+".bin"): []byte("gomlx_00"),
		filepath.Join(dir, ".state.json.tmp-123"): []byte("{"), filepath.Join(dir, ".metrics.jsonl.tmp-456"): nil,
	} {
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// killChildEnv names the run directory for the child process of TestResumeAfterKill.
const killChildEnv = "SHIFTADDAUG_RESUME_KILL_CHILD"

// TestResumeKillChild is the training process TestResumeAfterKill kills; it does nothing on its own.
func TestResumeKillChild(t *testing.T) {
	dir := os.Getenv(killChildEnv)
	if dir == "" {
		t.Skip("child process of TestResumeAfterKill")
	}
	_, err := Run(engine.MustNew(), resumeConfig("augshift"), RunOptions{Dir: dir, Progress: os.Stdout})
	if err != nil {
		t.Fatal(err)
	}
}

// TestResumeAfterKill runs training in a child process (this test binary again), kills it with SIGKILL in the
// middle of its second epoch (after the first epoch's checkpoint and state.json were written), resumes the run in
// its directory, and requires the result of an uninterrupted run, with no half-written file left behind.
func TestResumeAfterKill(t *testing.T) {
	if os.Getenv(killChildEnv) != "" {
		t.Skip("in the child")
	}
	skipWithoutData(t)
	t0 := time.Now()
	cfg := resumeConfig("augshift")
	dir := t.TempDir()

	cmd := exec.Command(os.Args[0], "-test.run=^TestResumeKillChild$", "-test.v")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dir)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// The second epoch starts as soon as state.json records the first (channel reorder, then the steps); the kill
	// comes a tenth of a second later, before the epoch's end: its two steps took 0.3 s in all on 2026-12-07's
	// engine (a second or more each when this test was written, when the kill came half a second later).
	deadline := time.Now().Add(2 * time.Minute)
	var epoch1At time.Time
	for epoch1At.IsZero() || time.Since(epoch1At) < 100*time.Millisecond {
		select {
		case err := <-exited:
			t.Fatalf("the child ended before it was killed (%v):\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if epoch1At.IsZero() && len(readState(dir)) >= 1 {
			epoch1At = time.Now()
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			t.Fatalf("the child did not finish its first epoch in time:\n%s", out.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-exited
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the child was not killed by SIGKILL: %v\n%s", err, out.String())
	}
	killedAt := time.Since(t0)
	if n := len(readState(dir)); n != 1 || strings.Contains(out.String(), "epoch 2/3") {
		t.Fatalf("the kill came after the second epoch ended (state.json holds %d epochs):\n%s", n, out.String())
	}
	assertNoTempFiles(t, dir)

	var final *Session
	epochs := 0
	res, err := Run(engine.MustNew(), cfg, RunOptions{Dir: dir, Resume: true, OnEpoch: func(s *Session, _ EpochRecord) {
		final = s
		epochs++
	}})
	if err != nil {
		t.Fatal(err)
	}
	tResume := time.Since(t0) - killedAt
	if epochs != cfg.Epochs-1 {
		t.Errorf("the resumed run trained %d epochs, want %d", epochs, cfg.Epochs-1)
	}
	assertNoTempFiles(t, dir)
	ref := reference(t, "augshift")
	live := compareVars(t, "final context", ref.live, contextVars(final.Ctx))
	saved := compareVars(t, "last checkpoint", ref.saved, checkpointVars(t, dir))
	compareResults(t, ref.res, res)
	compareHistories(t, ref.history, readHistory(t, dir))
	t.Logf("killed %.1fs after start; resumed run %.1fs; final acc %.4f (both); live %s; checkpoint %s; %.1fs in all",
		killedAt.Seconds(), tResume.Seconds(), res.FinalAcc, live, saved, time.Since(t0).Seconds())
}

// lockedBuffer collects a child's output from its copying goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// assertNoTempFiles fails on any temporary or half-written file in a run directory: atomicio's ".NAME.tmp-*"
// files, and checkpoints missing their .json or .bin half.
func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	halves := map[string]int{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			return nil
		}
		if strings.HasPrefix(name, ".") || strings.Contains(name, ".tmp") {
			t.Errorf("temporary file left in the run directory: %s", path)
		}
		if strings.HasPrefix(name, "checkpoint-") {
			halves[strings.TrimSuffix(strings.TrimSuffix(path, ".json"), ".bin")]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for base, n := range halves {
		if n != 2 {
			t.Errorf("checkpoint %s is missing its .json or .bin", base)
		}
	}
	// A checkpoint's .json is written last: it must be complete.
	for base := range halves {
		data, err := os.ReadFile(base + ".json")
		if err == nil && !json.Valid(data) {
			t.Errorf("checkpoint %s.json is not valid JSON (half-written)", base)
		}
	}
}

func readState(dir string) []EpochRecord {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil
	}
	var r Result
	if json.Unmarshal(data, &r) != nil {
		return nil
	}
	return r.History
}

// readHistory reads metrics.jsonl.
func readHistory(t *testing.T, dir string) []EpochRecord {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []EpochRecord
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var r EpochRecord
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("metrics.jsonl: %v in %q", err, line)
		}
		out = append(out, r)
	}
	return out
}

// compareHistories requires equal per-epoch records, timing aside.
func compareHistories(t *testing.T, a, b []EpochRecord) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("metrics: %d records uninterrupted, %d resumed", len(a), len(b))
	}
	for i := range a {
		ra, rb := a[i], b[i]
		ra.Seconds, rb.Seconds, ra.EvalSeconds, rb.EvalSeconds = 0, 0, 0, 0
		if ra != rb {
			t.Errorf("metrics record %d differs:\n uninterrupted %+v\n resumed       %+v", i, ra, rb)
		}
	}
}

func compareResults(t *testing.T, a, b *Result) {
	t.Helper()
	if a.FinalAcc != b.FinalAcc || a.BestAcc != b.BestAcc {
		t.Errorf("accuracy: uninterrupted final %.6f best %.6f, resumed final %.6f best %.6f",
			a.FinalAcc, a.BestAcc, b.FinalAcc, b.BestAcc)
	}
	compareHistories(t, a.History, b.History)
}

func contextVars(ctx *context.Context) map[string]*tensors.Tensor {
	out := map[string]*tensors.Tensor{}
	for v := range ctx.IterVariables() {
		out[v.ScopeAndName()] = v.MustValue()
	}
	return out
}

// checkpointVars loads every variable of the latest checkpoint in a run directory.
func checkpointVars(t *testing.T, dir string) map[string]*tensors.Tensor {
	t.Helper()
	ctx := context.New()
	if _, err := checkpoints.Build(ctx).Dir(filepath.Join(dir, "checkpoint")).Immediate().Done(); err != nil {
		t.Fatal(err)
	}
	return contextVars(ctx)
}

// compareVars requires b to hold exactly a's variables with bit-identical values, among them trainable weights,
// momentum buffers and running statistics. It returns a summary.
func compareVars(t *testing.T, what string, a, b map[string]*tensors.Tensor) string {
	t.Helper()
	names := make([]string, 0, len(a))
	for n := range a {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(a) != len(b) {
		t.Errorf("%s: %d variables uninterrupted, %d resumed", what, len(a), len(b))
	}
	var momentum, stats, weights, differ int
	for _, n := range names {
		ta, tb := a[n], b[n]
		if tb == nil {
			t.Errorf("%s: %s missing after resume", what, n)
			continue
		}
		switch {
		case strings.HasPrefix(n, "/optimizer/"):
			momentum++
		case strings.Contains(n, norm.RunningMeanName) || strings.Contains(n, norm.RunningVarName):
			stats++
		case strings.HasSuffix(n, "/weights") || strings.HasSuffix(n, "/"+norm.GammaName) ||
			strings.HasSuffix(n, "/"+norm.BetaName) || strings.HasSuffix(n, "/bias"):
			weights++
		}
		if !ta.Shape().Equal(tb.Shape()) {
			t.Errorf("%s: %s has shape %s uninterrupted, %s resumed", what, n, ta.Shape(), tb.Shape())
			continue
		}
		if !bytes.Equal(rawBytes(ta), rawBytes(tb)) {
			differ++
			if differ <= 10 {
				t.Errorf("%s: %s differs (max relative difference %.3g)", what, n, maxRelDiff(ta, tb))
			}
		}
	}
	if momentum == 0 || stats == 0 || weights == 0 {
		t.Errorf("%s: compared %d weights, %d momentum buffers, %d running statistics: some kind is missing",
			what, weights, momentum, stats)
	}
	if differ > 0 {
		t.Errorf("%s: %d of %d variables differ", what, differ, len(names))
	}
	return fmt.Sprintf("%d variables bit-identical (%d weights, %d momentum buffers, %d running statistics)",
		len(names)-differ, weights, momentum, stats)
}

func rawBytes(t *tensors.Tensor) []byte {
	var out []byte
	if err := t.ConstBytes(func(b []byte) { out = append([]byte(nil), b...) }); err != nil {
		panic(err)
	}
	return out
}

func maxRelDiff(a, b *tensors.Tensor) float64 {
	if a.DType() != dtypes.Float32 {
		return math.NaN()
	}
	fa, fb := tensors.MustCopyFlatData[float32](a), tensors.MustCopyFlatData[float32](b)
	var worst float64
	for i := range fa {
		d := math.Abs(float64(fa[i] - fb[i]))
		if s := math.Max(math.Abs(float64(fa[i])), math.Abs(float64(fb[i]))); s > 0 {
			d /= s
		}
		worst = math.Max(worst, d)
	}
	return worst
}
