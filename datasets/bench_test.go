package datasets

import (
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"
)

// benchEpochs pulls batches from ld for b.N batches (over as many epochs as needed) and reports batches/s and
// images/s delivered to the consumer.
func benchBatches(b *testing.B, ld *Loader) {
	b.ReportAllocs()
	start := time.Now()
	got, imgs := 0, 0
	for epoch := 0; got < b.N; epoch++ {
		it := ld.Epoch(epoch)
		for got < b.N {
			bt, err := it.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			got++
			imgs += bt.Size()
		}
		it.Close()
	}
	s := time.Since(start).Seconds()
	b.ReportMetric(float64(got)/s, "batches/s")
	b.ReportMetric(float64(imgs)/s, "img/s")
}

// BenchmarkPipeline measures what the input pipeline delivers with the default worker count
// (GOMAXPROCS): Fashion-MNIST (real, if installed) with the training transform at 32x32, batch 128, NCHW;
// and a generated JPEG image folder decoded and augmented at 160x160, batch 64.
func BenchmarkPipeline(b *testing.B) {
	b.Run("fashion-mnist/train32/b128", func(b *testing.B) {
		ds, err := Open("fashion-mnist", Options{})
		if err != nil {
			b.Fatalf("%v (run scripts/setup)", err)
		}
		tr, _ := DefaultTransforms(ds, 32)
		ld, err := NewLoader(ds.Train, LoaderConfig{BatchSize: 128, Shuffle: true, Seed: 1, Transform: tr})
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		benchBatches(b, ld)
	})
	b.Run("fashion-mnist/eval32/b128", func(b *testing.B) {
		ds, err := Open("fashion-mnist", Options{})
		if err != nil {
			b.Fatalf("%v (run scripts/setup)", err)
		}
		_, ev := DefaultTransforms(ds, 32)
		ld, err := NewLoader(ds.Test, LoaderConfig{BatchSize: 128, Transform: ev})
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		benchBatches(b, ld)
	})
	b.Run("jpeg-folder/train160/b64", func(b *testing.B) {
		root := b.TempDir()
		for c := 0; c < 4; c++ {
			for k := 0; k < 32; k++ {
				writeJPEG(b, filepath.Join(root, fmt.Sprintf("c%d", c), fmt.Sprintf("%03d.jpg", k)), testImage(320, 240, uint8(60*c+k)))
			}
		}
		ds, err := Open("imagefolder:"+root, Options{ValFraction: -1})
		if err != nil {
			b.Fatal(err)
		}
		tr, _ := DefaultTransforms(ds, 160)
		ld, err := NewLoader(ds.Train, LoaderConfig{BatchSize: 64, Shuffle: true, Seed: 1, Transform: tr})
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		benchBatches(b, ld)
	})
}
