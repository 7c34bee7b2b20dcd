package experiments

import (
	"fmt"
	"io"
	"strings"

	"github.com/shiftaddaug/shiftaddaug/pkg/viz"
)

// ScalingCell is one setting of the scaling study: the reference protocol (referenceBase) with one of its
// training images, epochs or resolution changed, or another dataset. Axis names the axis it lies on; the corner
// (6k images, 15 epochs, 32x32 Fashion-MNIST) lies on all three and is the reference protocol itself.
type ScalingCell struct {
	Key, Axis  string
	Data       string
	TrainLimit int // class-balanced: TrainLimit/10 images per class; 60,000 is all of Fashion-MNIST or nearly all MNIST
	Epochs     int
	Res        int
}

// Images times epochs: the training budget in images seen, the x axis of the study's chart.
func (c ScalingCell) Budget() float64 { return float64(c.TrainLimit) * float64(c.Epochs) }

// The study's axes (ScalingCell.Axis).
const (
	AxisCorner = "corner"
	AxisImages = "images"
	AxisEpochs = "epochs"
	AxisRes    = "resolution"
	AxisMNIST  = "mnist"
)

// ScalingCells are the study's cells in the order the preset runs them: the corner, then the cells nearest to it
// first, so that an interrupted study has the most informative cells done.
var ScalingCells = []ScalingCell{
	{"corner", AxisCorner, "fashion-mnist", 6000, 15, 32},
	{"n20k", AxisImages, "fashion-mnist", 20000, 15, 32},
	{"e45", AxisEpochs, "fashion-mnist", 6000, 45, 32},
	{"n60k", AxisImages, "fashion-mnist", 60000, 15, 32},
	{"r64", AxisRes, "fashion-mnist", 6000, 15, 64},
	{"e90", AxisEpochs, "fashion-mnist", 6000, 90, 32},
	{"mnist-n6k", AxisMNIST, "mnist", 6000, 15, 32},
	{"mnist-n60k", AxisMNIST, "mnist", 60000, 15, 32},
}

// ScalingRows are the methods each cell trains: both direct methods and their augmented counterparts (the
// paper's augshift with HWS), keys as in ReferenceRows, direct before augmented.
var ScalingRows = []ReferenceRow{
	{"shift", "shift", ""}, {"augshift-hws", "augshift", "hws"}, {"base", "base", ""}, {"netaug", "netaug", ""},
}

// scalingPairs are the study's comparisons: augmented minus direct, within a cell.
var scalingPairs = []struct{ name, row, ref string }{
	{"augshift (hws) − shift", "augshift-hws", "shift"},
	{"netaug − base", "netaug", "base"},
}

func scalingTable(cell, row string) string { return "scaling:" + cell + ":" + row }

// ScalingPreset is the scaling study (issue 15): ScalingRows in each of ScalingCells, once per seed, its
// augmented rows at studyAlpha. The corner's runs have the reference preset's configurations, but for α; the
// other cells evaluate about five times per run (Config.EvalEvery, which changes only the measurements) to save
// time. quick shrinks every cell to the reference protocol's quick check, keeping each cell's epochs ratio and
// resolution.
func ScalingPreset(seeds []uint64, quick bool) Preset {
	base, desc := referenceBase(quick)
	p := Preset{Name: "scaling", Description: "scaling study: the reference protocol (" + desc +
		", α = 1) with the training images, the epochs or the resolution changed one at a time, and MNIST"}
	for _, cell := range ScalingCells {
		for _, pr := range scalingPairs {
			p.Pairs = append(p.Pairs, Pair{Name: cell.Key + ": " + pr.name,
				Row: RowKey{scalingTable(cell.Key, pr.row), methodOf(pr.row)}, Ref: RowKey{scalingTable(cell.Key, pr.ref), methodOf(pr.ref)}})
		}
	}
	for _, cell := range ScalingCells {
		for _, seed := range seeds {
			for _, r := range ScalingRows {
				c := base
				c.Method, c.Sharing, c.Seed = r.Method, r.Sharing, seed
				if !direct(c.Method) {
					c.Alpha = studyAlpha
				}
				id := fmt.Sprintf("scaling-%s-%s-%s-s%d", c.Model, cell.Key, r.Key, seed)
				if cell.Key != "corner" {
					c.Data, c.Res = cell.Data, cell.Res
					if quick {
						c.Epochs = cell.Epochs / 15
					} else {
						c.TrainLimit, c.Epochs = cell.TrainLimit, cell.Epochs
						c.EvalEvery = max(1, cell.Epochs/5)
					}
				}
				p.Runs = append(p.Runs, RunSpec{ID: id, Table: scalingTable(cell.Key, r.Key), Config: c})
			}
		}
	}
	return p
}

func methodOf(rowKey string) string {
	for _, r := range ScalingRows {
		if r.Key == rowKey {
			return r.Method
		}
	}
	panic("unknown scaling row " + rowKey)
}

// ScalingResult is one cell's comparison: the direct and augmented mean accuracies over the seeds both finished
// at, the paired gain, and the mean seconds per run of each.
type ScalingResult struct {
	Cell                ScalingCell
	Name                string // "augshift (hws) − shift"
	Direct, Augmented   string // row keys
	Seeds               int    // seeds with both runs finished (not diverged)
	DirectAcc, AugAcc   float64
	Gain                PairedDifference
	DirectSec, AugSec   float64
	DirectRuns, AugRuns int // finished runs of each row, paired or not
}

