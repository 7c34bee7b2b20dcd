package experiments

import (
	"fmt"
	"sort"
	"strings"

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/sim"
)

// Fig5Point is one point of the accuracy vs energy plot (the paper's Fig. 5).
type Fig5Point struct {
	// Source is "paper" (the authors' published point), "simulator" (this library's energy of a paper model at
	// the paper's printed accuracy) or "run" (a finished run of this project).
	Source   string  `json:"source"`
	Series   string  `json:"series"` // legend entry
	EnergyMJ float64 `json:"energy_mj"`
	AccPct   float64 `json:"acc_pct"`
	Label    string  `json:"label,omitempty"`
	// For simulator and run points: the model and training method; for runs also the run and its data.
	Model  string `json:"model,omitempty"`
	Method string `json:"method,omitempty"`
	RunID  string `json:"run_id,omitempty"`
	Data   string `json:"data,omitempty"`
	Res    int    `json:"res,omitempty"` // the run's training resolution
	// EnergyRes is the input resolution the energy was simulated at (simulator and run points).
	EnergyRes int `json:"energy_res,omitempty"`
}

// PublishedFig5 are the authors' CIFAR-100 (energy mJ, accuracy %) points of Fig. 5, read off the figure
// (method.md §0), one series per method as the figure's legend names them (prefixed "paper: ").
var PublishedFig5 = []Fig5Point{
	{Source: "paper", Series: "paper: ShiftAddAug", EnergyMJ: 0.697, AccPct: 71.89},
	{Source: "paper", Series: "paper: ShiftAddAug", EnergyMJ: 0.74, AccPct: 71.83},
	{Source: "paper", Series: "paper: ShiftAddAug", EnergyMJ: 0.774, AccPct: 73.86},
	{Source: "paper", Series: "paper: ShiftAddAug", EnergyMJ: 1.323, AccPct: 74.59},
	{Source: "paper", Series: "paper: Mult", EnergyMJ: 1.726, AccPct: 69.32},
	{Source: "paper", Series: "paper: Mult", EnergyMJ: 2.345, AccPct: 70.59},
	{Source: "paper", Series: "paper: Mult", EnergyMJ: 2.471, AccPct: 70.86},
	{Source: "paper", Series: "paper: Mult", EnergyMJ: 4.28, AccPct: 71.38},
	{Source: "paper", Series: "paper: DeepShift", EnergyMJ: 0.536, AccPct: 68.42},
	{Source: "paper", Series: "paper: DeepShift", EnergyMJ: 0.74, AccPct: 69.45},
	{Source: "paper", Series: "paper: DeepShift", EnergyMJ: 1.736, AccPct: 71.39},
	{Source: "paper", Series: "paper: DeepShift", EnergyMJ: 8.361, AccPct: 73.92},
	{Source: "paper", Series: "paper: AdderNet", EnergyMJ: 0.697, AccPct: 66.57},
	{Source: "paper", Series: "paper: AdderNet", EnergyMJ: 1.091, AccPct: 67.85},
	{Source: "paper", Series: "paper: AdderNet", EnergyMJ: 1.281, AccPct: 68.87},
	{Source: "paper", Series: "paper: AdderNet", EnergyMJ: 3.038, AccPct: 69.02},
	{Source: "paper", Series: "paper: AdderNet", EnergyMJ: 16, AccPct: 72.64},
	{Source: "paper", Series: "paper: APoT", EnergyMJ: 0.386, AccPct: 69.51},
	{Source: "paper", Series: "paper: APoT", EnergyMJ: 0.521, AccPct: 70.12},
}

// fig5Names names the training methods as Fig. 5's legend does.
var fig5Names = map[string]string{"base": "Mult", "netaug": "NetAug", "shift": "DeepShift", "augshift": "ShiftAddAug",
	"add": "AdderNet", "augadd": "AugAdd"}

// datasetClasses is the label count of the fixed datasets (the classifier the simulator costs).
func datasetClasses(data string) int {
	switch data {
	case "fashion-mnist", "mnist", "cifar10":
		return 10
	}
	return arch.DefaultClasses
}

