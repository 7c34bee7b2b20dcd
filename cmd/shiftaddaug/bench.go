package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/gomlx/gomlx/backends"

	"github.com/shiftaddaug/shiftaddaug/datasets"
	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/pkg/hybrid"
	"github.com/shiftaddaug/shiftaddaug/pkg/models"
	"github.com/shiftaddaug/shiftaddaug/pkg/train"
)

func init() {
	register(&command{name: "bench", summary: "benchmarks: bench train (one training step), bench run (a whole run, timed)", run: runBench})
}

const benchUsage = `Usage: shiftaddaug bench SUBCOMMAND [flags]

  train --model M [--res R] [--batch B] [--steps N] [--aug] [--method base|shift|add] [--backend CONFIG]
        time the training step (target pass, with --aug also the 3x-wide augmented pass; label smoothing 0.1,
        Nesterov SGD with weight decay) on random inputs, as shared/bench/peer_torch.py; prints one JSON line.
  train --method netaug|augshift|augadd [--sharing S] [--sample random|max] [--batch B (128)] ...
        time the step train runs: the model's own width and expand lists, NetAug's per-layer draw each step
        (random) or the widest network (max), the method's weight sharing.
  run [train's flags]
        time a whole run as train runs it (data, channel sort, steps, BN recalibration, evaluation; nothing kept);
        prints one JSON line with the training epochs' and the rest's seconds.
`

func runBench(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(out, benchUsage)
		if len(args) == 0 {
			return fmt.Errorf("missing subcommand: train or run")
		}
		return nil
	}
	switch args[0] {
	case "train":
		return benchTrain(args[1:])
	case "run":
		return benchRun(args[1:])
	}
	return fmt.Errorf("unknown subcommand %q: want train or run", args[0])
}

// BenchAugWidth is the augmented twin's width multiplier in `bench train --aug`: 3x the target (mbv2-w0.35 ->
// w1.05), as shared/bench/peer_torch.py's twin.
const BenchAugWidth = 3.0

// benchResult is the JSON line `bench train` prints (design.md's contract: at least backend, model, res, batch,
// aug, s_per_step, img_per_s, peak_rss_mb).
type benchResult struct {
	Impl       string  `json:"impl"`
	Backend    string  `json:"backend"`
	Model      string  `json:"model"`
	Method     string  `json:"method"`
	Res        int     `json:"res"`
	Batch      int     `json:"batch"`
	Aug        bool    `json:"aug"`
	Classes    int     `json:"classes"`
	Steps      int     `json:"steps"`
	Warmup     int     `json:"warmup"`
	FirstStepS float64 `json:"first_step_s"` // includes graph building and compilation
	SPerStep   float64 `json:"s_per_step"`
	// CPUSPerStep is the process's CPU time (user+system, all threads) per timed step: with other work on the
	// machine it is steadier than the wall time; CPUSPerStep/SPerStep is the parallelism obtained.
	CPUSPerStep float64 `json:"cpu_s_per_step"`
	ImgPerS     float64 `json:"img_per_s"`
	PeakRSSMB   float64 `json:"peak_rss_mb"`
	// WideChannelRatio is the augmented net's channel count over the target's (summed over every masked layer).
	WideChannelRatio float64 `json:"wide_channel_ratio,omitempty"`
	// Sharing and Sample describe the real augmented step (--method netaug|augshift|augadd).
	Sharing    string `json:"sharing,omitempty"`
	Sample     string `json:"sample,omitempty"`
	GoVersion  string `json:"go"`
	GOMAXPROCS int    `json:"gomaxprocs"`
}

