package datasets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
)

// Batch is a batch of transformed samples as flat float32 data plus its shape, ready to become a tensor
// (for example tensors.FromFlatDataAndDimensions(b.Images, b.Shape[:]...) in GoMLX).
type Batch struct {
	// Images holds N*C*H*W values in Layout order.
	Images []float32
	// Shape is [N, C, H, W] for NCHW or [N, H, W, C] for NHWC.
	Shape  [4]int
	Layout Layout
	// Labels holds the N class labels (-1 for segmentation samples).
	Labels []int32
	// Masks holds N*H*W class indices (IgnoreIndex for ignored pixels) for segmentation sources, else nil.
	Masks []int32
	// Indices are the samples' indices in the source.
	Indices []int
	// Epoch and Number locate the batch: Number counts from 0 within the epoch.
	Epoch, Number int
}

// Size is the number of samples in the batch.
func (b *Batch) Size() int { return b.Shape[0] }

// LoaderConfig configures a Loader.
type LoaderConfig struct {
	// BatchSize is the number of samples per batch (required).
	BatchSize int
	// Shuffle draws a new order each epoch (from Seed and the epoch number); otherwise samples come in order.
	Shuffle bool
	// DropLast drops the final partial batch of an epoch.
	DropLast bool
	// Seed makes the order and every random transform reproducible: the same seed, epoch and config give the
	// same batches, whatever the number of workers.
	Seed uint64
	// Transform is applied to every sample (its Size fixes the batch's H and W).
	Transform Transform
	// Layout of Batch.Images (default NCHW).
	Layout Layout
	// Workers is the number of goroutines preparing batches (default runtime.GOMAXPROCS(0)).
	Workers int
	// Prefetch is how many batches may be prepared ahead of the consumer (default 2*Workers).
	Prefetch int
	// Indices restricts the loader to these samples of the source (for example CalibrationSubset's).
	Indices []int
}

// Loader turns a Source into batches. It is safe to run one epoch at a time per Loader.
type Loader struct {
	src MaskSource
	seg bool
	raw Source
	cfg LoaderConfig
	ch  int // output channels
}

