package experiments

import (
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"path/filepath"

	"github.com/gomlx/gomlx/backends"

	"github.com/shiftaddaug/shiftaddaug/datasets"
	"github.com/shiftaddaug/shiftaddaug/pkg/train"
)

// Table 5 (§4.4): segmentation with hybrid augmentation. The paper trains MobileNetV2-w0.35 and
// ProxylessNAS-w0.35 segmentation models on VOC and OpenEDS, neither of which is on this machine; this preset
// trains the same six methods on the derived fashion-seg task (canvases of real Fashion-MNIST items with
// per-pixel class masks, datasets.SegTask): a stand-in at this machine's scale, not VOC or OpenEDS.

// Table5Models are the paper's two Table 5 backbones.
var Table5Models = []string{"mbv2-w0.35", "proxyless-w0.35"}

// Table5Pairs are Table 5's rows: a direct method and its augmented counterpart.
var Table5Pairs = [][2]string{{"base", "netaug"}, {"shift", "augshift"}, {"add", "augadd"}}

// Table5Published is one published Table 5 value (mIoU %), NaN where the paper has no row (VOC's Add/AugAdd).
type Table5Published struct {
	Dataset, Model, Method string
	MIoU                   float64
}

// Table5Paper are the paper's Table 5 numbers, as printed.
var Table5Paper = func() []Table5Published {
	var out []Table5Published
	add := func(ds, direct, aug string, mbv2, proxy [2]float64) {
		for i, m := range []string{direct, aug} {
			out = append(out, Table5Published{ds, "mbv2-w0.35", m, mbv2[i]}, Table5Published{ds, "proxyless-w0.35", m, proxy[i]})
		}
	}
	add("VOC", "base", "netaug", [2]float64{66.23, 69.72}, [2]float64{66.63, 68.09})
	add("VOC", "shift", "augshift", [2]float64{66.02, 68.78}, [2]float64{65.8, 68.98})
	add("OpenEDS", "base", "netaug", [2]float64{88.68, 92.41}, [2]float64{86.27, 92.84})
	add("OpenEDS", "shift", "augshift", [2]float64{88.01, 94.52}, [2]float64{86.01, 95.12})
	add("OpenEDS", "add", "augadd", [2]float64{83.94, 91.20}, [2]float64{82.01, 90.45})
	return out
}()

// PaperTable5 returns the published mIoU of a dataset, model and method (NaN if the paper has none).
func PaperTable5(dataset, model, method string) float64 {
	for _, p := range Table5Paper {
		if p.Dataset == dataset && p.Model == model && p.Method == method {
			return p.MIoU
		}
	}
	return math.NaN()
}

// table5Base is the protocol: the derived fashion-seg task with 64x64 canvases of 3 items (1,024 train, 256
// test canvases), batch 32, 6 epochs (1 warm-up, width augmentation off for the last half as NetAug), lr 0.1,
// no label smoothing, BN recalibrated on 512 training canvases. quick: 64 train / 32 test canvases, 1 epoch.
func table5Base(quick bool) (train.Config, string) {
	c := train.DefaultConfig("mbv2-w0.35", "base")
	c.Task, c.Data, c.Res, c.Batch = train.TaskSeg, "fashion-seg:size=64,items=3,train=1024,test=256,seed=1", 64, 32
	c.Epochs, c.WarmupEpochs, c.StopWidthAugEpochs, c.LR = 6, 1, 3, 0.1
	c.LabelSmoothing, c.BNCalib, c.Alpha = 0, 512, studyAlpha
	desc := "segmentation (LR-ASPP head) on the derived fashion-seg task (64x64 canvases of 3 Fashion-MNIST items, 1,024 train / 256 test; not VOC or OpenEDS), batch 32, 6 epochs (1 warm-up, width augmentation off in the last 3), lr 0.1, BN recalibrated on 512 canvases, α = 1"
	if quick {
		c.Data, c.Epochs, c.WarmupEpochs, c.StopWidthAugEpochs, c.BNCalib = "fashion-seg:size=64,items=3,train=64,test=32,seed=1", 1, 0, 0, 32
		desc = "quick check: segmentation on fashion-seg, 64 train / 32 test canvases, 1 epoch"
	}
	return c, desc
}

