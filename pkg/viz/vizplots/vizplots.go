// Package vizplots plots a GoMLX training loop's metrics with pkg/viz: an implementation of GoMLX's
// plots.Plotter (github.com/gomlx/gomlx/ui/plots) that draws go-echarts line charts with the echarts
// library inlined, so that it works offline, unlike GoMLX's plotly plots (which load plotly from a CDN).
//
// It keeps GoMLX's scheduling and point format: metrics are collected with plots.AddTrainAndEvalMetrics at
// the steps chosen by ScheduleNTimes or ScheduleEveryNSteps, grouped into one chart per metric type (loss,
// accuracy, ...) with one curve per metric, and saved to / reloaded from the checkpoint's
// training_plot_points.json. In GoNB the charts are redrawn in place (viz.Live) after every sample; outside
// a notebook nothing is displayed, and Charts returns the charts for a report.
//
// Typical use in a notebook:
//
//	p := vizplots.New().WithDatasets(evalTrain, evalTest).ScheduleNTimes(loop, 30)
//	_, err := loop.RunSteps(ds, steps)
//
// It lives in its own package so that pkg/viz does not depend on GoMLX.
package vizplots

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"sync"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/ui/plots"

	"github.com/shiftaddaug/shiftaddaug/pkg/viz"
)

// Plotter collects plots.Point values and draws them as one line chart per metric type.
// It implements plots.Plotter and is safe for concurrent use.
type Plotter struct {
	mu sync.Mutex

	// LogY lists metric types drawn with a logarithmic y axis (default: "loss").
	LogY map[string]bool
	// Width and Height of each chart in pixels (0: viz defaults, with Height 360).
	Width, Height int

	evalDatasets []train.Dataset
	bnDataset    train.Dataset

	points    []plots.Point
	types     []string            // metric types, first-seen order
	names     map[string][]string // metric type -> metric names, first-seen order
	live      *viz.Live
	lastStep  int
	writer    chan<- plots.Point
	writerErr <-chan error
	attached  bool
}

var _ plots.Plotter = (*Plotter)(nil)

// New returns an empty Plotter. In a GoNB notebook it draws live after each sample.
func New() *Plotter {
	p := &Plotter{LogY: map[string]bool{"loss": true}, names: map[string][]string{}, lastStep: -1}
	if viz.InNotebook() {
		p.live = viz.NewLive()
	}
	return p
}

// WithDatasets sets the datasets evaluated at each collected step (as in GoMLX's plotly.PlotConfig).
func (p *Plotter) WithDatasets(datasets ...train.Dataset) *Plotter {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.evalDatasets = datasets
	return p
}

// WithBatchNormalizationAveragesUpdate sets a one-epoch dataset used to update batch-norm averages before
// each evaluation; nil disables it.
func (p *Plotter) WithBatchNormalizationAveragesUpdate(oneEpoch train.Dataset) *Plotter {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bnDataset = oneEpoch
	return p
}

// ScheduleNTimes collects metrics about n times, evenly spread over the loop's steps.
func (p *Plotter) ScheduleNTimes(loop *train.Loop, n int) *Plotter {
	train.NTimesDuringLoop(loop, n, "vizplots", 0, p.collect)
	p.attachOnEnd(loop)
	return p
}

// ScheduleEveryNSteps collects metrics every n steps.
func (p *Plotter) ScheduleEveryNSteps(loop *train.Loop, n int) *Plotter {
	train.EveryNSteps(loop, n, "vizplots", 0, p.collect)
	p.attachOnEnd(loop)
	return p
}

