package vizplots

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/datasets"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"
	"github.com/gomlx/gomlx/pkg/ml/train/metrics"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
	"github.com/gomlx/gomlx/ui/plots"

	"github.com/shiftaddaug/shiftaddaug/pkg/viz"
)

func TestPlotterGroupsByMetricType(t *testing.T) {
	p := New()
	for step := 1; step <= 3; step++ {
		s := float64(step * 10)
		p.AddPoint(plots.Point{MetricName: "Train: loss", MetricType: "loss", Step: s, Value: 1 / s})
		p.AddPoint(plots.Point{MetricName: "Eval: loss", MetricType: "loss", Step: s, Value: 2 / s})
		p.AddPoint(plots.Point{MetricName: "Eval: accuracy", MetricType: "accuracy", Step: s, Value: s / 40})
		p.DynamicSampleDone(false)
	}
	p.AddPoint(plots.Point{MetricName: "Eval: accuracy", MetricType: "accuracy", Step: 40, Value: nan()})
	charts := p.Charts()
	if len(charts) != 2 || charts[0].Title() != "loss" || charts[1].Title() != "accuracy" {
		t.Fatalf("charts %v", titles(charts))
	}
	var opt struct {
		YAxis  []struct{ Type string } `json:"yAxis"`
		Series []struct {
			Name string
			Data []struct{ Value []float64 }
		}
	}
	if err := json.Unmarshal([]byte(charts[0].Option()), &opt); err != nil {
		t.Fatal(err)
	}
	if len(opt.Series) != 2 || opt.Series[0].Name != "Train: loss" || len(opt.Series[1].Data) != 3 {
		t.Fatalf("loss chart series: %+v", opt.Series)
	}
	if opt.YAxis[0].Type != "log" {
		t.Errorf("loss y axis %q, want log", opt.YAxis[0].Type)
	}
	if got := opt.Series[1].Data[2].Value; got[0] != 30 || got[1] != 2.0/30 {
		t.Errorf("last eval point %v", got)
	}
	if n := len(p.Points()); n != 9 {
		t.Errorf("%d points kept, want 9 (NaN dropped)", n)
	}
}

func TestCheckpointDirRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p, err := New().WithCheckpointDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	p.AddPoint(plots.Point{MetricName: "m", MetricType: "loss", Step: 1, Value: 0.5})
	p.AddPoint(plots.Point{MetricName: "m", MetricType: "loss", Step: 2, Value: 0.25})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	q, err := New().WithCheckpointDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if pts := q.Points(); len(pts) != 2 || pts[1].Value != 0.25 {
		t.Fatalf("reloaded points %+v", pts)
	}
}

// TestTrainingLoop runs a small GoMLX training loop on the pure-Go backend with the plotter scheduled on
// it, as a notebook would, and checks the curves it collected.
func TestTrainingLoop(t *testing.T) {
	backend, err := simplego.New("")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Finalize()
	xs := make([][]float32, 64)
	ys := make([][]float32, 64)
	for i := range xs {
		x := float32(i)/32 - 1
		xs[i], ys[i] = []float32{x}, []float32{3*x + 1}
	}
	ds, err := datasets.InMemoryFromData(backend, "line", []any{xs}, []any{ys})
	if err != nil {
		t.Fatal(err)
	}
	trainDS := ds.Copy().BatchSize(16, true).Infinite(true).Shuffle()
	evalDS := ds.Copy().BatchSize(64, false)

	ctx := context.New()
	model := func(ctx *context.Context, _ any, inputs []*graph.Node) []*graph.Node {
		return []*graph.Node{layers.DenseWithBias(ctx, inputs[0], 1)}
	}
	mae := metrics.NewMeanMetric("Mean Absolute Error", "MAE", "mae",
		func(_ *context.Context, labels, predictions []*graph.Node) *graph.Node {
			return losses.MeanAbsoluteError(labels, predictions)
		}, nil)
	trainer := train.NewTrainer(backend, ctx, model, losses.MeanSquaredError,
		optimizers.StochasticGradientDescent().WithDecay(false).Done(),
		nil, []metrics.Interface{mae})
	loop := train.NewLoop(trainer)
	p := New().WithDatasets(evalDS).ScheduleEveryNSteps(loop, 10)
	if _, err := loop.RunSteps(trainDS, 50); err != nil {
		t.Fatal(err)
	}
	charts := p.Charts()
	if len(charts) == 0 {
		t.Fatal("no charts from the training loop")
	}
	steps := map[float64]bool{}
	for _, pt := range p.Points() {
		steps[pt.Step] = true
	}
	if len(steps) < 5 {
		t.Fatalf("points at %d steps, want >= 5: %+v", len(steps), p.Points())
	}
	t.Logf("charts %v, %d points", titles(charts), len(p.Points()))
	for _, c := range charts {
		if !strings.Contains(c.Option(), `"type":"line"`) {
			t.Errorf("chart %q is not a line chart", c.Title())
		}
	}
}

func titles(cs []*vizChart) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Title())
	}
	return out
}

type vizChart = viz.Chart

func nan() float64 { return math.NaN() }
