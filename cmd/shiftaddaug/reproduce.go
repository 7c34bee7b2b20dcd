package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shiftaddaug/shiftaddaug/datasets"
	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/pkg/experiments"
	"github.com/shiftaddaug/shiftaddaug/pkg/viz"
)

func init() {
	register(&command{name: "reproduce", summary: "the main job: the paper's tables (simulator in full, accuracy at a preset's scale) -> results/", run: runReproduce})
}

// energyPNGSize is the size of results/table3_energy.png: the energy chart's own size.
const energyPNGWidth, energyPNGHeight = viz.DefaultWidth, 460

func runReproduce(args []string) error {
	fs := newFlags("reproduce", "[--preset mini|paper] [--out DIR] [--seeds 1,2] [--quick] [--skip-train] [--only ID|table7..table10,...]")
	preset := fs.String("preset", "mini", "protocol of the accuracy runs: mini (Fashion-MNIST subset, this machine) or paper (CIFAR-100 at 160x160, XLA and GPUs)")
	outDir := fs.String("out", "results", "results directory (runs/ holds one JSON per finished run and the checkpoints of unfinished ones)")
	seedList := fs.String("seeds", "1,2", "comma-separated seeds; each method is trained once per seed")
	quick := fs.Bool("quick", false, "quick check of the mini preset (128 images, 1 epoch), for CI and tests")
	skipTrain := fs.Bool("skip-train", false, "train nothing; report the simulator tables and the runs already finished")
	only := fs.String("only", "", "train only these runs, comma-separated: run IDs (e.g. table3-mbv2-w0.35-base-s1) or the ablation tables table7, table8, table9, table10 (all their runs; mini preset only; without --only they are not trained); the report still covers the whole preset and every ablation table with runs")
	noPNG := fs.Bool("no-png", false, "do not screenshot the energy chart to table3_energy.png")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	seeds, err := reproduceSeeds(*seedList)
	if err != nil {
		return err
	}
	var p experiments.Preset
	// The ablation tables (7-10) at the same scale: trained only when --only names them (or their runs), and
	// reported once one of a table's own runs has finished (e.g. by 'experiment --preset table8').
	var ablations []experiments.Preset
	switch *preset {
	case "mini":
		p = experiments.MiniPreset(seeds, *quick)
		for _, a := range experiments.Ablations {
			ablations = append(ablations, experiments.AblationPreset(a, seeds, *quick))
		}
	case "paper":
		if *quick {
			return fmt.Errorf("--quick applies to the mini preset only")
		}
		p = experiments.PaperPreset(seeds)
	default:
		return fmt.Errorf("unknown preset %q: want mini or paper", *preset)
	}
	todo := p.Runs
	if *only != "" {
		if todo, err = selectRuns(p, ablations, *only); err != nil {
			return err
		}
	}
	if *skipTrain {
		todo = nil
	}
	var pending []experiments.RunSpec
	for _, s := range todo {
		if !runFinished(*outDir, s.ID) {
			pending = append(pending, s)
		}
	}
	// Missing data fails at once, with the dataset's own error, before anything is written.
	checked := map[string]bool{}
	for _, s := range pending {
		if !checked[s.Config.Data] {
			checked[s.Config.Data] = true
			if _, err := datasets.Open(s.Config.Data, datasets.Options{}); err != nil {
				return err
			}
		}
	}
	start := time.Now()
	reportf("reproduce: preset %s (%s), %d runs planned, %d to train, results in %s\n", p.Name, p.Description, len(p.Runs),
		len(pending), *outDir)

	// The simulator tables and the report of what is already finished first: they are cheap, and the report is
	// brought up to date after every run, so that an interrupted job leaves a current one.
	if _, _, err := writeReport(p, ablations, *outDir); err != nil {
		return err
	}
	reportf("reproduce: simulator tables and report written (%.1f s)\n", time.Since(start).Seconds())
	trainErr := trainRuns(todo, *outDir, func() error {
		_, _, err := writeReport(p, ablations, *outDir)
		return err
	})
	r, files, err := writeReport(p, ablations, *outDir)
	if err != nil {
		return err
	}
	if !*noPNG {
		png := filepath.Join(*outDir, experiments.EnergyPNG)
		switch err := experiments.ScreenshotChart(r.EnergyChart(), energyPNGWidth, energyPNGHeight, png); {
		case errors.Is(err, experiments.ErrNoChromium):
			reportf("reproduce: note: %s not written: %v; scripts/setup installs it\n", png, err)
		case err != nil:
			reportf("reproduce: note: %s not written: %s\n", png, oneLine(err.Error()))
		default:
			files = append(files, png)
		}
	}
	fmt.Fprint(out, r.Markdown())
	reportf("reproduce: wrote %s (%d of %d runs finished) in %.1f s\n", strings.Join(files, ", "), r.Finished, r.Planned,
		time.Since(start).Seconds())
	if trainErr != nil {
		return trainErr
	}
	return nil
}