// WithCheckpointDir loads the points saved in dir (GoMLX's training_plot_points.json, if present) and
// appends new points to that file as they come, so that a resumed training continues its curves.
// Pass the checkpoint handler's Dir(). The file is closed when the loop ends (or by Close).
func (p *Plotter) WithCheckpointDir(dir string) (*Plotter, error) {
	path := filepath.Join(dir, plots.TrainingPlotFileName)
	if old, err := plots.LoadPoints(path); err == nil {
		for _, pt := range old {
			p.addPoint(pt, false)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.writer != nil {
		return p, fmt.Errorf("vizplots: a checkpoint directory is already set")
	}
	p.writer, p.writerErr = plots.CreatePointsWriter(path)
	return p, nil
}

// Close stops saving points (see WithCheckpointDir) and returns any write error. It is called
// automatically when a scheduled loop ends; calling it again is harmless.
func (p *Plotter) Close() error {
	p.mu.Lock()
	w, errc := p.writer, p.writerErr
	p.writer, p.writerErr = nil, nil
	p.mu.Unlock()
	if w == nil {
		return nil
	}
	close(w)
	if err := <-errc; err != nil {
		return fmt.Errorf("vizplots: saving plot points: %w", err)
	}
	return nil
}

// collect is the loop callback: it evaluates and adds the metrics once per step.
func (p *Plotter) collect(loop *train.Loop, metrics []*tensors.Tensor) error {
	p.mu.Lock()
	if loop.LoopStep <= p.lastStep {
		p.mu.Unlock()
		return nil
	}
	p.lastStep = loop.LoopStep
	ds, bn := p.evalDatasets, p.bnDataset
	p.mu.Unlock()
	return plots.AddTrainAndEvalMetrics(p, loop, metrics, ds, bn)
}

func (p *Plotter) attachOnEnd(loop *train.Loop) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.attached {
		return
	}
	p.attached = true
	loop.OnEnd("vizplots", 120, func(*train.Loop, []*tensors.Tensor) error {
		p.redraw()
		return p.Close()
	})
}

// AddPoint records one point (plots.Plotter). NaN or infinite points are ignored.
func (p *Plotter) AddPoint(pt plots.Point) { p.addPoint(pt, true) }

func (p *Plotter) addPoint(pt plots.Point, save bool) {
	if math.IsNaN(pt.Value) || math.IsInf(pt.Value, 0) || math.IsNaN(pt.Step) || math.IsInf(pt.Step, 0) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if save && p.writer != nil {
		p.writer <- pt
	}
	p.points = append(p.points, pt)
	names, ok := p.names[pt.MetricType]
	if !ok {
		p.types = append(p.types, pt.MetricType)
	}
	for _, n := range names {
		if n == pt.MetricName {
			return
		}
	}
	p.names[pt.MetricType] = append(names, pt.MetricName)
}

// DynamicSampleDone marks the end of one sample (plots.Plotter); in a notebook it redraws the charts.
func (p *Plotter) DynamicSampleDone(incomplete bool) {
	p.redraw()
}

func (p *Plotter) redraw() {
	if p.live == nil {
		return
	}
	if charts := p.Charts(); len(charts) > 0 {
		p.live.Update(charts...)
	}
}

// Points returns a copy of the points collected so far, in arrival order.
func (p *Plotter) Points() []plots.Point {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]plots.Point(nil), p.points...)
}

// Charts returns one line chart per metric type (in first-seen order), one curve per metric, x = global step.
func (p *Plotter) Charts() []*viz.Chart {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*viz.Chart
	for _, typ := range p.types {
		var series []viz.XYSeries
		for _, name := range p.names[typ] {
			var pts []plots.Point
			for _, pt := range p.points {
				if pt.MetricType == typ && pt.MetricName == name {
					pts = append(pts, pt)
				}
			}
			sort.SliceStable(pts, func(i, j int) bool { return pts[i].Step < pts[j].Step })
			s := viz.XYSeries{Name: name}
			for _, pt := range pts {
				s.X = append(s.X, pt.Step)
				s.Y = append(s.Y, pt.Value)
			}
			series = append(series, s)
		}
		h := p.Height
		if h == 0 {
			h = 360
		}
		title := typ
		if title == "" {
			title = "metric"
		}
		out = append(out, viz.Lines(viz.Options{Title: title, XName: "step",
			YName: typ, LogY: p.LogY[typ], Width: p.Width, Height: h}, series...))
	}
	return out
}
