package train

import (
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/kernels/norm"
)

// TestEvalEveryChangesOnlyTheMeasurements: a run that evaluates every second epoch (and after the last) trains
// exactly as one that evaluates every epoch: the same losses, train accuracies and final variables, bit for bit
// (the batch-norm recalibration it skips only serves the evaluation), and its skipped epochs say so.
func TestEvalEveryChangesOnlyTheMeasurements(t *testing.T) {
	skipWithoutData(t)
	ref := reference(t, "netaug")
	cfg := resumeConfig("netaug")
	cfg.EvalEvery = 2
	var final *Session
	res, err := Run(engine.MustNew(), cfg, RunOptions{OnEpoch: func(s *Session, _ EpochRecord) { final = s }})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.History) != len(ref.res.History) {
		t.Fatalf("%d epochs recorded, want %d", len(res.History), len(ref.res.History))
	}
	wantSkipped := []bool{true, false, false} // epoch 2 of 3 is evaluated (every 2nd), epoch 3 as the last
	for i, h := range res.History {
		if h.NotEvaluated != wantSkipped[i] {
			t.Errorf("epoch %d: not evaluated %v, want %v", i+1, h.NotEvaluated, wantSkipped[i])
		}
		r := ref.res.History[i]
		if h.NotEvaluated {
			if h.TestAcc != 0 || h.TestLoss != 0 {
				t.Errorf("epoch %d was not evaluated but records test acc %v, loss %v", i+1, h.TestAcc, h.TestLoss)
			}
			r.TestAcc, r.TestLoss, r.NotEvaluated = 0, 0, true
			if h.EvalSeconds != 0 {
				t.Errorf("epoch %d was not evaluated but records %v s of evaluation", i+1, h.EvalSeconds)
			}
		}
		h.Seconds, r.Seconds, h.EvalSeconds, r.EvalSeconds = 0, 0, 0, 0
		if h != r {
			t.Errorf("epoch %d differs:\n every epoch %+v\n every 2nd   %+v", i+1, r, h)
		}
	}
	if res.FinalAcc != ref.res.FinalAcc {
		t.Errorf("final accuracy %v, evaluating every epoch %v", res.FinalAcc, ref.res.FinalAcc)
	}
	if want := BestAcc(ref.res.History[1:]); res.BestAcc != want {
		t.Errorf("best accuracy %v, want %v (the best of the evaluated epochs)", res.BestAcc, want)
	}
	// The target's running statistics are compared on what evaluation reads: the slice the last recalibration
	// wrote. The channels beyond it hold whatever the channel sorts moved there from earlier recalibrations; no
	// pass reads them (the augmented pass has statistics of its own), so they may differ.
	got := contextVars(final.Ctx)
	want := map[string]*tensors.Tensor{}
	for name, v := range ref.live {
		if isTargetStats(name) {
			n := targetWidthOf(t, final, name)
			got[name], v = leading(got[name], n), leading(v, n)
		}
		want[name] = v
	}
	t.Log(compareVars(t, "final context", want, got))
}

func isTargetStats(name string) bool {
	return strings.HasSuffix(name, "/"+norm.RunningMeanName) || strings.HasSuffix(name, "/"+norm.RunningVarName)
}

// targetWidthOf is the target's channel count at the batch-norm layer whose statistic is name.
func targetWidthOf(t *testing.T, s *Session, name string) int {
	t.Helper()
	scope := strings.TrimSuffix(strings.TrimSuffix(name, "/"+norm.RunningMeanName), "/"+norm.RunningVarName)
	layers, err := s.Net.Arch.Layers(s.Cfg.Res)
	if err != nil {
		t.Fatal(err)
	}
	layer := strings.ReplaceAll(strings.TrimPrefix(scope, "/"), "/", ".")
	for _, l := range layers {
		if l.Name == layer {
			return l.Cout
		}
	}
	t.Fatalf("no layer %q in the network", layer)
	return 0
}

func leading(v *tensors.Tensor, n int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(tensors.MustCopyFlatData[float32](v)[:n], n)
}