// trainRuns runs the given runs through experiments.Execute, skipping finished ones, with progress on stderr.
// After each run it calls after (which rewrites the report).
func trainRuns(runs []experiments.RunSpec, dir string, after func() error) error {
	var pending []experiments.RunSpec
	for _, s := range runs {
		if runFinished(dir, s.ID) {
			reportf("reproduce: %s: finished earlier, kept\n", s.ID)
			continue
		}
		pending = append(pending, s)
	}
	if len(pending) == 0 {
		return nil
	}
	backend, err := engine.New()
	if err != nil {
		return err
	}
	for i, s := range pending {
		t0 := time.Now()
		reportf("reproduce: [%d/%d] %s: training (%s, %s, %d epochs)\n", i+1, len(pending), s.ID, s.Config.Model, s.Config.Method, s.Config.Epochs)
		o, err := experiments.Execute(backend, s, dir, errOut)
		if err != nil {
			return err
		}
		if o.IsDiverged() {
			reportf("reproduce: [%d/%d] %s: diverged (%s) in %.1f s\n", i+1, len(pending), s.ID, o.DivergedReason(),
				time.Since(t0).Seconds())
		} else {
			reportf("reproduce: [%d/%d] %s: test accuracy %.2f%% in %.1f s\n", i+1, len(pending), s.ID, 100*o.Result.FinalAcc,
				time.Since(t0).Seconds())
		}
		if err := after(); err != nil {
			return err
		}
	}
	return nil
}

// writeReport builds the report of the preset (and of the ablation tables whose own runs are there) from the
// finished runs in dir and writes it there.
func writeReport(p experiments.Preset, ablations []experiments.Preset, dir string) (*experiments.Report, []string, error) {
	outs, err := experiments.LoadOutcomes(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("reading finished runs in %s: %w", dir, err)
	}
	// Only the runs of the presets: a results directory may hold others (the IDs of quick and full runs are
	// the same, so a directory should hold one scale).
	ids := map[string]bool{}
	for _, q := range append([]experiments.Preset{p}, ablations...) {
		for _, s := range q.Runs {
			ids[s.ID] = true
		}
	}
	var keep []*experiments.RunOutcome
	for _, o := range outs {
		if ids[o.Spec.ID] {
			keep = append(keep, o)
		}
	}
	r, err := experiments.BuildReport(experiments.ReportOptions{Preset: &p, Ablations: ablations, Outcomes: keep})
	if err != nil {
		return nil, nil, err
	}
	files, err := experiments.WriteResults(dir, r)
	return r, files, err
}

// runFinished reports whether a run's result is already in dir/runs (Execute would skip it).
func runFinished(dir, id string) bool {
	_, err := os.Stat(filepath.Join(dir, "runs", id+".json"))
	return err == nil
}

// selectRuns picks the runs --only names: run IDs of the preset or of an ablation table, or an ablation
// table's name (all its runs), each run once, in the order named.
func selectRuns(p experiments.Preset, ablations []experiments.Preset, list string) ([]experiments.RunSpec, error) {
	byID := map[string]experiments.RunSpec{}
	var ids []string
	for _, s := range p.Runs {
		byID[s.ID] = s
		ids = append(ids, s.ID)
	}
	tables := map[string]experiments.Preset{}
	var names []string
	for _, a := range ablations {
		tables[a.Name] = a
		names = append(names, a.Name)
		for _, s := range a.Runs {
			if _, ok := byID[s.ID]; !ok {
				byID[s.ID] = s
			}
		}
	}
	var sel []experiments.RunSpec
	seen := map[string]bool{}
	add := func(s experiments.RunSpec) {
		if !seen[s.ID] {
			seen[s.ID] = true
			sel = append(sel, s)
		}
	}
	for _, id := range strings.Split(list, ",") {
		id = strings.TrimSpace(id)
		if a, ok := tables[id]; ok {
			for _, s := range a.Runs {
				add(s)
			}
			continue
		}
		if s, ok := byID[id]; ok {
			add(s)
			continue
		}
		if _, ok := experiments.AblationByName(id); ok {
			return nil, fmt.Errorf("--only %s: the ablation tables have presets at the mini scale only, not the %s preset", id, p.Name)
		}
		sort.Strings(ids)
		also := ""
		if len(names) > 0 {
			also = fmt.Sprintf(", or an ablation table (%s) or one of its runs", strings.Join(names, ", "))
		}
		return nil, fmt.Errorf("--only: no run %q in the %s preset (runs: %s%s)", id, p.Name, strings.Join(ids, ", "), also)
	}
	return sel, nil
}

func reproduceSeeds(s string) ([]uint64, error) {
	var seeds []uint64
	seen := map[uint64]bool{}
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("--seeds %q: want comma-separated non-negative integers, e.g. 1,2", s)
		}
		if !seen[v] {
			seen[v] = true
			seeds = append(seeds, v)
		}
	}
	return seeds, nil
}

func reportf(format string, args ...any) { fmt.Fprintf(errOut, format, args...) }