func benchTrain(args []string) error {
	fs := newFlags("bench train", "--model M [--res R] [--batch B] [--steps N] [--aug] [--method base|shift|add|netaug|augshift|augadd] [--sharing S] [--sample random|max] [--backend CONFIG]")
	model := fs.String("model", "mbv2-w0.35", "model: "+strings.Join(arch.PaperModels, ", "))
	res := fs.Int("res", 96, "input resolution")
	batch := fs.Int("batch", 0, "batch size (default: 64 for base, shift and add, as scripts/bench; 128 for the augmented methods, as train)")
	steps := fs.Int("steps", 5, "timed steps (after the warm-up)")
	warmup := fs.Int("warmup", 2, "untimed warm-up steps (the first compiles the graph)")
	aug := fs.Bool("aug", false, "also run the augmented twin at 3x width each step (NetAug's widest net)")
	method := fs.String("method", "base", "base, shift or add (the target's operator; --aug adds the fixed 3x twin), or netaug, augshift or augadd: the step train runs, with the model's own width and expand lists")
	sharing := fs.String("sharing", "", "weight sharing of the augmented methods, as train --sharing (default: the method's, as train)")
	sample := fs.String("sample", "random", "augmented methods: random (NetAug's per-layer draw each step, as train) or max (the widest network every step)")
	classes := fs.Int("classes", arch.DefaultClasses, "classifier classes")
	backendCfg := fs.String("backend", "", "backend config as in $GOMLX_BACKEND, e.g. shiftaddaug:dotgeneral_small (default: chosen automatically)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the timed steps to this file")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	switch {
	case *res <= 0:
		return fmt.Errorf("--res %d: must be positive", *res)
	case *batch < 0:
		return fmt.Errorf("--batch %d: must be positive", *batch)
	case *steps <= 0:
		return fmt.Errorf("--steps %d: must be positive", *steps)
	case *warmup < 1:
		return fmt.Errorf("--warmup %d: must be at least 1 (the first step compiles)", *warmup)
	case *classes < 2:
		return fmt.Errorf("--classes %d: need at least 2", *classes)
	}
	trainMethod, err := benchMethod(*method, *aug)
	if err != nil {
		return err
	}
	realStep := trainMethod == *method && *method != "base" && *method != "shift" && *method != "add"
	mode := models.SampleMax
	switch {
	case !realStep && (fs.Lookup("sample").Value.String() != "random" || *sharing != ""):
		return fmt.Errorf("--sample and --sharing apply to the augmented methods (netaug, augshift, augadd)")
	case *sample == "random":
		mode = models.SampleRandom
	case *sample != "max":
		return fmt.Errorf("unknown --sample %q: want random or max", *sample)
	}
	if *batch == 0 {
		*batch = 64
		if realStep {
			*batch = 128
		}
	}
	m, err := arch.Get(*model, *classes)
	if err != nil {
		return err
	}
	if min := m.MinRes(); *res < min {
		return fmt.Errorf("--res %d is too small for %s: its strides need at least %d", *res, m.Name, min)
	}

	var backend backends.Backend
	if *backendCfg != "" {
		backend, err = engine.NewWithConfig(*backendCfg)
	} else {
		backend, err = engine.New()
	}
	if err != nil {
		return fmt.Errorf("choosing the backend: %w", err)
	}
	defer backend.Finalize()

	cfg := train.DefaultConfig(*model, trainMethod)
	cfg.Res, cfg.Batch = *res, *batch
	cfg.Epochs, cfg.WarmupEpochs, cfg.StepsPerEpoch = 1, 0, *warmup+*steps
	cfg.LR = 0.05 // as the peer; the schedule does not change the cost of a step
	if *aug {
		cfg.AugWidth = []float64{1, BenchAugWidth}
		cfg.AugExpand = []float64{1}
	}
	if realStep {
		cfg.Sharing = train.DefaultSharing(trainMethod)
		if *sharing != "" {
			cfg.Sharing = *sharing
		}
		if _, err := hybrid.ParseSharing(cfg.Sharing); err != nil {
			return err
		}
		if err := cfg.Validate(); err != nil {
			return err
		}
	}
	s, err := train.NewSession(backend, cfg, *classes)
	if err != nil {
		return err
	}
	b := randomBatch(*batch, *res, *classes)

	r := benchResult{Impl: "shiftaddaug", Backend: backendLabel(backend), Model: *model, Method: *method, Res: *res,
		Batch: *batch, Aug: *aug || realStep, Classes: *classes, Steps: *steps, Warmup: *warmup,
		GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	if *aug {
		r.WideChannelRatio = wideChannelRatio(s.Net)
	}
	if realStep {
		r.Sharing, r.Sample = cfg.Sharing, *sample
	}
	t0 := time.Now()
	for i := 0; i < *warmup; i++ {
		if _, err := s.TrainStep(b, mode); err != nil {
			return err
		}
		if i == 0 {
			r.FirstStepS = round4(time.Since(t0).Seconds())
		}
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	t1, c1 := time.Now(), cpuSeconds()
	for i := 0; i < *steps; i++ {
		if _, err := s.TrainStep(b, mode); err != nil {
			return err
		}
	}
	dt := time.Since(t1).Seconds() / float64(*steps)
	r.SPerStep = round4(dt)
	r.CPUSPerStep = round4((cpuSeconds() - c1) / float64(*steps))
	r.ImgPerS = round2(float64(*batch) / dt)
	r.PeakRSSMB = peakRSSMB()
	return printJSONLine(r)
}

// benchMethod maps --method and --aug to the training method whose step is timed.
func benchMethod(method string, aug bool) (string, error) {
	names := map[string][2]string{"base": {"base", "netaug"}, "shift": {"shift", "augshift"}, "add": {"add", "augadd"}}
	m, ok := names[method]
	if !ok {
		switch method {
		case "netaug", "augshift", "augadd":
			if aug {
				return "", fmt.Errorf("--aug is the fixed twin of base, shift or add; --method %s already runs its augmented step", method)
			}
			return method, nil
		}
		return "", fmt.Errorf("unknown --method %q: want base, shift, add, netaug, augshift or augadd", method)
	}
	if aug {
		return m[1], nil
	}
	return m[0], nil
}

// backendLabel names the backend in the result: the registered name, with its options.
func backendLabel(b backends.Backend) string {
	if e, ok := b.(*engine.Backend); ok {
		return e.Label()
	}
	return b.String()
}

// randomBatch is a batch of standard-normal NHWC images and uniform labels (as the peer's randn/randint).
func randomBatch(n, res, classes int) *datasets.Batch {
	rng := rand.New(rand.NewPCG(0, 1))
	img := make([]float32, n*res*res*3)
	for i := range img {
		img[i] = float32(rng.NormFloat64())
	}
	lab := make([]int32, n)
	for i := range lab {
		lab[i] = int32(rng.IntN(classes))
	}
	return &datasets.Batch{Images: img, Shape: [4]int{n, res, res, 3}, Layout: datasets.NHWC, Labels: lab}
}

// wideChannelRatio is the widest augmented net's channels over the target's, summed over every masked layer.
func wideChannelRatio(n *models.Net) float64 {
	sum := func(m []float32) float64 {
		var s float64
		for _, v := range m {
			s += float64(v)
		}
		return s
	}
	rng := rand.New(rand.NewPCG(0, 0))
	return round4(sum(n.SampleMasks(rng, models.SampleMax)) / sum(n.SampleMasks(rng, models.SampleMin)))
}

// peakRSSMB is the process's peak resident set size (getrusage; Linux reports KiB) in MiB.
func peakRSSMB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return round2(float64(ru.Maxrss) / 1024)
}

// cpuSeconds is the process's user+system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }
func round4(v float64) float64 { return float64(int64(v*10000+0.5)) / 10000 }

// runBenchResult is the JSON line `bench run` prints: a whole run's wall time, split into the training epochs (channel
// sort, data pipeline and steps) and the rest (batch-norm recalibration, evaluation, start-up and compilation).
type runBenchResult struct {
	Impl      string  `json:"impl"`
	Backend   string  `json:"backend"`
	Model     string  `json:"model"`
	Method    string  `json:"method"`
	Sharing   string  `json:"sharing,omitempty"`
	Res       int     `json:"res"`
	Batch     int     `json:"batch"`
	Epochs    int     `json:"epochs"`
	Steps     int     `json:"steps"`
	EvalEvery int     `json:"eval_every,omitempty"`
	Seconds   float64 `json:"seconds"`
	TrainS    float64 `json:"train_s"`
	OtherS    float64 `json:"eval_and_other_s"`
	// EvalS is the part of OtherS spent recalibrating batch norm and evaluating after epochs.
	EvalS      float64 `json:"eval_s"`
	CPUSeconds float64 `json:"cpu_s"`
	FinalAcc   float64 `json:"final_acc"`
	PeakRSSMB  float64 `json:"peak_rss_mb"`
	GoVersion  string  `json:"go"`
	GOMAXPROCS int     `json:"gomaxprocs"`
}

// benchRun times a whole run as `train` runs it (same flags; nothing is kept on disk).
func benchRun(args []string) error {
	cfg, dir, _, err := parseTrainFlags("bench run", args)
	if err != nil {
		return err
	}
	if dir != "" {
		return fmt.Errorf("bench run keeps nothing: --dir is for train")
	}
	backend, err := engine.New()
	if err != nil {
		return err
	}
	defer backend.Finalize()
	t0, c0 := time.Now(), cpuSeconds()
	res, err := train.Run(backend, cfg, train.RunOptions{Progress: os.Stderr})
	if err != nil {
		return err
	}
	r := runBenchResult{Impl: "shiftaddaug", Backend: backendLabel(backend), Model: cfg.Model, Method: cfg.Method,
		Sharing: res.Config.Sharing, Res: cfg.Res, Batch: cfg.Batch, Epochs: cfg.Epochs, EvalEvery: cfg.EvalEvery,
		Steps: res.Config.StepsPerEpoch * cfg.Epochs, FinalAcc: res.FinalAcc, GoVersion: runtime.Version(),
		GOMAXPROCS: runtime.GOMAXPROCS(0)}
	r.Seconds = round2(time.Since(t0).Seconds())
	r.CPUSeconds = round2(cpuSeconds() - c0)
	for _, h := range res.History {
		r.TrainS += h.Seconds
		r.EvalS += h.EvalSeconds
	}
	r.EvalS = round2(r.EvalS)
	r.TrainS = round2(r.TrainS)
	r.OtherS = round2(r.Seconds - r.TrainS)
	r.PeakRSSMB = peakRSSMB()
	return printJSONLine(r)
}

// printJSONLine writes v as the one JSON line a bench subcommand prints.
func printJSONLine(v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, string(line))
	return nil
}
