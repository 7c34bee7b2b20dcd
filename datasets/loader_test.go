package datasets

import (
	"io"
	"reflect"
	"sort"
	"testing"
	"time"
)

// memSource is a synthetic in-memory source: image i is 28x28 grey filled with i%256, label i%10.
type memSource struct{ n int }

func (s memSource) Len() int        { return s.n }
func (s memSource) Label(i int) int { return i % 10 }
func (s memSource) Image(i int) (Image, error) {
	im := Image{H: 28, W: 28, C: 1, Pix: make([]uint8, 784)}
	for k := range im.Pix {
		im.Pix[k] = uint8(i + k)
	}
	return im, nil
}

func collect(t *testing.T, ld *Loader, epoch int) []*Batch {
	t.Helper()
	it := ld.Epoch(epoch)
	defer it.Close()
	var bs []*Batch
	for {
		b, err := it.Next()
		if err == io.EOF {
			return bs
		}
		if err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
	}
}

func TestLoaderEpochs(t *testing.T) {
	src := memSource{103}
	tr, _ := DefaultTransforms(&Dataset{Name: "fashion-mnist", Shape: Shape{28, 28, 1}}, 32)
	cfg := LoaderConfig{BatchSize: 10, Shuffle: true, Seed: 5, Transform: tr, Workers: 3, Prefetch: 2}
	ld, err := NewLoader(src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ld.NumBatches() != 11 || ld.Channels() != 3 {
		t.Fatalf("%d batches, %d channels", ld.NumBatches(), ld.Channels())
	}
	e0 := collect(t, ld, 0)
	if len(e0) != 11 || e0[10].Size() != 3 || e0[0].Shape != [4]int{10, 3, 32, 32} || len(e0[0].Images) != 10*3*32*32 {
		t.Fatalf("%d batches, last %d, shape %v", len(e0), e0[10].Size(), e0[0].Shape)
	}
	var seen []int
	for n, b := range e0 {
		if b.Number != n {
			t.Fatalf("batch %d delivered as %d", n, b.Number)
		}
		for k, idx := range b.Indices {
			if int(b.Labels[k]) != idx%10 {
				t.Fatalf("label %d for sample %d", b.Labels[k], idx)
			}
		}
		seen = append(seen, b.Indices...)
	}
	sort.Ints(seen)
	for i, v := range seen {
		if v != i {
			t.Fatalf("epoch does not cover every sample exactly once: %v", seen)
		}
	}
	// The same epoch again, with one worker: identical batches. Another epoch: another order.
	cfg.Workers = 1
	ld1, _ := NewLoader(src, cfg)
	again := collect(t, ld1, 0)
	for i := range e0 {
		if !reflect.DeepEqual(e0[i].Images, again[i].Images) || !reflect.DeepEqual(e0[i].Indices, again[i].Indices) {
			t.Fatalf("batch %d differs between 3 workers and 1", i)
		}
	}
	if e1 := collect(t, ld, 1); reflect.DeepEqual(e1[0].Indices, e0[0].Indices) {
		t.Fatal("epoch 1 has epoch 0's order")
	}
	// No shuffling, drop last, NHWC.
	ld2, _ := NewLoader(src, LoaderConfig{BatchSize: 25, DropLast: true, Transform: tr, Layout: NHWC})
	bs := collect(t, ld2, 0)
	if len(bs) != 4 || bs[3].Indices[24] != 99 || bs[0].Shape != [4]int{25, 32, 32, 3} {
		t.Fatalf("%d batches, shape %v", len(bs), bs[0].Shape)
	}
}

func TestLoaderEarlyCloseAndBadConfig(t *testing.T) {
	ev := EvalTransform(16)
	ev.GreyToRGB = true
	ld, err := NewLoader(memSource{1000}, LoaderConfig{BatchSize: 8, Transform: ev, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	it := ld.Epoch(0)
	if _, err := it.Next(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { it.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs")
	}
	if _, err := it.Next(); err == nil {
		t.Fatal("Next after Close returned a batch")
	}
	_, err = NewLoader(memSource{0}, LoaderConfig{BatchSize: 1, Transform: EvalTransform(8)})
	wantErr(t, err, "source is empty")
	_, err = NewLoader(memSource{3}, LoaderConfig{BatchSize: 0, Transform: EvalTransform(8)})
	wantErr(t, err, "BatchSize")
	_, err = NewLoader(memSource{3}, LoaderConfig{BatchSize: 1, Transform: EvalTransform(8)})
	wantErr(t, err, "3 means and 3 stds for 1 output channels")
	_, err = NewLoader(memSource{3}, LoaderConfig{BatchSize: 1, Transform: Transform{Size: 8}, Indices: []int{5}})
	wantErr(t, err, "index 5 outside")
}

func TestCalibrationSubset(t *testing.T) {
	src := memSource{60000}
	a := CalibrationSubset(src, NetAugCalibrationSize, 1)
	b := CalibrationSubset(src, NetAugCalibrationSize, 1)
	c := CalibrationSubset(src, NetAugCalibrationSize, 2)
	if len(a) != 16000 || !reflect.DeepEqual(a, b) || reflect.DeepEqual(a, c) || !sort.IntsAreSorted(a) {
		t.Fatalf("len %d, sorted %v", len(a), sort.IntsAreSorted(a))
	}
	for i := 1; i < len(a); i++ {
		if a[i] == a[i-1] {
			t.Fatal("duplicate index")
		}
	}
	if all := CalibrationSubset(memSource{5}, 100, 1); !reflect.DeepEqual(all, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("small source: %v", all)
	}
	ld, err := NewLoader(src, LoaderConfig{BatchSize: 500, Indices: a, Shuffle: true, Transform: Transform{Size: 28}})
	if err != nil || ld.Len() != 16000 || ld.NumBatches() != 32 {
		t.Fatalf("calibration loader: %v", err)
	}
	in := map[int]bool{}
	for _, i := range a {
		in[i] = true
	}
	for _, i := range ld.Order(3) {
		if !in[i] {
			t.Fatalf("index %d not in the subset", i)
		}
	}
}

// TestBalancedSubset: exactly perClass images of each class, sorted and distinct, a function of the seed.
func TestBalancedSubset(t *testing.T) {
	src := memSource{n: 1000} // label i%10: 100 per class
	a, err := BalancedSubset(src, 10, 30, 0)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[int]int{}
	for i, v := range a {
		counts[src.Label(v)]++
		if i > 0 && a[i-1] >= v {
			t.Fatal("not sorted and distinct")
		}
	}
	for c := 0; c < 10; c++ {
		if counts[c] != 30 {
			t.Fatalf("class counts %v, want 30 each", counts)
		}
	}
	b, _ := BalancedSubset(src, 10, 30, 0)
	c, _ := BalancedSubset(src, 10, 30, 1)
	if !reflect.DeepEqual(a, b) || reflect.DeepEqual(a, c) {
		t.Fatal("the subset must be a function of the seed")
	}
	_, err = BalancedSubset(src, 10, 101, 0)
	wantErr(t, err, "class 0 has 100 samples, fewer than the 101 per class")
	_, err = BalancedSubset(src, 5, 10, 0)
	wantErr(t, err, "label 5, outside the 5 classes")
}
