package experiments

import (
	"fmt"
	"io"
	"math"

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/pkg/viz"
	"github.com/shiftaddaug/shiftaddaug/sim"
)

// Table11Row is one row of Table 11 (depth augmentation and block mutation, §3.4) as this project runs it: the
// paper's method (augshift, HWS) on the reference protocol, with or without depth augmentation and block
// mutation. Paper is the row's published CIFAR-100 accuracy, for reference (not comparable in scale; NaN for this
// project's control rows). Method is the training method ("" means augshift with HWS, the paper's).
type Table11Row struct {
	Key, Label        string
	DepthAug          bool
	MutStart, MutStop float64
	Paper             float64
	Method            string
}

// Table11Rows are Table 11's four rows. The mutation window is 10%-60% of training, inside Table 2's ranges
// (start 5-20%, stop 50-70%); depth augmentation is one residual block per stage (arch.Model.WithDepthAug),
// phased out of the target by half of training.
var Table11Rows = []Table11Row{
	{"width-expand", "Aug. Width & Expand", false, 0, 0, 75.13, ""},
	{"depth", "Aug. Width & Expand & Depth", true, 0, 0, 75.63, ""},
	{"mutation", "Aug. Width & Expand, Mutation", false, 0.1, 0.6, 75.92, ""},
	{"all", "All", true, 0.1, 0.6, 76.35, ""},
}

// Table11Controls separate block mutation from augmentation: the target trained directly as Shift (the reference
// preset's shift run), and the same with Table11Rows' mutation window and no augmentation. Without them a gain
// of the mutation row cannot say whether augmentation or the multiplicative warm start earned it.
var Table11Controls = []Table11Row{
	{"shift", "Shift, direct (control)", false, 0, 0, math.NaN(), "shift"},
	{"shift-mutation", "Shift, direct, Mutation (control)", false, 0.1, 0.6, math.NaN(), "shift"},
}

// table11All is the paper's rows followed by the controls.
func table11All() []Table11Row {
	return append(append([]Table11Row{}, Table11Rows...), Table11Controls...)
}

// Table11Preset runs Table11Rows and Table11Controls once per seed at the reference protocol (referenceBase;
// quick: its quick check), its augmented rows at studyAlpha; the first row and the shift control have the
// reference preset's augshift (HWS) and shift configurations, but for α.
// Every row trains and exports the same target network (mbv2-w0.35, Shift): the paper's rows differ in energy
// because its search found different targets for each; here the target is fixed, so the rows compare the
// training methods alone at one hardware cost (Table11Cost).
func Table11Preset(seeds []uint64, quick bool) Preset {
	base, desc := referenceBase(quick)
	p := Preset{Name: "table11", Description: "Table 11 (depth augmentation, block mutation) on the reference protocol: " + desc + ", α = 1"}
	for _, r := range Table11Rows[1:] {
		p.Pairs = append(p.Pairs, Pair{Name: r.Key + " − width-expand", Row: RowKey{"table11:" + r.Key, "augshift"},
			Ref: RowKey{"table11:width-expand", "augshift"}})
	}
	p.Pairs = append(p.Pairs,
		Pair{Name: "shift-mutation − shift (mutation without augmentation)", Row: RowKey{"table11:shift-mutation", "shift"},
			Ref: RowKey{"table11:shift", "shift"}},
		Pair{Name: "mutation − shift-mutation (augmentation with mutation)", Row: RowKey{"table11:mutation", "augshift"},
			Ref: RowKey{"table11:shift-mutation", "shift"}})
	for _, seed := range seeds {
		for _, r := range table11All() {
			c := base
			c.Method, c.Sharing, c.Seed = "augshift", "hws", seed
			if r.Method != "" {
				c.Method, c.Sharing = r.Method, ""
			}
			if !direct(c.Method) {
				c.Alpha = studyAlpha
			}
			c.DepthAug, c.MutationStart, c.MutationStop = r.DepthAug, r.MutStart, r.MutStop
			id := fmt.Sprintf("table11-%s-%s-s%d", c.Model, r.Key, seed)
			p.Runs = append(p.Runs, RunSpec{ID: id, Table: "table11:" + r.Key, Config: c})
		}
	}
	return p
}