// NewLoader checks the config against the source and returns a Loader.
func NewLoader(src Source, cfg LoaderConfig) (*Loader, error) {
	if src == nil || src.Len() == 0 {
		return nil, errors.New("loader: the source is empty")
	}
	if cfg.BatchSize <= 0 {
		return nil, fmt.Errorf("loader: BatchSize must be positive, got %d", cfg.BatchSize)
	}
	if cfg.Transform.Size <= 0 {
		return nil, fmt.Errorf("loader: Transform.Size must be positive, got %d", cfg.Transform.Size)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Prefetch <= 0 {
		cfg.Prefetch = 2 * cfg.Workers
	}
	for _, i := range cfg.Indices {
		if i < 0 || i >= src.Len() {
			return nil, fmt.Errorf("loader: index %d outside the source's %d samples", i, src.Len())
		}
	}
	img, err := src.Image(firstIndex(cfg.Indices))
	if err != nil {
		return nil, fmt.Errorf("loader: %w", err)
	}
	l := &Loader{raw: src, cfg: cfg, ch: cfg.Transform.OutChannels(img.C)}
	if _, _, err := normConsts(cfg.Transform.Mean, cfg.Transform.Std, l.ch); err != nil {
		return nil, fmt.Errorf("loader: %w", err)
	}
	if ms, ok := src.(MaskSource); ok {
		l.src, l.seg = ms, true
	}
	return l, nil
}

func firstIndex(idx []int) int {
	if len(idx) > 0 {
		return idx[0]
	}
	return 0
}

// Len is the number of samples per epoch.
func (l *Loader) Len() int {
	if l.cfg.Indices != nil {
		return len(l.cfg.Indices)
	}
	return l.raw.Len()
}

// NumBatches is the number of batches per epoch.
func (l *Loader) NumBatches() int {
	n, b := l.Len(), l.cfg.BatchSize
	if l.cfg.DropLast {
		return n / b
	}
	return (n + b - 1) / b
}

// Channels is the number of channels of the batches' images.
func (l *Loader) Channels() int { return l.ch }

// Order returns the sample indices of an epoch in the order they are batched.
func (l *Loader) Order(epoch int) []int {
	n := l.Len()
	var order []int
	if l.cfg.Shuffle {
		order = Permutation(n, l.cfg.Seed, epoch)
	} else {
		order = make([]int, n)
		for i := range order {
			order[i] = i
		}
	}
	if l.cfg.Indices != nil {
		for i, o := range order {
			order[i] = l.cfg.Indices[o]
		}
	}
	return order
}

// Permutation returns the shuffled order of n samples for an epoch: a function of (seed, epoch) only.
func Permutation(n int, seed uint64, epoch int) []int {
	rng := rand.New(rand.NewPCG(seed, mix(0x7065726d, uint64(epoch))))
	return rng.Perm(n)
}

// CalibrationSubset returns a fixed, seeded choice of n sample indices of src (all of them, in order, when
// n >= src.Len()), sorted, for recalibrating batch-norm statistics. NetAug uses n = 16000.
func CalibrationSubset(src Source, n int, seed uint64) []int {
	total := src.Len()
	if n >= total {
		n = total
	}
	rng := rand.New(rand.NewPCG(seed, 0x63616c6962))
	perm := rng.Perm(total)[:n]
	keep := make([]bool, total)
	for _, p := range perm {
		keep[p] = true
	}
	out := make([]int, 0, n)
	for i, k := range keep {
		if k {
			out = append(out, i)
		}
	}
	return out
}

// BalancedSubset returns a fixed, seeded choice of perClass sample indices of each of the classes 0..classes-1
// of src, sorted: a class-balanced training subset. It depends on src's labels and seed only. A label outside
// the classes, or a class with fewer than perClass samples, is an error.
func BalancedSubset(src Source, classes, perClass int, seed uint64) ([]int, error) {
	if classes <= 0 || perClass <= 0 {
		return nil, fmt.Errorf("balanced subset: %d per class of %d classes: both must be positive", perClass, classes)
	}
	byClass := make([][]int, classes)
	for i := 0; i < src.Len(); i++ {
		l := src.Label(i)
		if l < 0 || l >= classes {
			return nil, fmt.Errorf("balanced subset: sample %d has label %d, outside the %d classes", i, l, classes)
		}
		byClass[l] = append(byClass[l], i)
	}
	rng := rand.New(rand.NewPCG(seed, 0x62616c616e6365))
	var out []int
	for c, idx := range byClass {
		if len(idx) < perClass {
			return nil, fmt.Errorf("balanced subset: class %d has %d samples, fewer than the %d per class asked for", c, len(idx), perClass)
		}
		for _, p := range rng.Perm(len(idx))[:perClass] {
			out = append(out, idx[p])
		}
	}
	sort.Ints(out)
	return out, nil
}

// NetAugCalibrationSize is the number of training images NetAug recalibrates batch norm on.
const NetAugCalibrationSize = 16000

// mix is splitmix64 of a combined with b: a cheap way to derive independent stream ids.
func mix(a, b uint64) uint64 {
	z := a*0x9e3779b97f4a7c15 + b + 0x632be59bd9b4e019
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// MakeBatch builds one batch from the given sample indices, synchronously. Sample k's randomness comes from
// (Seed, epoch, position) where position = number*BatchSize+k, so batches match those of the pipeline.
func (l *Loader) MakeBatch(indices []int, epoch, number int) (*Batch, error) {
	S := l.cfg.Transform.Size
	n, per := len(indices), l.ch*S*S
	b := &Batch{Images: make([]float32, n*per), Labels: make([]int32, n), Indices: append([]int(nil), indices...),
		Layout: l.cfg.Layout, Epoch: epoch, Number: number}
	if l.cfg.Layout == NHWC {
		b.Shape = [4]int{n, S, S, l.ch}
	} else {
		b.Shape = [4]int{n, l.ch, S, S}
	}
	if l.seg {
		b.Masks = make([]int32, n*S*S)
	}
	for k, idx := range indices {
		img, err := l.raw.Image(idx)
		if err != nil {
			return nil, err
		}
		if got := l.cfg.Transform.OutChannels(img.C); got != l.ch {
			return nil, fmt.Errorf("loader: sample %d has %d channels, earlier samples %d", idx, img.C, l.ch)
		}
		pos := uint64(number*l.cfg.BatchSize + k)
		rng := rand.New(rand.NewPCG(mix(l.cfg.Seed, uint64(epoch)), mix(pos, uint64(idx))))
		dst := b.Images[k*per : (k+1)*per]
		if l.seg {
			m, err := l.src.Mask(idx)
			if err != nil {
				return nil, err
			}
			if err := l.cfg.Transform.ApplyWithMask(img, m, rng, dst, b.Masks[k*S*S:(k+1)*S*S], l.cfg.Layout); err != nil {
				return nil, fmt.Errorf("sample %d: %w", idx, err)
			}
		} else if err := l.cfg.Transform.Apply(img, rng, dst, l.cfg.Layout); err != nil {
			return nil, fmt.Errorf("sample %d: %w", idx, err)
		}
		b.Labels[k] = int32(l.raw.Label(idx))
	}
	return b, nil
}

type batchResult struct {
	b   *Batch
	err error
}

// Iterator delivers one epoch's batches in order while workers prepare the next ones in the background.
type Iterator struct {
	results []chan batchResult
	next    int
	slots   chan struct{}
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	failed  error
	closed  bool
}

// Epoch starts preparing the batches of an epoch in Workers goroutines, at most Prefetch ahead of Next.
// Call Close when done (also when stopping early).
func (l *Loader) Epoch(epoch int) *Iterator {
	order := l.Order(epoch)
	nb := l.NumBatches()
	ctx, cancel := context.WithCancel(context.Background())
	it := &Iterator{results: make([]chan batchResult, nb), slots: make(chan struct{}, l.cfg.Prefetch), cancel: cancel}
	for i := range it.results {
		it.results[i] = make(chan batchResult, 1)
	}
	jobs := make(chan int)
	it.wg.Add(1)
	go func() { // feeder: hands out batch numbers, holding a slot for each batch not yet consumed
		defer it.wg.Done()
		defer close(jobs)
		for b := 0; b < nb; b++ {
			select {
			case it.slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	for w := 0; w < l.cfg.Workers; w++ {
		it.wg.Add(1)
		go func() {
			defer it.wg.Done()
			for b := range jobs {
				if ctx.Err() != nil {
					return
				}
				lo := b * l.cfg.BatchSize
				hi := min(lo+l.cfg.BatchSize, len(order))
				batch, err := l.MakeBatch(order[lo:hi], epoch, b)
				it.results[b] <- batchResult{batch, err}
			}
		}()
	}
	return it
}

// Next returns the next batch, or io.EOF after the last one. After an error, Next keeps returning it.
func (it *Iterator) Next() (*Batch, error) {
	if it.failed != nil {
		return nil, it.failed
	}
	if it.closed {
		return nil, errors.New("loader: Next after Close")
	}
	if it.next >= len(it.results) {
		return nil, io.EOF
	}
	r := <-it.results[it.next]
	it.results[it.next] = nil
	it.next++
	<-it.slots
	if r.err != nil {
		it.failed = r.err
		it.Close()
		return nil, r.err
	}
	return r.b, nil
}

// Close stops the workers and waits for them.
func (it *Iterator) Close() {
	it.closed = true
	it.cancel() // the feeder watches the context; workers never block (results are buffered)
	it.wg.Wait()
}
