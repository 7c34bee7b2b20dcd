package engine

import (
	"runtime"
	"slices"
	"testing"
	"unsafe"

	"github.com/gomlx/gomlx/backends/simplego"
)

// TestArenaSpans: best fit, coalescing with both neighbours, and freed spans at the top lowering the used range.
func TestArenaSpans(t *testing.T) {
	a := &bufferArena{mem: make([]float32, 100)}
	a.top = 100
	for _, s := range []arenaSpan{{10, 10}, {40, 5}, {60, 20}} {
		a.release(s)
	}
	if off, ok := a.take(5); !ok || off != 40 {
		t.Errorf("take(5) = %d, %v; want the exact fit at 40", off, ok)
	}
	if off, ok := a.take(8); !ok || off != 10 {
		t.Errorf("take(8) = %d, %v; want the best fit at 10 (10 free), not 60 (20 free)", off, ok)
	}
	if _, ok := a.take(21); ok {
		t.Error("take(21) succeeded with no free span that large")
	}
	a.release(arenaSpan{10, 8})  // joins the 2 left of the take above: 10..20
	a.release(arenaSpan{20, 40}) // joins 10..20 below and 60..80 above
	if want := []arenaSpan{{10, 70}}; !slices.Equal(a.free, want) {
		t.Errorf("free spans %v, want %v", a.free, want)
	}
	a.release(arenaSpan{80, 20}) // reaches the top: the used range shrinks to 10, taking the span below
	if a.top != 10 || len(a.free) != 0 {
		t.Errorf("top %d, free %v; want top 10 and no free spans", a.top, a.free)
	}
}

// TestArenaReusesAcrossSizes: buffers that became unreachable (dropped from use, as SimpleGo's pools drop idle
// buffers at collections) give their memory to a buffer of another size; reachable ones keep theirs.
func TestArenaReusesAcrossSizes(t *testing.T) {
	a := &bufferArena{mem: make([]float32, 64*arenaAlignElems)}
	kept := a.newBuffer(3 * arenaAlignElems)
	var dropped []*simplego.Buffer
	for _, n := range []int{5*arenaAlignElems + 7, 2 * arenaAlignElems, 9 * arenaAlignElems} {
		dropped = append(dropped, a.newBuffer(n))
	}
	if a.top != 3*arenaAlignElems+(6+2+9)*arenaAlignElems {
		t.Fatalf("used range %d elements after four buffers", a.top)
	}
	keptFlat := bufferOf(kept).flat.([]float32)
	keptFlat[0] = 42
	top := a.top
	dropped = nil
	runtime.KeepAlive(dropped)
	// 17 units freed in three spans that coalesce; ask for 16 of them in one buffer of a new size.
	b := a.newBuffer(16*arenaAlignElems - 3)
	if b == nil {
		t.Fatal("the arena is full")
	}
	if a.top > top || a.drains == 0 {
		t.Errorf("used range %d → %d with %d collections: the freed buffers' memory was not reused", top, a.top,
			a.drains)
	}
	flat := bufferOf(b).flat.([]float32)
	if len(flat) != 16*arenaAlignElems-3 || cap(flat) != len(flat) {
		t.Errorf("the new buffer has length %d, capacity %d", len(flat), cap(flat))
	}
	at := func(f []float32) int {
		return int(uintptr(unsafe.Pointer(&f[0]))-uintptr(unsafe.Pointer(&a.mem[0]))) / 4
	}
	if o, k := at(flat), at(keptFlat); o < k+len(keptFlat) && k < o+len(flat) || keptFlat[0] != 42 {
		t.Error("the new buffer overlaps the one still reachable")
	}
	if a.newBuffer(64*arenaAlignElems) != nil {
		t.Error("a buffer larger than the free range was handed out")
	}
	runtime.KeepAlive(kept)
	runtime.KeepAlive(b)
}