// Table11Cost is the energy (mJ) and latency (ms) of the target every Table 11 row exports, from sim at
// resolution res.
func Table11Cost(res int) (energy, latency float64, err error) {
	m, err := arch.Get("mbv2-w0.35", 10)
	if err != nil {
		return 0, 0, err
	}
	nc, err := sim.CostModel(sim.DefaultConfig(), m, arch.MethodShift, res, sim.ModelOptions{})
	if err != nil {
		return 0, 0, err
	}
	return nc.EnergyMJ, nc.LatencyMS, nil
}

// WriteTable11Cost prints the line that says what every row's target costs, at the protocol's resolution and
// at the paper's 160.
func WriteTable11Cost(w io.Writer, res int) error {
	e, l, err := Table11Cost(res)
	if err != nil {
		return err
	}
	e160, l160, err := Table11Cost(160)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "Every row exports the same target (mbv2-w0.35, Shift): %.3f mJ / %.3f ms at %dx%d, %.3f mJ / %.3f ms at 160x160 (sim). Paper (CIFAR-100, searched targets): ", e, l, res, res, e160, l160)
	if err != nil {
		return err
	}
	for i, r := range Table11Rows {
		sep := "; "
		if i == len(Table11Rows)-1 {
			sep = ".\n"
		}
		if _, err := fmt.Fprintf(w, "%s %.2f%%%s", r.Label, r.Paper, sep); err != nil {
			return err
		}
	}
	return nil
}

// Table11Chart draws the rows' mean accuracy at this scale beside the paper's CIFAR-100 values (right axis: the
// two are on different tasks; compare the order of the rows, not the numbers).
func Table11Chart(p Preset, outs []*RunOutcome) *viz.Chart {
	sum := SummarizePreset(p, outs)
	var cats []string
	rows := table11All()
	ours, paper := make([]float64, len(rows)), make([]float64, len(rows))
	for i, r := range rows {
		cats = append(cats, r.Label)
		ours[i], paper[i] = math.NaN(), r.Paper
		for _, s := range sum {
			if s.Table == "table11:"+r.Key && s.Seeds > s.Diverged {
				ours[i] = s.Mean
			}
		}
	}
	return viz.Bar(viz.Options{Title: "Table 11: depth augmentation and block mutation",
		Subtitle: "augshift (HWS), mbv2-w0.35; this project's Fashion-MNIST reference protocol vs the paper's CIFAR-100",
		YName:    "this project, accuracy (%)", Y2Name: "paper, accuracy (%)"}, cats,
		viz.Series{Name: "this project (mean over seeds)", Values: ours},
		viz.Series{Name: "paper (CIFAR-100, searched targets)", Values: paper, RightAxis: true})
}

// WriteTable11Markdown writes the preset's summary: rows, paired differences against width & expand alone, and
// the cost line.
func WriteTable11Markdown(w io.Writer, p Preset, outs []*RunOutcome) error {
	fmt.Fprintf(w, "| row | seeds | accuracy (%%) | paper, CIFAR-100 (%%) |\n|---|--:|--:|--:|\n")
	sum := SummarizePreset(p, outs)
	for _, r := range table11All() {
		acc, seeds := "not run", 0
		for _, s := range sum {
			if s.Table != "table11:"+r.Key {
				continue
			}
			seeds = s.Seeds
			switch {
			case s.Seeds == 0:
			case s.Diverged == s.Seeds:
				acc = "NaN (diverged)"
			default:
				acc = fmt.Sprintf("%.2f ± %.2f", s.Mean, s.Std)
			}
		}
		paper := "—"
		if !math.IsNaN(r.Paper) {
			paper = fmt.Sprintf("%.2f", r.Paper)
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s |\n", r.Label, seeds, acc, paper)
	}
	fmt.Fprintln(w)
	WritePairedMarkdown(w, PairedDifferences(p, outs))
	fmt.Fprintln(w)
	res := 32
	if len(p.Runs) > 0 {
		res = p.Runs[0].Config.Res
	}
	return WriteTable11Cost(w, res)
}
