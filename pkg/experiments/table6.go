package experiments

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/pkg/train"
	"github.com/shiftaddaug/shiftaddaug/pkg/viz"
)

// Table6Row is one row of Table 6 (searched models with hybrid operators): operation counts in millions, top-1
// accuracy and the MACs relative to the paper's ShiftAddAug model of the same dataset.
type Table6Row struct {
	Dataset, Method   string
	Res               int
	Mult, Shift, Add  float64 // M
	AccPct            float64
	MACsCompare       string // as printed, e.g. "1.62×"
	Published, Source string // Published: from the paper's Table 6, not rerun here
}

// PaperTable6 is Table 6 as printed (ShiftAddAug's paper, CIFAR-10/100): published numbers, not rerun here.
var PaperTable6 = []Table6Row{
	{"CIFAR10", "ACGhostNet-B", 32, 28, 0, 61, 95.2, "1.62×", "published", "ShiftAddAug Table 6 (ACGhostNet [20])"},
	{"CIFAR10", "ShiftAddNAS", 32, 17, 19, 58, 95.83, "1.71×", "published", "ShiftAddAug Table 6 (ShiftAddNAS [44])"},
	{"CIFAR10", "ShiftAddAug", 96, 12.3, 14.5, 28, 95.92, "1.0×", "published", "ShiftAddAug Table 6"},
	{"CIFAR100", "ShiftAddNAS (Mult-free)", 32, 3, 35, 48, 71.0, "1.27×", "published", "ShiftAddAug Table 6 (ShiftAddNAS [44])"},
	{"CIFAR100", "ShiftAddNAS", 32, 22, 21, 62, 78.6, "1.44×", "published", "ShiftAddAug Table 6 (ShiftAddNAS [44])"},
	{"CIFAR100", "ShiftAddAug (Mult-free)", 160, 0.13, 33.5, 33.6, 74.61, "1.0×", "published", "ShiftAddAug Table 6"},
	{"CIFAR100", "ShiftAddAug", 96, 16.2, 20.2, 36.4, 78.72, "1.0×", "published", "ShiftAddAug Table 6"},
}

// SearchedRow is a Table 6 row for a target this project searched and trained: its counts at res from pkg/arch
// (the exported target, without depth augmentation), and the accuracy of a training run (NaN: not trained).
func SearchedRow(dataset, method string, m *arch.Model, res int, accPct float64) (Table6Row, error) {
	c, err := m.WithoutDepthAug().Count(res)
	if err != nil {
		return Table6Row{}, err
	}
	return Table6Row{Dataset: dataset, Method: method, Res: res, Mult: float64(c.Mult) / 1e6, Shift: float64(c.Shift) / 1e6,
		Add: float64(c.Add) / 1e6, AccPct: accPct, MACsCompare: fmt.Sprintf("%.3f M MACs", float64(c.MACs)/1e6),
		Published: "this project", Source: m.Name}, nil
}

// WriteTable6Markdown writes the paper's rows (labelled published) and then the given searched rows.
func WriteTable6Markdown(w io.Writer, searched []Table6Row) {
	fmt.Fprintln(w, "| dataset | method | res | Mult (M) | Shift (M) | Add (M) | accuracy (%) | MACs | numbers |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|---|---|")
	for _, r := range append(append([]Table6Row(nil), PaperTable6...), searched...) {
		acc := "not trained"
		if r.AccPct == r.AccPct { // not NaN
			acc = fmt.Sprintf("%.2f", r.AccPct)
		}
		fmt.Fprintf(w, "| %s | %s | %d | %.3g | %.3g | %.3g | %s | %s | %s |\n", r.Dataset, r.Method, r.Res, r.Mult, r.Shift,
			r.Add, acc, r.MACsCompare, r.Published)
	}
}

// SearchedRows are the Table 6 rows of a finished search (searchDir: the --out of `nas search`, its
// best_target.json) and of training runs of its target (runDirs: `train --dir` directories, each a row with its
// method and final accuracy); with no runs, one row for the untrained target. dataset labels the rows.
func SearchedRows(searchDir string, runDirs []string, dataset string) ([]Table6Row, error) {
	target, err := arch.Load(filepath.Join(searchDir, "best_target.json"))
	if err != nil {
		return nil, err
	}
	if len(runDirs) == 0 {
		r, err := SearchedRow(dataset, target.Name+" (searched, not trained)", target, target.Res, math.NaN())
		if err != nil {
			return nil, err
		}
		return []Table6Row{r}, nil
	}
	var rows []Table6Row
	for _, dir := range runDirs {
		var st train.Result
		b, err := os.ReadFile(filepath.Join(dir, "state.json"))
		if err == nil {
			err = json.Unmarshal(b, &st)
		}
		if err != nil {
			return nil, fmt.Errorf("run %s: %w (want the --dir of a finished 'train --arch' run)", dir, err)
		}
		how := st.Config.Method
		if st.Config.KeepOps { // a hybrid target: the method only says whether training was augmented
			how = "its own operators, direct"
			if m, err := train.ParseMethod(st.Config.Method); err == nil && m.Augmented {
				how = "its own operators, augmented (" + st.Config.Method + ")"
			}
		}
		r, err := SearchedRow(dataset, fmt.Sprintf("%s, %s (this project)", target.Name, how), target, target.Res, 100*st.FinalAcc)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// Table6Chart draws each row's Mult, Shift and Add counts (millions, log axis: the published models and the
// searched one differ by two orders of magnitude), the paper's rows and then the searched ones.
func Table6Chart(searched []Table6Row) *viz.Chart {
	var cats []string
	var mult, shift, add []float64
	for _, r := range append(append([]Table6Row(nil), PaperTable6...), searched...) {
		label := fmt.Sprintf("%s %s (%s)", r.Dataset, r.Method, r.Published)
		if strings.HasSuffix(r.Method, "("+r.Published+")") { // SearchedRows' methods say it already
			label = r.Dataset + " " + r.Method
		}
		cats = append(cats, label)
		mult, shift, add = append(mult, r.Mult), append(shift, r.Shift), append(add, r.Add)
	}
	return viz.Bar(viz.Options{Title: "Table 6: operations of searched models with hybrid operators",
		Subtitle: "published rows from the paper (CIFAR, not rerun); this project's searched target at its resolution",
		YName:    "operations (M, log)", LogY: true, Height: 560}, cats,
		viz.Series{Name: "Mult", Values: mult}, viz.Series{Name: "Shift", Values: shift}, viz.Series{Name: "Add", Values: add})
}
