package experiments

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/pkg/train"
)

// TestExecuteRefusesStaleResult: a finished run is reused only when it was made with the settings asked for; a
// result left by another version of a preset (same ID, other learning rate) is an error naming the difference,
// not a silent reuse. Neither case trains anything.
func TestExecuteRefusesStaleResult(t *testing.T) {
	dir := t.TempDir()
	spec := MiniPreset([]uint64{1}, true).Runs[0]
	stored := RunOutcome{Spec: spec, Result: &train.Result{Config: spec.Config, FinalAcc: 0.5}}
	stored.Spec.Config.LR = 0.05
	data, _ := json.Marshal(stored)
	if err := os.MkdirAll(filepath.Join(dir, "runs"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "runs", spec.ID+".json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Execute(nil, spec, dir, nil)
	if err == nil || !strings.Contains(err.Error(), "lr 0.05 → ") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("stale result: err = %v, want a one-line error naming lr", err)
	}
	stored.Spec.Config.LR = spec.Config.LR
	data, _ = json.Marshal(stored)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := Execute(nil, spec, dir, nil)
	if err != nil || o.Result.FinalAcc != 0.5 {
		t.Fatalf("matching result not reused: %v, %+v", err, o)
	}
}
