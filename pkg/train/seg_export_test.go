package train

import (
	"math"
	"path/filepath"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/shiftaddaug/shiftaddaug/datasets"
	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/pkg/models"
	"github.com/shiftaddaug/shiftaddaug/pkg/models/deploy"
	"github.com/shiftaddaug/shiftaddaug/pkg/models/export"
)

// TestSegExportDeployMasks: a segmentation target trained with hybrid augmentation (augshift, augadd) and
// directly (base) exports with its head, and the integer-kernel runner gives the GoMLX target's masks: every
// pixel whose class differs is one where GoMLX's two best logits are within the fixed-point error, and the
// logits themselves agree to that error.
func TestSegExportDeployMasks(t *testing.T) {
	skipWithoutData(t)
	backend := engine.MustNew()
	const data = "fashion-seg:size=64,items=2,train=256,test=32,seed=3"
	ds, err := datasets.Open(data, datasets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, evalT := datasets.SegTransforms(ds, 64)
	b := firstSegBatch(t, ds.Test, evalT, 32)
	for _, method := range []string{"augshift", "augadd", "base"} {
		cfg := segTestConfig(method)
		cfg.Data, cfg.Epochs, cfg.BNCalib = data, 2, 128
		path := filepath.Join(t.TempDir(), method+".saa")
		var s *Session
		if _, err := Run(backend, cfg, RunOptions{Export: path, OnEpoch: func(ss *Session, _ EpochRecord) { s = ss }}); err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		m, err := export.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if m.Arch.Seg == nil {
			t.Fatalf("%s: the exported model has no segmentation head", method)
		}
		runner, err := deploy.New(m)
		if err != nil {
			t.Fatal(err)
		}
		x := tensors.FromFlatDataAndDimensions(b.Images, b.Shape[:]...)
		out := context.MustExecOnce(backend, s.Ctx, func(ctx *context.Context, x *Node) *Node {
			return s.Net.SegLogits(ctx, x, models.Pass{Ops: s.Ops()})
		}, x)
		want := tensors.MustCopyFlatData[float32](out)
		got, masks, err := runner.PredictMasks(b.Images, b.Size(), b.Shape[1], b.Shape[2])
		if err != nil {
			t.Fatal(err)
		}
		k := m.Arch.Classes
		gm := deploy.Argmax(want, k)
		var maxDiff, scale float64
		for i := range want {
			maxDiff = max(maxDiff, math.Abs(float64(got[i]-want[i])))
			scale = max(scale, math.Abs(float64(want[i])))
		}
		tol := 1e-3 * max(1, scale) // the fixed-point error: 2^-16 per Shift input, 2^-17·taps per adder output
		differ, fg := 0, 0
		for p, c := range gm {
			if c != 0 {
				fg++
			}
			if int(masks[p]) == c {
				continue
			}
			differ++
			row := want[p*k : (p+1)*k]
			if margin := float64(row[c] - row[masks[p]]); margin > 2*tol {
				t.Errorf("%s: pixel %d: integer class %d, GoMLX %d with a margin of %.3g (tolerance %.3g)", method, p, masks[p], c, margin, tol)
				break
			}
		}
		t.Logf("%s: %d of %d pixels differ (GoMLX predicts %d foreground), max logit difference %.3g (scale %.3g)",
			method, differ, len(gm), fg, maxDiff, scale)
		if maxDiff > tol {
			t.Errorf("%s: logits differ by %.3g, beyond the fixed-point tolerance %.3g", method, maxDiff, tol)
		}
		if fg == 0 {
			t.Errorf("%s: the trained target predicts background everywhere: the comparison says little", method)
		}
	}
}