// Table5Preset is Table 5 at this machine's scale: both backbones, the six methods (augshift with HWS, the
// others with the sharing Table 3 uses), each seed.
func Table5Preset(seeds []uint64, quick bool) Preset {
	base, desc := table5Base(quick)
	p := Preset{Name: "table5", Description: desc}
	for _, model := range Table5Models {
		for _, seed := range seeds {
			for _, m := range Table3Methods {
				c := base
				c.Model, c.Method, c.Seed, c.Sharing = model, m, seed, table3Sharing(m)
				p.Runs = append(p.Runs, RunSpec{ID: Table5RunID(model, m, seed), Table: "table5", Config: c})
			}
		}
	}
	return p
}

// Table5RunID is the ID (results/runs/ID) of a Table 5 run.
func Table5RunID(model, method string, seed uint64) string {
	return fmt.Sprintf("table5-%s-%s-s%d", model, method, seed)
}

// Table5Row is one backbone and method pair at this scale: mean ± sample std of the final test mIoU (%) over
// the seeds that finished, and the mean of the per-seed differences augmented − direct.
type Table5Row struct {
	Model, Direct, Aug      string
	DirectMean, DirectStd   float64
	AugMean, AugStd         float64
	Gain                    float64 // mean over seeds with both runs of (aug − direct); NaN if none
	DirectSeeds, AugSeeds   int
	Paired                  int
	DirectPixAcc, AugPixAcc float64 // mean final pixel accuracy (%)
}

// Table5Rows summarises a preset's finished runs (outs may hold others) into Table 5's rows.
func Table5Rows(p Preset, outs []*RunOutcome) []Table5Row {
	byID := map[string]*RunOutcome{}
	for _, o := range PresetOutcomes(p, outs) {
		if !o.IsDiverged() {
			byID[o.Spec.ID] = o
		}
	}
	seeds := map[uint64]bool{}
	var order []uint64
	for _, s := range p.Runs {
		if !seeds[s.Config.Seed] {
			seeds[s.Config.Seed] = true
			order = append(order, s.Config.Seed)
		}
	}
	stats := func(v []float64) (mean, std float64) {
		if len(v) == 0 {
			return math.NaN(), math.NaN()
		}
		for _, x := range v {
			mean += x / float64(len(v))
		}
		for _, x := range v {
			std += (x - mean) * (x - mean)
		}
		if len(v) > 1 {
			return mean, math.Sqrt(std / float64(len(v)-1))
		}
		return mean, 0
	}
	var rows []Table5Row
	for _, model := range Table5Models {
		for _, pr := range Table5Pairs {
			r := Table5Row{Model: model, Direct: pr[0], Aug: pr[1]}
			var d, a, gains, dp, ap []float64
			for _, seed := range order {
				od, oa := byID[Table5RunID(model, pr[0], seed)], byID[Table5RunID(model, pr[1], seed)]
				if od != nil {
					d, dp = append(d, 100*od.Result.FinalMIoU), append(dp, 100*od.Result.FinalAcc)
				}
				if oa != nil {
					a, ap = append(a, 100*oa.Result.FinalMIoU), append(ap, 100*oa.Result.FinalAcc)
				}
				if od != nil && oa != nil {
					gains = append(gains, 100*(oa.Result.FinalMIoU-od.Result.FinalMIoU))
				}
			}
			r.DirectMean, r.DirectStd = stats(d)
			r.AugMean, r.AugStd = stats(a)
			r.Gain, _ = stats(gains)
			r.DirectPixAcc, _ = stats(dp)
			r.AugPixAcc, _ = stats(ap)
			r.DirectSeeds, r.AugSeeds, r.Paired = len(d), len(a), len(gains)
			rows = append(rows, r)
		}
	}
	return rows
}

// WriteTable5Markdown writes Table 5 at this scale beside the paper's published values.
func WriteTable5Markdown(w io.Writer, p Preset, outs []*RunOutcome) error {
	rows := Table5Rows(p, outs)
	if _, err := fmt.Fprintf(w, "Table 5 at this scale: %s. mIoU %% (mean ± std over seeds; pixel accuracy in brackets); published values are the paper's, on VOC and OpenEDS.\n\n", p.Description); err != nil {
		return err
	}
	if _, err := fmt.Fprintln(w, "| backbone | direct / augmented | this project: direct | this project: augmented | augmented − direct (paired) | published OpenEDS | published VOC |\n|---|---|--:|--:|--:|--:|--:|"); err != nil {
		return err
	}
	cell := func(mean, std, pix float64, n int) string {
		if n == 0 {
			return "not run"
		}
		return fmt.Sprintf("%.2f ± %.2f [%.1f] (%d)", mean, std, pix, n)
	}
	pub := func(ds, model, d, a string) string {
		x, y := PaperTable5(ds, model, d), PaperTable5(ds, model, a)
		if math.IsNaN(x) {
			return "-"
		}
		return fmt.Sprintf("%.2f / %.2f", x, y)
	}
	for _, r := range rows {
		gain := "-"
		if r.Paired > 0 {
			gain = fmt.Sprintf("%+.2f (%d)", r.Gain, r.Paired)
		}
		if _, err := fmt.Fprintf(w, "| %s | %s / %s | %s | %s | %s | %s | %s |\n", r.Model, r.Direct, r.Aug,
			cell(r.DirectMean, r.DirectStd, r.DirectPixAcc, r.DirectSeeds), cell(r.AugMean, r.AugStd, r.AugPixAcc, r.AugSeeds), gain,
			pub("OpenEDS", r.Model, r.Direct, r.Aug), pub("VOC", r.Model, r.Direct, r.Aug)); err != nil {
			return err
		}
	}
	return nil
}

