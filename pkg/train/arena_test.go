package train

import (
	"maps"
	"slices"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
)

// TestArenaStepChangesNothing: an augmented step marked for the engine's buffer arena (Config.ArenaStep, here
// forced at batch 16) gives the same losses and weights, to the bit, as the step on SimpleGo's pools. Each step runs
// on an engine of its own, so that the marked one's pools start empty and its buffers come from the arena.
func TestArenaStepChangesNothing(t *testing.T) {
	step := func(model, method string, arena bool) ([2]float64, map[string][]float32) {
		backend, err := engine.NewEngine("")
		if err != nil {
			t.Fatal(err)
		}
		defer backend.Finalize()
		saved := arenaPixels
		defer func() { arenaPixels = saved }()
		if arena {
			arenaPixels = 1
		}
		return firstStep(t, backend, model, method, 0.02)
	}
	for _, r := range []struct{ model, method string }{{"mbv2-w0.35", "augshift"}, {"mbv2-tiny", "netaug"}} {
		pooledLoss, pooled := step(r.model, r.method, false)
		arenaLoss, arena := step(r.model, r.method, true)
		if arenaLoss != pooledLoss {
			t.Errorf("%s/%s: losses %v with the arena, %v without", r.model, r.method, arenaLoss, pooledLoss)
		}
		names := slices.Sorted(maps.Keys(pooled))
		for _, name := range names {
			if !slices.Equal(arena[name], pooled[name]) {
				t.Errorf("%s/%s: %s differs after the step with the arena", r.model, r.method, name)
			}
		}
		if len(names) == 0 || len(arena) != len(pooled) {
			t.Errorf("%s/%s: %d weights with the arena, %d without", r.model, r.method, len(arena), len(pooled))
		}
	}
}
