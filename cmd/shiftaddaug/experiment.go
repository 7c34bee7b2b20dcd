package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/pkg/experiments"
)

func init() {
	register(&command{name: "experiment", summary: "run an accuracy preset (mini: Table 3's methods; table7-table10: the ablations) and summarise it", run: runExperiment})
}

func runExperiment(args []string) error {
	fs := newFlags("experiment", "--preset "+strings.Join(experiments.PresetNames, "|")+" [--seeds 1,2] [--out results] [--quick] [--list]")
	preset := fs.String("preset", "mini", "preset: mini (Table 3's methods), table7 (HWS ablation), table8 (methods for weight tearing), "+
		"table9 (weight sharing), table10 (HWS without augmentation), table11 (depth augmentation and block mutation on the reference protocol), scaling (the scaling study: images, epochs, resolution, MNIST), reference (a reference protocol: balanced Fashion-MNIST subset, pad-and-crop, 15 epochs, seven rows) or paper")
	seedList := fs.String("seeds", "1,2", "comma-separated seeds")
	outDir := fs.String("out", "results", "results directory (finished runs are reused, interrupted ones resumed)")
	quick := fs.Bool("quick", false, "tiny version of the preset (CI, notebooks)")
	list := fs.Bool("list", false, "only list the runs and which are finished")
	only := fs.String("only", "", "comma-separated row keys or methods to run now (e.g. base,shift; empty: all); the summary still shows every row")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	seeds, err := parseSeeds(*seedList)
	if err != nil {
		return err
	}
	p, err := experiments.PresetByName(*preset, seeds, *quick)
	if err != nil {
		return err
	}
	if !*list {
		backend, err := engine.New()
		if err != nil {
			return err
		}
		runs, err := onlyRuns(p.Runs, *only)
		if err != nil {
			return err
		}
		for i, spec := range runs {
			fmt.Fprintf(os.Stderr, "[%d/%d] %s\n", i+1, len(runs), spec.ID)
			o, err := experiments.Execute(backend, spec, *outDir, os.Stderr)
			if err != nil {
				return err
			}
			if o.IsDiverged() {
				fmt.Fprintf(os.Stderr, "[%d/%d] %s: diverged (%s)\n", i+1, len(runs), spec.ID, o.DivergedReason())
			}
		}
	}
	outs, err := experiments.LoadOutcomes(*outDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Preset %s: %s\n\n| table | model | method | seeds | accuracy (%%) | s/run |\n|---|---|---|--:|--:|--:|\n", p.Name, p.Description)
	for _, r := range experiments.SummarizePreset(p, outs) {
		acc := "not run"
		switch {
		case r.Seeds == 0:
		case r.Diverged == r.Seeds:
			acc = "NaN (diverged)"
		default:
			acc = fmt.Sprintf("%.2f ± %.2f", r.Mean, r.Std)
			if r.Diverged > 0 {
				acc += fmt.Sprintf(" (%d of %d diverged)", r.Diverged, r.Seeds)
			}
		}
		fmt.Fprintf(out, "| %s | %s | %s | %d | %s | %.0f |\n", r.Table, r.Model, r.Method, r.Seeds, acc, r.Seconds)
	}
	if len(p.Pairs) > 0 {
		fmt.Fprintln(out)
		experiments.WritePairedMarkdown(out, experiments.PairedDifferences(p, outs))
	}
	if p.Name == "scaling" {
		fmt.Fprintln(out, "\nThe scaling study, cell by cell:")
		fmt.Fprintln(out)
		experiments.WriteScalingMarkdown(out, p, outs)
	}
	if p.Name == "table11" && len(p.Runs) > 0 {
		fmt.Fprintln(out)
		return experiments.WriteTable11Cost(out, p.Runs[0].Config.Res)
	}
	return nil
}

// onlyRuns keeps the runs that a name in the comma-separated list only selects (see selects), in the order
// named; an empty list keeps all, a name that selects nothing is an error.
func onlyRuns(runs []experiments.RunSpec, only string) ([]experiments.RunSpec, error) {
	if only == "" {
		return runs, nil
	}
	var out []experiments.RunSpec
	for _, name := range strings.Split(only, ",") {
		found := false
		for _, r := range runs {
			if selects(name, r) {
				out = append(out, r)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("--only %s: no run of this preset has that row key or method", name)
		}
	}
	return out, nil
}

// selects reports whether name picks run r: its method, its row key (the table label after the preset's name,
// e.g. "augshift-hws"), or any part of a row key with parts (the scaling study's "n20k:shift" is picked by
// "n20k", "shift" and "n20k:shift").
func selects(name string, r experiments.RunSpec) bool {
	if name == r.Config.Method {
		return true
	}
	_, key, _ := strings.Cut(r.Table, ":")
	if key == "" {
		key = r.Table
	}
	if name == key {
		return true
	}
	for _, part := range strings.Split(key, ":") {
		if name == part {
			return true
		}
	}
	return false
}

func parseSeeds(s string) ([]uint64, error) {
	var seeds []uint64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("--seeds %q: want comma-separated non-negative integers", s)
		}
		seeds = append(seeds, v)
	}
	return seeds, nil
}