// Fig6Panel draws a Fig. 6-style panel from two finished runs in dir/runs (their checkpoints): for each of the
// first n test images of the direct run's evaluation, the input, the ground truth, the direct and the augmented
// target's predicted masks, side by side, each pixel scale×scale. Mask colours are VOC's palette (background
// black, ignored pixels white). Both runs must be on the same data.
func Fig6Panel(backend backends.Backend, dir, directID, augID string, n, scale int, opts datasets.Options) (image.Image, error) {
	if n < 1 || scale < 1 {
		return nil, fmt.Errorf("fig6: %d images at scale %d: both must be positive", n, scale)
	}
	var preds [2][]int32
	var b *datasets.Batch
	var ds *datasets.Dataset
	for i, id := range []string{directID, augID} {
		l, err := train.Load(backend, filepath.Join(dir, "runs", id), opts)
		if err != nil {
			return nil, fmt.Errorf("fig6: run %s: %w", id, err)
		}
		if !l.Session.Cfg.Segmentation() {
			return nil, fmt.Errorf("fig6: run %s is not a segmentation run", id)
		}
		if i == 1 && l.Session.Cfg.Data != ds.Name {
			return nil, fmt.Errorf("fig6: runs %s and %s are on different data (%s, %s)", directID, augID, ds.Name, l.Session.Cfg.Data)
		}
		if _, err := l.RecalibrateBN(false); err != nil {
			return nil, fmt.Errorf("fig6: run %s: %w", id, err)
		}
		if b == nil {
			tl, err := l.TestLoader(l.Session.Cfg.TestLimit, n, l.Session.Cfg.Seed)
			if err != nil {
				return nil, fmt.Errorf("fig6: %w", err)
			}
			it := tl.Epoch(0)
			b, err = it.Next()
			it.Close()
			if err != nil {
				return nil, fmt.Errorf("fig6: %w", err)
			}
			ds = l.Data
		}
		if preds[i], err = l.Session.MaskPrediction(b); err != nil {
			return nil, fmt.Errorf("fig6: run %s: %w", id, err)
		}
	}
	H, W := b.Shape[1], b.Shape[2]
	const gap = 4
	tw, th := W*scale, H*scale
	img := image.NewRGBA(image.Rect(0, 0, 4*tw+3*gap, b.Size()*th+(b.Size()-1)*gap))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	pal := datasets.VOCPalette()
	maskColor := func(v int32) color.RGBA {
		if v == datasets.IgnoreIndex {
			return color.RGBA{255, 255, 255, 255}
		}
		return pal[v].(color.RGBA)
	}
	for k := range b.Size() {
		src, err := ds.Test.Image(b.Indices[k])
		if err != nil {
			return nil, fmt.Errorf("fig6: %w", err)
		}
		y0 := k * (th + gap)
		for y := range th {
			for x := range tw {
				py, px := y/scale, x/scale
				// The input as stored (the eval transform keeps square canvases at their size; others are
				// resampled to the grid).
				sy, sx := py*src.H/H, px*src.W/W
				var c color.RGBA
				if src.C == 1 {
					v := src.At(sx, sy, 0)
					c = color.RGBA{v, v, v, 255}
				} else {
					c = color.RGBA{src.At(sx, sy, 0), src.At(sx, sy, 1), src.At(sx, sy, 2), 255}
				}
				p := (k*H+py)*W + px
				img.SetRGBA(x, y0+y, c)
				img.SetRGBA(tw+gap+x, y0+y, maskColor(b.Masks[p]))
				img.SetRGBA(2*(tw+gap)+x, y0+y, maskColor(preds[0][p]))
				img.SetRGBA(3*(tw+gap)+x, y0+y, maskColor(preds[1][p]))
			}
		}
	}
	return img, nil
}
