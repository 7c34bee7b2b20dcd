package kernels

import (
	"math/rand/v2"
	"os"
	"testing"
	"time"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
)

// TestAddConvBig runs one forward+backward of a 3×3 AddConv, batch 64, 32×32, 48 → 48
// channels, float32 — the memory requirement of the issue. It is skipped unless
// KERNELS_BIG=1; measure the peak RSS with
//
//	go test -c -o /tmp/kernels.test ./kernels/ &&
//	KERNELS_BIG=1 /usr/bin/time -v /tmp/kernels.test -test.run TestAddConvBig -test.v
func TestAddConvBig(t *testing.T) {
	if os.Getenv("KERNELS_BIG") == "" {
		t.Skip("set KERNELS_BIG=1 to run (slow; for memory measurement)")
	}
	rng := rand.New(rand.NewPCG(31, 32))
	x := randArr(rng, -1, 1, 64, 32, 32, 48).tensor32()
	w := randArr(rng, -1, 1, 3, 3, 48, 48).tensor32()
	e := MustNewExec(testBackend(), func(x, w *Node) []*Node {
		y := AddConv(x, w, ConvOpts{}, AddOpts{})
		l := ReduceAllSum(Mul(y, y))
		return append([]*Node{l}, Gradient(l, x, w)...)
	})
	defer e.Finalize()
	for i := range 2 {
		start := time.Now()
		out, err := e.Exec(x, w)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out {
			o.FinalizeAll()
		}
		t.Logf("run %d: forward+backward %s", i, time.Since(start))
	}
}
