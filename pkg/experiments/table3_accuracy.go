package experiments

import (
	"fmt"
	"io"
	"math"

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/pkg/train"
	"github.com/shiftaddaug/shiftaddaug/pkg/viz"
)

// AccuracyEnergyRow is one model and training method of Table 3 at this project's scale: the accuracy row and
// the simulated energy of the network the method deploys.
type AccuracyEnergyRow struct {
	AccuracyRow
	// EnergyMJ is RunEnergy of the row's runs: the deployed network (its model with the runs' dataset's
	// classifier, under the method's deployment operator) at the resolution of the options, batch 1.
	EnergyMJ float64 `json:"energy_mj"`
	// EnergyRes is the resolution EnergyMJ was simulated at.
	EnergyRes int `json:"energy_res"`
	// PaperEnergyMJ is the energy Table 3 prints for the model and deployment method (0 if it has none; 100
	// CIFAR-100 classes).
	PaperEnergyMJ float64 `json:"paper_energy_mj,omitempty"`
}

// AccuracyWithEnergy adds to each accuracy row (AccuracyTable) the simulator's energy of the network it deploys,
// at opts' resolution and policies (DefaultHardwareOptions: Table 3's 160x160), and the paper's printed energy.
func AccuracyWithEnergy(rows []AccuracyRow, opts HardwareOptions) ([]AccuracyEnergyRow, error) {
	if opts.Res == 0 {
		opts = DefaultHardwareOptions()
	}
	var out []AccuracyEnergyRow
	for _, r := range rows {
		spec := RunSpec{ID: r.Model + "-" + r.Method, Config: trainConfig(r.Model, r.Method, r.Data)}
		e, err := RunEnergy(spec, opts)
		if err != nil {
			return nil, err
		}
		row := AccuracyEnergyRow{AccuracyRow: r, EnergyMJ: e, EnergyRes: opts.Res}
		if d, ok := arch.TargetMethod(r.Method); ok {
			if p, ok := PaperRow(r.Model, string(d)); ok {
				row.PaperEnergyMJ = p.EnergyMJ
			}
		}
		out = append(out, row)
	}
	return out, nil
}

// WriteAccuracyEnergyMarkdown writes Table 3 at this project's scale: accuracy (mean ± sample std over seeds)
// and the gain of augmentation beside the paper's accuracies, and the simulated energy of the deployed network
// beside the paper's.
func WriteAccuracyEnergyMarkdown(w io.Writer, rows []AccuracyEnergyRow) {
	if len(rows) == 0 {
		fmt.Fprintln(w, "No finished runs yet: train them with `shiftaddaug reproduce` (finished runs are kept in results/runs).")
		return
	}
	res := rows[0].EnergyRes
	fmt.Fprintf(w, "Final target test accuracy (%%), mean ± sample std over seeds, and the energy of one %dx%d inference of "+
		"the deployed target (Eyeriss-like simulator, batch 1, the runs' classifier). The *paper* columns are Table 3 "+
		"as printed (CIFAR-100, 160x160, 155 epochs): accuracies from a different dataset and scale, for reference.\n\n", res, res)
	fmt.Fprintln(w, "| model | method | data | epochs | seeds | accuracy (%) | gain vs direct | paper (CIFAR-100) | paper gain | energy (mJ) | paper energy (mJ) |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		a := r.accuracyCell()
		pe := "-"
		if r.PaperEnergyMJ > 0 {
			pe = fmt.Sprintf("%.3f", r.PaperEnergyMJ)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %d | %d | %s | %s | %s | %s | %.3f | %s |\n", r.Model, r.Method, r.Data, r.Epochs, r.Seeds,
			a, signed(r.GainPct), plain(r.PaperPct), signed(r.PaperGainPct), r.EnergyMJ, pe)
	}
}

// AccuracyEnergyChart draws each method's mean accuracy (bars, left axis) with the energy of the network it
// deploys (bars on the right axis), for the rows of one model.
func AccuracyEnergyChart(rows []AccuracyEnergyRow, model string) *viz.Chart {
	var cats []string
	acc := viz.Series{Name: "accuracy (this project)"}
	paper := viz.Series{Name: "accuracy (paper, CIFAR-100)"}
	energy := viz.Series{Name: "energy (mJ)", RightAxis: true}
	data, res := "", 0
	for _, r := range rows {
		if r.Model != model {
			continue
		}
		cats = append(cats, r.Method)
		if r.Seeds > r.Diverged {
			acc.Values = append(acc.Values, r.MeanPct)
		} else {
			acc.Values = append(acc.Values, math.NaN()) // every run diverged
		}
		paper.Values = append(paper.Values, orNaN(r.PaperPct))
		energy.Values = append(energy.Values, r.EnergyMJ)
		data, res = fmt.Sprintf("%s %dx%d, %d epoch(s)", r.Data, r.Res, r.Res, r.Epochs), r.EnergyRes
	}
	return viz.Bar(viz.Options{Title: "Table 3 at this project's scale: " + model,
		Subtitle: fmt.Sprintf("mean final target test accuracy (%s) and the deployed target's energy at %dx%d", data, res, res),
		XName:    "training method", YName: "top-1 accuracy (%)", Y2Name: "energy (mJ)", Height: 460}, cats, acc, paper, energy)
}

// trainConfig is the configuration RunEnergy needs of a run: its model, training method and dataset.
func trainConfig(model, method, data string) train.Config {
	c := train.DefaultConfig(model, method)
	c.Data = data
	return c
}
