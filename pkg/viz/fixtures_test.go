package viz

import (
	"math"
	"math/rand/v2"
)

// sampleCharts returns one chart of each kind, with data shaped like the paper's uses of them. The names
// are the chart kinds; tests check that each kind draws.
func sampleCharts() (names []string, charts []*Chart) {
	models := []string{"mbv2-w0.35", "mbv3-w0.35", "mcunet-in3", "proxyless-w0.35", "mbv2-tiny"}
	bar := Bar(Options{Title: "Energy and latency (Table 3)", XName: "model", YName: "energy (mJ)",
		Y2Name: "latency (ms)"}, models,
		Series{Name: "base energy", Values: []float64{2.6, 2.4, 4.1, 3.0, 0.9}},
		Series{Name: "shift energy", Values: []float64{1.7, 1.6, 2.7, 2.0, 0.6}},
		Series{Name: "add energy", Values: []float64{1.9, 1.8, 3.0, 2.2, math.NaN()}},
		Series{Name: "base latency", Values: []float64{30, 28, 45, 33, 11}, RightAxis: true},
	)

	steps := make([]float64, 60)
	loss, eval := make([]float64, 60), make([]float64, 60)
	for i := range steps {
		steps[i] = float64(i * 50)
		loss[i] = 2.3*math.Exp(-float64(i)/15) + 0.2
		eval[i] = 2.3*math.Exp(-float64(i)/18) + 0.35
	}
	lines := Lines(Options{Title: "Training curves", XName: "step", YName: "loss"},
		XYSeries{Name: "target pass", X: steps, Y: loss},
		XYSeries{Name: "augmented pass", X: steps, Y: eval},
	)

	scatter := Scatter(Options{Title: "Accuracy vs energy (Fig. 5)", XName: "energy (mJ)", YName: "top-1 accuracy (%)"},
		PointSeries{Name: "ShiftAddAug", Line: true, Points: []Point{{0.6, 55.1, "tiny"}, {1.7, 70.2, "mbv2"}, {2.7, 73.0, "mcunet"}}},
		PointSeries{Name: "NetAug", Points: []Point{{0.9, 53.0, "tiny"}, {2.6, 70.5, "mbv2"}}},
		PointSeries{Name: "DeepShift", Points: []Point{{1.6, 60.3, "mbv2"}, {math.Inf(1), 1, "bad"}}},
	)

	r := rand.New(rand.NewPCG(1, 2))
	conv, shift, add := make([]float64, 4000), make([]float64, 4000), make([]float64, 4000)
	for i := range conv {
		conv[i] = r.NormFloat64() * 0.05
		e := math.Round(math.Log2(math.Abs(conv[i]) + 1e-9))
		shift[i] = math.Copysign(math.Pow(2, e), conv[i])
		add[i] = r.ExpFloat64() * 0.08 * float64(1-2*(i%2))
	}
	hist := Histogram(Options{Title: "Weight distributions (Fig. 2)", XName: "weight value"},
		Bins{N: 60, Min: -0.3, Max: 0.3, Density: true},
		Distribution{Name: "Conv", Values: conv},
		Distribution{Name: "ShiftConv", Values: shift},
		Distribution{Name: "AddConv", Values: add},
	)

	layers := []string{"stem", "b1.dw", "b1.pw", "b2.exp", "b2.dw", "b2.proj", "b3.exp", "b3.dw", "b3.proj",
		"b4.exp", "b4.dw", "b4.proj", "head", "fc"}
	parts := []string{"compute", "DRAM", "buffer", "NoC", "RF"}
	var series []Series
	for j, p := range parts {
		v := make([]float64, len(layers))
		for i := range v {
			v[i] = 0.01 * float64((i+1)*(j+2)%7+1)
		}
		series = append(series, Series{Name: p, Values: v})
	}
	stacked := StackedBar(Options{Title: "Per-layer energy", XName: "layer", YName: "energy (mJ)"}, layers, series...)

	return []string{"bar", "lines", "scatter", "histogram", "stacked"},
		[]*Chart{bar, lines, scatter, hist, stacked}
}
