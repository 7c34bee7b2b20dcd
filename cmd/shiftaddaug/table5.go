package main

import (
	"bytes"
	"fmt"
	"image/png"
	"os"

	"github.com/shiftaddaug/shiftaddaug/datasets"
	"github.com/shiftaddaug/shiftaddaug/internal/atomicio"
	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/pkg/experiments"
)

func init() {
	register(&command{name: "table5", summary: "segmentation with hybrid augmentation (Table 5, Fig. 6) at this machine's scale: runs the table5 preset and prints mIoU beside the paper's", run: runTable5})
}

// runTable5 runs (unless --list) the table5 preset, the same runs as `experiment --preset table5`, and prints
// Table 5 in mIoU beside the published values; --fig6 draws a Fig. 6-style panel from two of its runs.
func runTable5(args []string) error {
	fs := newFlags("table5", "[--seeds 1,2] [--out results] [--quick] [--list] [--only M,...] [--fig6 PNG]")
	seedList := fs.String("seeds", "1,2", "comma-separated seeds")
	outDir := fs.String("out", "results", "results directory (runs in OUT/runs)")
	quick := fs.Bool("quick", false, "tiny version of the preset (CI, notebooks)")
	list := fs.Bool("list", false, "train nothing: summarise the finished runs in --out")
	only := fs.String("only", "", "comma-separated methods to run now (e.g. shift,augshift; empty: all)")
	fig6 := fs.String("fig6", "", "also write a Fig. 6-style PNG (input, ground truth, shift and augshift masks of mbv2-w0.35 at the first seed) to this path")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	seeds, err := parseSeeds(*seedList)
	if err != nil {
		return err
	}
	p := experiments.Table5Preset(seeds, *quick)
	backend, err := engine.New()
	if err != nil {
		return err
	}
	if !*list {
		runs, err := onlyRuns(p.Runs, *only)
		if err != nil {
			return err
		}
		for i, spec := range runs {
			fmt.Fprintf(os.Stderr, "[%d/%d] %s\n", i+1, len(runs), spec.ID)
			if _, err := experiments.Execute(backend, spec, *outDir, os.Stderr); err != nil {
				return err
			}
		}
	}
	outs, err := experiments.LoadOutcomes(*outDir)
	if err != nil {
		return err
	}
	if err := experiments.WriteTable5Markdown(out, p, outs); err != nil {
		return err
	}
	if *fig6 == "" {
		return nil
	}
	img, err := experiments.Fig6Panel(backend, *outDir, experiments.Table5RunID("mbv2-w0.35", "shift", seeds[0]),
		experiments.Table5RunID("mbv2-w0.35", "augshift", seeds[0]), 4, 3, datasets.Options{})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return fmt.Errorf("--fig6: %w", err)
	}
	return atomicio.WriteFile(*fig6, buf.Bytes())
}
