package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shiftaddaug/shiftaddaug/datasets"
	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/pkg/train"
	"github.com/shiftaddaug/shiftaddaug/sim"
)

func init() {
	register(&command{name: "export", summary: "export a training run's target (only, multiplication-free) for the integer kernels", run: runExport})
}

func runExport(args []string) error {
	fs := newFlags("export", "--dir RUN [--out FILE] [--recalibrate] [--data-dir D]")
	dir := fs.String("dir", "", "run directory written by 'shiftaddaug train --dir' (its latest checkpoint is exported)")
	outPath := fs.String("out", "", "exported file (default RUN/"+train.TargetFile+")")
	force := fs.Bool("recalibrate", false, "recalibrate batch norm even when the checkpoint holds the statistics its epoch recalibrated")
	dataDir := fs.String("data-dir", "", "extra dataset directory (the run's dataset is needed to recalibrate batch norm)")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("--dir is required: the run directory of 'shiftaddaug train --dir RUN'")
	}
	path := *outPath
	if path == "" {
		path = filepath.Join(*dir, train.TargetFile)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("--out %s is a directory: give a file name (e.g. %s)", path, filepath.Join(path, train.TargetFile))
	}
	backend, err := engine.New()
	if err != nil {
		return err
	}
	l, err := train.Load(backend, *dir, datasets.Options{Dir: *dataDir})
	if err != nil {
		return err
	}
	// The statistics Run evaluates (and exports) with: recalibrated after the augmented passes polluted them.
	recal, err := l.RecalibrateBN(*force)
	if err != nil {
		return err
	}
	m, err := l.ExportTarget(path)
	if err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	cfg := l.Session.Cfg
	c, err := m.Arch.Count(cfg.Res)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(map[string]any{"path": path, "model": m.Arch.Name, "method": m.Method, "train_method": cfg.Method,
		"data": cfg.Data, "res": cfg.Res, "step": l.Session.Step, "recalibrated": recal, "params": c.Params, "bytes": fi.Size()})
	fmt.Fprintln(out, string(b))
	return nil
}

// targetCost is what the simulator says a target (its operators set per layer) costs at resolution res, batch 1:
// the plain sums over its layers (the depthwise policy of Table 3, without the paper's Shift-row quirk, as
// 'sim layers' reports).
func targetCost(a *arch.Model, res int) (sim.NetworkCost, error) {
	ls, err := sim.ModelLayers(a, res, sim.DWChannelOne)
	if err != nil {
		return sim.NetworkCost{}, err
	}
	nc, err := sim.CostNetwork(sim.DefaultConfig(), ls)
	if err != nil {
		return sim.NetworkCost{}, fmt.Errorf("costing %s at %dx%d: %w", a.Name, res, res, err)
	}
	return nc, nil
}
