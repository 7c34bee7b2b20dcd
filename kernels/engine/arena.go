package engine

import (
	"reflect"
	"runtime"
	"slices"
	"sync"
	"unsafe"
	"weak"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/pkg/errors"
)

// The buffer arena: large float32 buffers from one address range, reused across sizes.
//
// SimpleGo keeps freed buffers in one sync.Pool per exact size, so memory freed by a tensor of one size serves only
// tensors of that size, and the Go collector seldom runs (the pools count as live). A training step's tensors come in
// over a hundred sizes whose lifetimes hardly overlap (the target pass's narrow activations, the augmented pass's
// wide ones; forward activations, then their gradients), so the pools grow to hold every size's largest count at
// once. On the res-96 twin step (with its passes in turn, an order tried and not kept), replaying the graph's
// allocations in order: 1.76 GB of exact-size pools against 0.86 GB live at the peak. Here the pools of large float32 sizes get their new buffers from an arena instead:
// offsets in one reserved address range, best fit over coalesced free spans, so memory that one size freed serves any
// other. A buffer returns to the arena once it is unreachable: idle buffers sit in SimpleGo's pools, which the
// collector empties (after two cycles: one generation of victims), and the arena holds only weak pointers to the
// buffers it made. When no free span fits, the arena collects (twice) if it has handed out at least 1/arenaDrainDiv
// of its used range since it last did, then extends its used range. Pages never touched cost nothing.
//
// Only the pools of the sizes that a graph marked with UseArena produces are switched (Builder.Compile), by
// replacing their New function; SimpleGo's pooling itself is unchanged, and so is every value computed. A collection
// waits for the workers' current kernels (assembly loops are not preempted): 5-15 ms. At the res-96 steps that is a
// few per cent of a step; on the res-32 augshift step it was about a tenth, for memory below the PyTorch peer's
// already, so pkg/train marks only large batches. Without a reservation (another OS, or the mapping refused) or with
// the engine option "noarena", nothing is switched.

// arenaMinElems is the smallest float32 buffer (in elements, 256 KiB) served by the arena: smaller ones are a small
// part of the memory and stay with SimpleGo's pools alone.
const arenaMinElems = 1 << 16

// arenaAlignElems is the arena's allocation unit in float32 elements (4 KiB: a page, and aligned for any vector
// width).
const arenaAlignElems = 1024

// arenaDrainDiv sets how often the arena collects: when no free span fits and it has handed out 1/arenaDrainDiv of
// its used range since the last collection. Three interleaved rounds at res 96, batch 64: the 3x twin step peaked at
// 1.06-1.07 GB with 1/16 and 1.22-1.26 GB with 1/4, the augshift step (NetAug's draw) at 1.96-2.12 and 2.22 GB, at
// the same speed within the rounds' noise.
const arenaDrainDiv = 16

// arenaSpan is a range of the arena, in float32 elements.
type arenaSpan struct{ off, n int }

type arenaHandout struct {
	buf  weak.Pointer[simplego.Buffer]
	span arenaSpan
}

type bufferArena struct {
	mu     sync.Mutex
	mem    []float32      // the reserved range
	free   []arenaSpan    // sorted by offset, coalesced, all below top
	top    int            // the used range is mem[:top]
	made   []arenaHandout // buffers handed out and not yet found unreachable
	since  int            // elements handed out since the last collection
	drains int            // collections made (tests read it)
	total  int            // buffers made (tests read it)
}

var (
	theArena     *bufferArena
	theArenaErr  error
	theArenaOnce sync.Once
)

// sharedArena returns the process's arena, reserving its address range on first use. It makes SimpleGo buffers and
// reads nodes through the mirror structs, so it first checks their layouts (another GoMLX version: no arena).
func sharedArena() (*bufferArena, error) {
	theArenaOnce.Do(func() {
		if err := sameLayout(reflect.TypeFor[simplego.Buffer](), reflect.TypeFor[bufferLayout]()); err != nil {
			theArenaErr = err
			return
		}
		if err := sameLayout(reflect.TypeFor[simplego.Node](), reflect.TypeFor[nodeLayout]()); err != nil {
			theArenaErr = err
			return
		}
		mem, err := reserveFloat32s()
		if err != nil {
			theArenaErr = err
			return
		}
		theArena = &bufferArena{mem: mem}
	})
	return theArena, theArenaErr
}

