package experiments

import (
	"fmt"
	"io"

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
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
