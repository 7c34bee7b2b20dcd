package main

import (
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/datasets"
	"github.com/shiftaddaug/shiftaddaug/pkg/models/deploy"
	"github.com/shiftaddaug/shiftaddaug/pkg/models/export"
	"github.com/shiftaddaug/shiftaddaug/pkg/train"
)

// jsonLine parses a command's one-line JSON output.
func jsonLine(t *testing.T, what, stdout string) map[string]any {
	t.Helper()
	var rec map[string]any
	if strings.Count(strings.TrimSpace(stdout), "\n") != 0 {
		t.Fatalf("%s: want one JSON line, got %q", what, stdout)
	}
	if err := json.Unmarshal([]byte(stdout), &rec); err != nil {
		t.Fatalf("%s: %v in %q", what, err, stdout)
	}
	return rec
}

// wantOneLineError checks that a command line fails with a non-zero exit and a one-line message containing want.
func wantOneLineError(t *testing.T, want string, args ...string) {
	t.Helper()
	code, o, e := run(t, args...)
	if code == 0 || e == "" || strings.Count(strings.TrimSpace(e), "\n") != 0 || !strings.Contains(e, want) || strings.Contains(e, "goroutine") {
		t.Errorf("%v: want a one-line error containing %q and a non-zero exit, got code %d, stdout %q, stderr %q", args, want, code, o, e)
	}
}

