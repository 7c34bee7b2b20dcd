package train

import (
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/pkg/models"
)

func TestStepTiming(t *testing.T) {
	if os.Getenv("STEP_TIMING") == "" {
		t.Skip("set STEP_TIMING=method,... to time training steps")
	}
	for _, meth := range []string{"base", "shift", "add", "netaug", "augshift", "augadd"} {
		cfg := DefaultConfig("mbv2-w0.35", meth)
		cfg.Res, cfg.Batch, cfg.StepsPerEpoch = 32, 16, 10
		s, err := NewSession(engine.MustNew(), cfg, 4)
		if err != nil {
			t.Fatal(err)
		}
		b := quadrantBatch(rand.New(rand.NewPCG(1, 2)), 16, 32)
		t0 := time.Now()
		s.TrainStep(b, models.SampleRandom)
		t1 := time.Now()
		for i := 0; i < 3; i++ {
			s.TrainStep(b, models.SampleRandom)
		}
		t.Logf("%s: first step (compile) %.1fs, then %.2fs/step", meth, t1.Sub(t0).Seconds(), time.Since(t1).Seconds()/3)
	}
}
