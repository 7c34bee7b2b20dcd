package train

import (
	"math"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
)

// TestPassesInTurnMatchesTogether: an augmented step with its passes in turn (the target's gradients first, the
// augmented pass after them, the ops one at a time: Config.PassesInTurn) computes the step with the passes together:
// the same losses to the bit (the augmented pass's input is x + 0) and the same update up to the rounding of
// summing each variable's two gradients in another order. Unshared sharing covers variables only the augmented pass
// uses; augshift the Shift layers' one weight map serving both passes.
func TestPassesInTurnMatchesTogether(t *testing.T) {
	backend, err := engine.NewEngine("")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Finalize()
	runs := []struct{ model, method, sharing string }{
		{"mbv2-tiny", "netaug", ""}, {"mbv2-w0.35", "augshift", "hws"}, {"mbv2-w0.35", "augshift", "none"},
		{"mbv2-w0.35", "augadd", ""},
	}
	const lr = 0.02
	for _, r := range runs {
		step := func(inTurn bool, lr float64) ([2]float64, map[string][]float32) {
			saved := passesInTurnPixels
			defer func() { passesInTurnPixels = saved }()
			if inTurn {
				passesInTurnPixels = 1
			}
			return firstStepSharing(t, backend, r.model, r.method, r.sharing, lr)
		}
		togetherLoss, together := step(false, lr)
		inTurnLoss, inTurn := step(true, lr)
		_, initial := step(false, 1e-30)
		if inTurnLoss != togetherLoss {
			t.Errorf("%s/%s/%s: losses in turn %v, together %v", r.model, r.method, r.sharing, inTurnLoss, togetherLoss)
		}
		var diff, update float64
		for name, w := range together {
			g, w0 := inTurn[name], initial[name]
			if len(g) != len(w) {
				t.Fatalf("%s/%s: %s has %d values in turn, %d together", r.model, r.method, name, len(g), len(w))
			}
			for i := range w {
				d, u := float64(g[i]-w[i]), float64(w[i]-w0[i])
				diff += d * d
				update += u * u
			}
		}
		rel := math.Sqrt(diff / update)
		t.Logf("%s/%s/%s: the first update differs by %.3g (relative L2)", r.model, r.method, r.sharing, rel)
		if !(rel <= 1e-3) || update == 0 {
			t.Errorf("%s/%s/%s: the first update in turn differs from together by %.3g (relative L2)", r.model,
				r.method, r.sharing, rel)
		}
	}
}