// TestTrainExportEval is the user's flow from the command line on real Fashion-MNIST: train a tiny augshift run
// into a directory, export its target, evaluate the export on the integer kernels (and the float reference) and
// the run's checkpoint in GoMLX: on the same test images the accuracies must be equal, and equal to the one the
// run recorded.
func TestTrainExportEval(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	code, o, e := run(t, "train", "--model", "mbv2-w0.35", "--method", "augshift", "--data", "fashion-mnist", "--res", "32",
		"--epochs", "1", "--warmup", "0", "--lr", "0.05", "--batch", "32", "--train-limit", "128", "--test-limit", "96",
		"--bn-calib", "64", "--dir", dir)
	if code != 0 {
		t.Fatalf("train: code %d, stderr %q (run scripts/setup if Fashion-MNIST is missing)", code, e)
	}
	trained := jsonLine(t, "train", o)

	code, o, e = run(t, "export", "--dir", dir)
	if code != 0 {
		t.Fatalf("export: code %d, stderr %q", code, e)
	}
	exp := jsonLine(t, "export", o)
	path := filepath.Join(dir, "target.saaug")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if exp["path"] != path || exp["model"] != "mbv2-w0.35" || exp["method"] != "shift" || exp["train_method"] != "augshift" ||
		exp["bytes"] != float64(fi.Size()) || exp["params"] != trained["params"] {
		t.Errorf("export printed %v (file %d bytes, trained %v)", exp, fi.Size(), trained)
	}
	other := filepath.Join(t.TempDir(), "sub", "t.saaug")
	if code, _, e := run(t, "export", "--dir", dir, "--out", other); code != 0 {
		t.Fatalf("export --out: code %d, stderr %q", code, e)
	}
	a, _ := os.ReadFile(path)
	b, _ := os.ReadFile(other)
	if string(a) != string(b) {
		t.Errorf("two exports of the same checkpoint differ")
	}

	code, o, e = run(t, "eval", "--dir", dir)
	if code != 0 {
		t.Fatalf("eval --dir: code %d, stderr %q", code, e)
	}
	gomlx := jsonLine(t, "eval --dir", o)
	code, o, e = run(t, "eval", "--model", path, "--data", "fashion-mnist", "--test-limit", "96")
	if code != 0 {
		t.Fatalf("eval --model: code %d, stderr %q", code, e)
	}
	integer := jsonLine(t, "eval --model", o)
	code, o, e = run(t, "eval", "--model", path, "--test-limit", "96", "--reference", "--batch", "50")
	if code != 0 {
		t.Fatalf("eval --model --reference: code %d, stderr %q", code, e)
	}
	reference := jsonLine(t, "eval --model --reference", o)
	t.Logf("train %v\nexport %v\ngomlx %v\ninteger %v\nreference %v", trained, exp, gomlx, integer, reference)

	for _, rec := range []map[string]any{gomlx, integer, reference} {
		if rec["n"] != float64(96) || rec["model"] != "mbv2-w0.35" || rec["method"] != "shift" || rec["data"] != "fashion-mnist" ||
			rec["res"] != float64(32) {
			t.Errorf("%v: want 96 fashion-mnist test images through mbv2-w0.35 (shift) at 32x32", rec)
		}
		if e, ok := rec["energy_mj"].(float64); !ok || e <= 0 || rec["latency_ms"].(float64) <= 0 || rec["energy_mj"] != gomlx["energy_mj"] {
			t.Errorf("%v: want the simulator's positive energy and latency, the same for all", rec)
		}
	}
	if gomlx["runner"] != "gomlx" || integer["runner"] != "integer" || reference["runner"] != "reference" {
		t.Errorf("runners: %v, %v, %v", gomlx["runner"], integer["runner"], reference["runner"])
	}
	if gomlx["accuracy"] != trained["final_acc"] {
		t.Errorf("GoMLX accuracy of the restored checkpoint %v differs from the one the run recorded %v", gomlx["accuracy"], trained["final_acc"])
	}
	if integer["accuracy"] != gomlx["accuracy"] {
		t.Errorf("integer-kernel accuracy %v differs from the GoMLX target's %v on the same images", integer["accuracy"], gomlx["accuracy"])
	}
	if reference["accuracy"] != gomlx["accuracy"] {
		t.Errorf("reference-runner accuracy %v differs from the GoMLX target's %v on the same images", reference["accuracy"], gomlx["accuracy"])
	}

	// A target that predicts one class for everything would make the comparison vacuous.
	if seen := predictedClasses(t, path, 96); seen < 3 {
		t.Errorf("the exported target predicts only %d distinct classes on the test images", seen)
	}
	if code, o, e := run(t, "eval", "--dir", dir, "--test-limit", "32", "--batch", "16"); code != 0 || jsonLine(t, "eval --dir --test-limit", o)["n"] != float64(32) {
		t.Errorf("eval --dir --test-limit 32: code %d, stdout %q, stderr %q", code, o, e)
	}

	// Bad input: one line naming the problem, non-zero exit.
	tmp := t.TempDir()
	corrupt := filepath.Join(tmp, "corrupt.saaug")
	a[len(a)/2] ^= 0xff
	if err := os.WriteFile(corrupt, a, 0o644); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(tmp, "truncated.saaug")
	if err := os.WriteFile(truncated, a[:100], 0o644); err != nil {
		t.Fatal(err)
	}
	notModel := filepath.Join(tmp, "notes.txt")
	if err := os.WriteFile(notModel, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	noCkpt := filepath.Join(tmp, "nockpt")
	if err := os.MkdirAll(noCkpt, 0o755); err != nil {
		t.Fatal(err)
	}
	state, _ := os.ReadFile(filepath.Join(dir, "state.json"))
	if err := os.WriteFile(filepath.Join(noCkpt, "state.json"), state, 0o644); err != nil {
		t.Fatal(err)
	}
	badState := filepath.Join(tmp, "badstate")
	if err := os.MkdirAll(filepath.Join(badState, "checkpoint"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(badState, "state.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A run whose checkpoint data is cut short.
	badCkpt := filepath.Join(tmp, "badckpt")
	if err := os.MkdirAll(filepath.Join(badCkpt, "checkpoint"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(badCkpt, "state.json"), state, 0o644); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "checkpoint", "checkpoint-*"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".bin") {
			data = data[:1000]
		}
		if err := os.WriteFile(filepath.Join(badCkpt, "checkpoint", filepath.Base(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	folder := filepath.Join(tmp, "folder")
	for _, class := range []string{"cats", "dogs"} {
		if err := os.MkdirAll(filepath.Join(folder, class), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(folder, class, "a.png"))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	for _, c := range []struct {
		want string
		args []string
	}{
		{"absent.saaug", []string{"eval", "--model", filepath.Join(tmp, "absent.saaug")}},
		{"checksum mismatch", []string{"eval", "--model", corrupt}},
		{"truncated", []string{"eval", "--model", truncated}},
		{"not a ShiftAddAug exported model", []string{"eval", "--model", notModel}},
		{"unknown dataset", []string{"eval", "--model", path, "--data", "fashion"}},
		{"classifies 10 classes", []string{"eval", "--model", path, "--data", "imagefolder:" + folder}},
		{"holds no training run", []string{"eval", "--dir", tmp}},
		{"holds no training run", []string{"export", "--dir", tmp}},
		{"no such file", []string{"export", "--dir", filepath.Join(tmp, "absent")}},
		{"has no checkpoint", []string{"eval", "--dir", noCkpt}},
		{"has no checkpoint", []string{"export", "--dir", noCkpt}},
		{"corrupt state file", []string{"export", "--dir", badState}},
		{"loading the checkpoint", []string{"export", "--dir", badCkpt}},
		{"loading the checkpoint", []string{"eval", "--dir", badCkpt}},
		{"is a directory", []string{"export", "--dir", dir, "--out", tmp}},
		{"not both", []string{"eval", "--model", path, "--dir", dir}},
		{"is required", []string{"eval"}},
		{"is required", []string{"export"}},
		{"applies to --model", []string{"eval", "--dir", dir, "--reference"}},
		{"-bogus", []string{"eval", "--bogus"}},
		{"--test-limit", []string{"eval", "--model", path, "--test-limit", "-1"}},
	} {
		wantOneLineError(t, c.want, c.args...)
	}
	if _, err := os.Stat(filepath.Join(noCkpt, "checkpoint")); err == nil {
		t.Errorf("a failed export created %s/checkpoint", noCkpt)
	}
	for _, cmd := range []string{"eval", "export"} {
		if code, o, _ := run(t, cmd, "--help"); code != 0 || !strings.Contains(o, "--dir") {
			t.Errorf("%s --help: code %d output %q", cmd, code, o)
		}
	}
}

// predictedClasses counts the distinct classes the exported target at path predicts on the test subset of the
// given size that train and eval use (seed 1).
func predictedClasses(t *testing.T, path string, limit int) int {
	t.Helper()
	m, err := export.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := deploy.New(m)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := datasets.Open("fashion-mnist", datasets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, evalT := datasets.DefaultTransforms(ds, m.Input.Res)
	l, err := datasets.NewLoader(ds.Test, datasets.LoaderConfig{BatchSize: limit, Transform: evalT, Layout: datasets.NHWC,
		Indices: train.TestIndices(ds.Test, limit, 1)})
	if err != nil {
		t.Fatal(err)
	}
	it := l.Epoch(0)
	defer it.Close()
	b, err := it.Next()
	if err != nil {
		t.Fatal(err)
	}
	_, classes, err := r.Predict(b.Images, b.Size(), b.Shape[1], b.Shape[2])
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, c := range classes {
		seen[c] = true
	}
	return len(seen)
}