// newBuffer returns a SimpleGo buffer of length float32s from the arena, or nil if the arena is full.
func (a *bufferArena) newBuffer(length int) *simplego.Buffer {
	n := (length + arenaAlignElems - 1) / arenaAlignElems * arenaAlignElems
	a.mu.Lock()
	defer a.mu.Unlock()
	off, ok := a.take(n)
	if !ok {
		a.reclaim()
		off, ok = a.take(n)
	}
	if !ok && len(a.made) > 0 && arenaDrainDiv*a.since >= a.top {
		runtime.GC() // the pools' buffers become victims,
		runtime.GC() // then unreachable: their weak pointers read nil
		a.drains++
		a.since = 0
		a.reclaim()
		off, ok = a.take(n)
	}
	if !ok {
		if a.top+n > len(a.mem) {
			return nil
		}
		off, a.top = a.top, a.top+n
	}
	a.since += n
	a.total++
	buf := new(simplego.Buffer)
	l := bufferOf(buf)
	l.shape = shapes.Make(dtypes.Float32, length)
	l.flat = a.mem[off : off+length : off+length]
	a.made = append(a.made, arenaHandout{buf: weak.Make(buf), span: arenaSpan{off, n}})
	return buf
}

// take removes n elements from the best-fitting free span.
func (a *bufferArena) take(n int) (int, bool) {
	best := -1
	for i, s := range a.free {
		if s.n >= n && (best < 0 || s.n < a.free[best].n) {
			best = i
		}
	}
	if best < 0 {
		return 0, false
	}
	s := a.free[best]
	if s.n == n {
		a.free = slices.Delete(a.free, best, best+1)
	} else {
		a.free[best] = arenaSpan{s.off + n, s.n - n}
	}
	return s.off, true
}

// reclaim returns the spans of buffers found unreachable.
func (a *bufferArena) reclaim() {
	kept := a.made[:0]
	for _, h := range a.made {
		if h.buf.Value() == nil {
			a.release(h.span)
		} else {
			kept = append(kept, h)
		}
	}
	clear(a.made[len(kept):])
	a.made = kept
}

// release adds s to the free spans, merging it with its neighbours and with the unused range above top.
func (a *bufferArena) release(s arenaSpan) {
	i, _ := slices.BinarySearchFunc(a.free, s.off, func(f arenaSpan, off int) int { return f.off - off })
	if i < len(a.free) && s.off+s.n == a.free[i].off {
		s.n += a.free[i].n
		a.free = slices.Delete(a.free, i, i+1)
	}
	if i > 0 && a.free[i-1].off+a.free[i-1].n == s.off {
		s = arenaSpan{a.free[i-1].off, a.free[i-1].n + s.n}
		i--
		a.free = slices.Delete(a.free, i, i+1)
	}
	if s.off+s.n == a.top {
		a.top = s.off
		return
	}
	a.free = slices.Insert(a.free, i, s)
}

// useArena switches SimpleGo's pools of the large float32 sizes that the builder's ops produce to the arena.
func useArena(sg *simplego.Backend, builder any, a *bufferArena, adopted *sync.Map) error {
	nodes, err := builderNodes(builder)
	if err != nil {
		return err
	}
	for _, node := range nodes {
		n := nodeOf(node)
		outs := n.multiOutputsShapes
		if len(outs) == 0 {
			outs = []shapes.Shape{n.shape}
		}
		for _, s := range outs {
			length := s.Size()
			if s.DType != dtypes.Float32 || length < arenaMinElems {
				continue
			}
			if _, done := adopted.LoadOrStore(length, true); done {
				continue
			}
			pool := simplegoGetBufferPool(sg, dtypes.Float32, length)
			stock := pool.New
			pool.New = func() any {
				if b := a.newBuffer(length); b != nil {
					return b
				}
				return stock() // the arena is full: SimpleGo's own allocation
			}
		}
	}
	return nil
}

// builderNodes returns a SimpleGo builder's nodes (simplego.Builder.nodes, reached by reflection and type-checked).
func builderNodes(builder any) ([]*simplego.Node, error) {
	b, ok := builder.(*simplego.Builder)
	if !ok {
		return nil, errors.Errorf("the builder is a %T, not SimpleGo's", builder)
	}
	f := reflect.ValueOf(b).Elem().FieldByName("nodes")
	if !f.IsValid() || f.Type() != reflect.TypeOf([]*simplego.Node(nil)) {
		return nil, errors.New("SimpleGo's Builder has no nodes []*Node")
	}
	return *(*[]*simplego.Node)(unsafe.Pointer(f.UnsafeAddr())), nil
}
