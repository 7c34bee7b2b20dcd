package train

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
)

// TestRunStopsOnDivergence: a learning rate far too high makes the loss NaN or infinite; Run stops with a
// DivergedError at the end of that epoch instead of recording it, and the run's state holds only the epochs
// before it.
func TestRunStopsOnDivergence(t *testing.T) {
	cfg := DefaultConfig("mbv2-w0.35", "base")
	cfg.TrainLimit, cfg.TestLimit, cfg.BNCalib, cfg.Batch, cfg.Epochs, cfg.WarmupEpochs, cfg.LR = 64, 32, 32, 16, 2, 0, 1e30
	dir := t.TempDir()
	_, err := Run(engine.MustNew(), cfg, RunOptions{Dir: dir})
	var d *DivergedError
	if !errors.As(err, &d) || d.Epoch != 1 {
		t.Fatalf("Run at lr 1e30: %v, want a DivergedError in epoch 1", err)
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); err == nil {
		if h := readState(dir); len(h) != 0 {
			t.Errorf("the diverged epoch was recorded: %+v", h)
		}
	}
}