// RunEnergy is the simulated energy (mJ, batch 1) of the network a run deploys: its model with the run's
// dataset's classifier, under the deployment method of its training method, at resolution opts.Res (Table 3's,
// 160 by default) with the simulator policies of opts. It does not cost the run's own resolution, so that the
// paper's points and this project's share one energy axis: the deployed network at the paper's resolution.
func RunEnergy(spec RunSpec, opts HardwareOptions) (float64, error) {
	c := spec.Config
	deploy, ok := arch.TargetMethod(c.Method)
	if !ok {
		return 0, fmt.Errorf("run %s: unknown training method %q", spec.ID, c.Method)
	}
	m, err := arch.Get(c.Model, datasetClasses(c.Data))
	if err != nil {
		return 0, fmt.Errorf("run %s: %w", spec.ID, err)
	}
	nc, err := sim.CostModel(sim.DefaultConfig(), m, deploy, opts.Res, sim.ModelOptions{DW: opts.DW, PaperShiftQuirk: opts.PaperShiftQuirk})
	if err != nil {
		return 0, fmt.Errorf("run %s: %w", spec.ID, err)
	}
	return nc.EnergyMJ, nil
}

// Fig5 returns the points of the accuracy vs energy plot and a note saying what they are. It always has the
// authors' published points. With finished Table 3 runs it adds one point per run (energy from RunEnergy,
// accuracy the run's final target test accuracy), one series per training method; without any, it adds the
// simulator's energies of the paper's models (rows, from Table3Hardware) at the accuracies the paper prints,
// which checks the plot's energy axis against the authors' points.
func Fig5(outs []*RunOutcome, rows []HardwareRow, opts HardwareOptions) ([]Fig5Point, string, error) {
	points := append([]Fig5Point(nil), PublishedFig5...)
	var runs []*RunOutcome
	for _, o := range outs {
		if o != nil && o.Result != nil && o.Spec.Table == "table3" && !o.IsDiverged() { // a diverged run has no accuracy
			runs = append(runs, o)
		}
	}
	if len(runs) == 0 {
		for _, r := range rows {
			p, ok := PaperRow(r.Model, r.Method)
			if !ok {
				continue
			}
			for _, m := range Table3Methods {
				if d, _ := arch.TargetMethod(m); string(d) != r.Method || m == "netaug" || m == "augadd" {
					continue // Fig. 5 shows Mult, DeepShift, AdderNet and ShiftAddAug
				}
				acc := p.AccDirect
				if m == "augshift" {
					acc = p.AccAug
				}
				if acc < 0 {
					continue
				}
				points = append(points, Fig5Point{Source: "simulator", Series: "this simulator: " + fig5Names[m],
					EnergyMJ: r.EnergyMJ, AccPct: acc, Label: r.Model, Model: r.Model, Method: m, EnergyRes: opts.Res})
			}
		}
		note := fmt.Sprintf("No finished runs: the plot shows the authors' published CIFAR-100 points and, labelled "+
			"with their model, this simulator's energies of the paper's models (%dx%d) at the accuracies Table 3 prints. "+
			"Where the two coincide, the energy axis is reproduced.", opts.Res, opts.Res)
		return points, note, nil
	}
	sort.SliceStable(runs, func(i, j int) bool {
		a, b := runs[i].Spec, runs[j].Spec
		if a.Config.Model != b.Config.Model {
			return a.Config.Model < b.Config.Model
		}
		if ia, ib := methodIndex(a.Config.Method), methodIndex(b.Config.Method); ia != ib {
			return ia < ib
		}
		return a.Config.Seed < b.Config.Seed
	})
	cache := map[string]float64{}
	scales := map[string]bool{}
	var scaleList []string
	for _, o := range runs {
		c := o.Spec.Config
		key := fmt.Sprintf("%s|%s|%s|%d", c.Model, c.Method, c.Data, c.Res)
		e, ok := cache[key]
		if !ok {
			var err error
			if e, err = RunEnergy(o.Spec, opts); err != nil {
				return nil, "", err
			}
			cache[key] = e
		}
		scale := fmt.Sprintf("%s %dx%d", c.Data, c.Res, c.Res)
		if !scales[scale] {
			scales[scale] = true
			scaleList = append(scaleList, scale)
		}
		points = append(points, Fig5Point{Source: "run", Series: "this project: " + c.Method, EnergyMJ: e,
			AccPct: 100 * o.Result.FinalAcc, Label: fmt.Sprintf("s%d", c.Seed), Model: c.Model, Method: c.Method,
			RunID: o.Spec.ID, Data: c.Data, Res: c.Res, EnergyRes: opts.Res})
	}
	note := fmt.Sprintf("The authors' points are CIFAR-100 at 160x160 (read off the paper's Fig. 5). This project's %d "+
		"run(s) are %s: their energy is the simulator's for the network each run deploys (its model, deployment method "+
		"and classifier) at %dx%d input, as Table 3 costs it, their accuracy the run's final target test accuracy. "+
		"The datasets differ, so accuracies are not comparable across the two groups; compare the order of methods "+
		"within each.", len(runs), strings.Join(scaleList, ", "), opts.Res, opts.Res)
	return points, note, nil
}