// ScalingResults computes every cell's comparisons from finished runs, in ScalingCells' order.
func ScalingResults(p Preset, outs []*RunOutcome) []ScalingResult {
	byID := map[string]*RunOutcome{}
	for _, o := range outs {
		if o != nil && o.Result != nil {
			byID[o.Spec.ID] = o
		}
	}
	diffs := PairedDifferences(p, outs)
	var res []ScalingResult
	for _, cell := range ScalingCells {
		for _, pr := range scalingPairs {
			r := ScalingResult{Cell: cell, Name: pr.name, Direct: pr.ref, Augmented: pr.row}
			for _, d := range diffs {
				if d.Row.Table == scalingTable(cell.Key, pr.row) && d.Ref.Table == scalingTable(cell.Key, pr.ref) {
					r.Gain = d
				}
			}
			r.Seeds = len(r.Gain.Seeds)
			paired := map[uint64]bool{}
			for _, s := range r.Gain.Seeds {
				paired[s] = true
			}
			for _, s := range p.Runs {
				o := byID[s.ID]
				if o == nil || o.IsDiverged() {
					continue
				}
				acc, sec := 100*o.Result.FinalAcc, o.Result.Seconds
				switch s.Table {
				case scalingTable(cell.Key, pr.ref):
					r.DirectRuns++
					r.DirectSec += sec
					if paired[s.Config.Seed] {
						r.DirectAcc += acc / float64(r.Seeds)
					}
				case scalingTable(cell.Key, pr.row):
					r.AugRuns++
					r.AugSec += sec
					if paired[s.Config.Seed] {
						r.AugAcc += acc / float64(r.Seeds)
					}
				}
			}
			if r.DirectRuns > 0 {
				r.DirectSec /= float64(r.DirectRuns)
			}
			if r.AugRuns > 0 {
				r.AugSec /= float64(r.AugRuns)
			}
			res = append(res, r)
		}
	}
	return res
}

func (c ScalingCell) describe() string {
	return fmt.Sprintf("%s, %dk images, %d epochs, %dx%d", c.Data, c.TrainLimit/1000, c.Epochs, c.Res, c.Res)
}

// WriteScalingMarkdown writes the study's table: per cell and comparison, the direct and augmented accuracy
// (means over the paired seeds), the gain seed by seed with its mean ± std, and seconds per run.
func WriteScalingMarkdown(w io.Writer, p Preset, outs []*RunOutcome) {
	fmt.Fprintln(w, "| cell | axis | setting | comparison | seeds | direct (%) | augmented (%) | gain per seed | gain mean ± std | s/run direct | s/run augmented |")
	fmt.Fprintln(w, "|---|---|---|---|--:|--:|--:|---|--:|--:|--:|")
	for _, r := range ScalingResults(p, outs) {
		direct, aug, per, mean := "-", "-", "-", "not run"
		if r.Seeds > 0 {
			direct, aug = fmt.Sprintf("%.2f", r.DirectAcc), fmt.Sprintf("%.2f", r.AugAcc)
			var parts []string
			for i, v := range r.Gain.DiffPct {
				parts = append(parts, fmt.Sprintf("s%d %+.2f", r.Gain.Seeds[i], v))
			}
			per = strings.Join(parts, ", ")
			mean = fmt.Sprintf("%+.2f", r.Gain.MeanPct)
			if r.Seeds > 1 {
				mean += fmt.Sprintf(" ± %.2f", r.Gain.StdPct)
			}
		} else if r.DirectRuns+r.AugRuns > 0 {
			mean = fmt.Sprintf("unpaired (%d direct, %d augmented runs)", r.DirectRuns, r.AugRuns)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", r.Cell.Key, r.Cell.Axis, r.Cell.describe(),
			r.Name, r.Seeds, direct, aug, per, mean, seconds(r.DirectSec, r.DirectRuns), seconds(r.AugSec, r.AugRuns))
	}
}

func seconds(s float64, runs int) string {
	if runs == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", s)
}

// ScalingChart draws the paired gain (mean over seeds) against the training budget (images x epochs, log axis),
// one line per axis and comparison, each through the corner; cells with no paired seed are left out.
func ScalingChart(p Preset, outs []*RunOutcome) *viz.Chart {
	results := ScalingResults(p, outs)
	var series []viz.XYSeries
	for _, axis := range []string{AxisImages, AxisEpochs} {
		for _, pr := range scalingPairs {
			s := viz.XYSeries{Name: pr.name + " along " + axis}
			for _, r := range results {
				if r.Name != pr.name || r.Seeds == 0 || (r.Cell.Axis != axis && r.Cell.Axis != AxisCorner) {
					continue
				}
				s.X, s.Y = append(s.X, r.Cell.Budget()), append(s.Y, r.Gain.MeanPct)
			}
			if len(s.X) > 0 {
				series = append(series, s)
			}
		}
	}
	return viz.Lines(viz.Options{Title: "Scaling study: gain of augmented over direct training",
		Subtitle: "mbv2-w0.35, Fashion-MNIST, reference protocol; mean paired gain over seeds (points) against images x epochs",
		XName:    "training budget (images x epochs)", YName: "augmented − direct (points)", LogX: true}, series...)
}
