// Package experiments declares the paper's tables as runs of this library, keeps their results, and renders
// them (Markdown, CSV, JSON, HTML). The CLI and the notebooks both call it, so neither holds logic of its own.
package experiments

// PaperTable3 is Table 3 of the paper as printed (CIFAR-100, 160x160): accuracy of the direct and the augmented
// training, and the simulator's energy and latency. Accuracies are -1 where the paper prints "-" (AdderNet on
// MobileNetV3 diverged for the authors).
var PaperTable3 = []PaperTable3Row{
	{"mbv2-w0.35", "base", 0.52, 29.72, 0, 29.72, 70.59, 71.98, 2.345, 0.73},
	{"mbv2-w0.35", "shift", 0.52, 0, 29.72, 29.72, 69.25, 71.83, 0.74, 0.246},
	{"mbv2-w0.35", "add", 0.52, 4.52, 0, 56.88, 67.85, 69.38, 1.091, 0.753},
	{"mbv3-w0.35", "base", 0.96, 18.35, 0, 18.35, 69.32, 72.2, 1.726, 0.485},
	{"mbv3-w0.35", "shift", 0.96, 0, 18.35, 18.35, 68.42, 73.37, 0.536, 0.16},
	{"mbv3-w0.35", "add", 0.96, 3.5, 0, 34.34, -1, -1, 0.699, 0.512},
	{"mcunet-in3", "base", 0.59, 65.72, 0, 65.72, 71.38, 73.15, 4.28, 1.682},
	{"mcunet-in3", "shift", 0.59, 0, 65.72, 65.72, 70.87, 74.59, 1.323, 0.545},
	{"mcunet-in3", "add", 0.59, 20.91, 0, 113.09, 70.25, 72.72, 2.345, 1.72},
	{"proxyless-w0.35", "base", 0.63, 34.56, 0, 34.56, 70.86, 72.32, 2.471, 0.883},
	{"proxyless-w0.35", "shift", 0.63, 0, 34.56, 34.56, 70.54, 73.86, 0.774, 0.294},
	{"proxyless-w0.35", "add", 0.63, 8.81, 0, 61.97, 68.87, 70.18, 1.281, 0.881},
	{"mbv2-tiny", "base", 0.35, 27.31, 0, 27.31, 69.3, 71.62, 2.161, 0.67},
	{"mbv2-tiny", "shift", 0.35, 0, 27.31, 27.31, 68.29, 71.89, 0.697, 0.228},
	{"mbv2-tiny", "add", 0.35, 4.43, 0, 52.09, 66.57, 67.65, 0.999, 0.693},
}

// PaperTable3Row is one printed row of Table 3.
type PaperTable3Row struct {
	Model, Method          string
	ParamsM, MultM, ShiftM float64
	AddM                   float64
	AccDirect, AccAug      float64
	EnergyMJ, LatencyMS    float64
}

// PaperRow finds the printed Table 3 row of a model and method.
func PaperRow(model, method string) (PaperTable3Row, bool) {
	for _, r := range PaperTable3 {
		if r.Model == model && r.Method == method {
			return r, true
		}
	}
	return PaperTable3Row{}, false
}

// PaperTable7Models are the columns of the paper's Table 7 (and Tables 8-10), as model names of pkg/arch.
var PaperTable7Models = AblationModels

// PaperTable7 is Table 7 of the paper as printed ("The ablation study of hybrid computing augmentation and
// heterogeneous weight sharing in terms of accuracy on CIFAR100"): top-1 accuracy (%) per row and model, in the
// order of PaperTable7Models. Row is the label of the matching row of Table7Rows; Printed the paper's label. It
// is Table7's paper values (the ablations of Tables 7-10 hold theirs in their rows).
var PaperTable7 = paperRows(Table7)

// PaperTable7Row is one printed row of Table 7.
type PaperTable7Row struct {
	Row, Printed string
	AccPct       []float64 // one per PaperTable7Models
}

func paperRows(a Ablation) []PaperTable7Row {
	rows := make([]PaperTable7Row, len(a.Rows))
	for i, r := range a.Rows {
		rows[i] = PaperTable7Row{Row: r.Row, Printed: r.Printed, AccPct: r.PaperPct}
	}
	return rows
}

// PaperTable7Acc returns the paper's Table 7 accuracy (%) of a row (a Table7Rows label) and model.
func PaperTable7Acc(row, model string) (float64, bool) {
	v, diverged, ok := Table7.PaperAcc(row, model)
	return v, ok && !diverged
}
