package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/shiftaddaug/shiftaddaug/datasets"
	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/pkg/train"
)

func init() {
	register(&command{name: "train", summary: "train a model with one of the six methods (base, netaug, shift, augshift, add, augadd)", run: runTrain})
}

func runTrain(args []string) error {
	cfg, dir, resume, err := parseTrainFlags("train", args)
	if err != nil {
		return err
	}
	backend, err := engine.New()
	if err != nil {
		return err
	}
	res0, err := train.Run(backend, cfg, train.RunOptions{Dir: dir, Resume: resume, Progress: os.Stderr})
	if err != nil {
		return err
	}
	summary := map[string]any{"model": cfg.Model, "method": cfg.Method, "data": cfg.Data, "res": cfg.Res, "epochs": cfg.Epochs,
		"final_acc": res0.FinalAcc, "best_acc": res0.BestAcc, "params": res0.Params, "seconds": res0.Seconds, "backend": res0.Backend}
	if cfg.Segmentation() {
		summary["task"], summary["final_miou"], summary["best_miou"] = cfg.Task, res0.FinalMIoU, res0.BestMIoU
	}
	return printJSONLine(summary)
}

// segDefaults applies --task: segmentation's own defaults for the flags not given (the derived fashion-seg
// task at its 64x64 canvases, no label smoothing, the joint segmentation transforms instead of --augment's).
func segDefaults(fs *flag.FlagSet, cfg *train.Config, task string) error {
	if task != train.TaskSeg {
		return fmt.Errorf("--task %q: want seg (or no --task for classification)", task)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg.Task = task
	if !set["data"] {
		cfg.Data = datasets.FashionSegName
	}
	if !set["res"] {
		cfg.Res = 64
	}
	if !set["label-smoothing"] {
		cfg.LabelSmoothing = 0
	}
	if set["augment"] {
		return fmt.Errorf("--augment with --task seg: segmentation uses its joint image/mask transforms (random scale, crop, flip); drop --augment")
	}
	cfg.Augment = ""
	return nil
}

// parseTrainFlags reads train's flags (also those of `bench run`, which runs what train runs) into a validated
// configuration, with the run directory and whether to resume.
func parseTrainFlags(name string, args []string) (train.Config, string, bool, error) {
	var none train.Config
	d := train.DefaultConfig("mbv2-w0.35", "augshift")
	fs := newFlags(name, "--model M --method X --data NAME [flags]")
	task := fs.String("task", "", "seg: semantic segmentation (an LR-ASPP head, per-pixel loss, mIoU; --data fashion-seg, mnist-seg, voc:PATH or openeds:PATH; defaults --data fashion-seg, --res 64, --label-smoothing 0); empty: classification")
	model := fs.String("model", d.Model, "model: "+strings.Join(arch.PaperModels, ", "))
	archFile := fs.String("arch", "", "a model description file (pkg/arch JSON, as `nas search` writes) instead of --model; --res defaults to the file's")
	method := fs.String("method", d.Method, "training method: "+strings.Join(arch.TrainingMethods, ", "))
	data := fs.String("data", d.Data, "dataset: fashion-mnist, mnist, cifar10, cifar100, imagefolder:PATH (with --task seg: fashion-seg, mnist-seg, voc:PATH, openeds:PATH)")
	res := fs.Int("res", d.Res, "input resolution")
	epochs := fs.Int("epochs", d.Epochs, "epochs")
	batch := fs.Int("batch", d.Batch, "batch size")
	lr := fs.Float64("lr", 0, "peak learning rate after warm-up (0: NetAug's, 0.025 per 128 images, scaled with --batch)")
	warmup := fs.Int("warmup", d.WarmupEpochs, "warm-up epochs")
	wd := fs.Float64("wd", d.WeightDecay, "weight decay (weights only)")
	alpha := fs.Float64("alpha", d.Alpha, "weight of the augmented loss (Eq. 3; NetAug uses 1)")
	smoothing := fs.Float64("label-smoothing", d.LabelSmoothing, "label smoothing")
	stopW := fs.Int("stop-width-aug", 0, "last epochs with width augmentation off (expand only), as NetAug")
	augWidth := fs.String("aug-width", "", "augmented methods: comma-separated width multipliers, the first 1 (the target), e.g. 1,1.8,2.6 (empty: the model's own)")
	augExpand := fs.String("aug-expand", "", "augmented methods: comma-separated expand-ratio multipliers, the first 1 (empty: the model's own)")
	trainLimit := fs.Int("train-limit", 0, "use a seeded subset of this many training images (0: all)")
	testLimit := fs.Int("test-limit", 0, "use a seeded subset of this many test images (0: all)")
	balanced := fs.Bool("balanced", false, "with --train-limit N: a class-balanced training subset, N/classes images per class, drawn with --subset-seed (the same for every method and --seed)")
	subsetSeed := fs.String("subset-seed", "0", "seed of the --balanced training subset")
	augment := fs.String("augment", "netaug", "training augmentation: netaug (NetAug's random-resized crop, flip, colour jitter), padcrop (DeepShift/AdderNet's CIFAR recipe: pad, random crop, flip; small images at their padded size) or none")
	calib := fs.Int("bn-calib", d.BNCalib, "training images to recalibrate batch norm on before each evaluation")
	evalEvery := fs.Int("eval-every", 0, "evaluate the target every N epochs and after the last (0 or 1: every epoch)")
	mutStart := fs.Float64("mutation-start", 0, "block mutation (§3.4): the fraction of training at which the target's first layer turns multiplication-free (the target starts multiplicative; with --mutation-stop)")
	mutStop := fs.Float64("mutation-stop", 0, "block mutation: the fraction of training by which every target layer, shallow to deep, is multiplication-free")
	keepOps := fs.Bool("keep-ops", false, "with --arch: train the file's own per-layer operators (a hybrid Mult/Shift/Add target, Table 6) instead of the method's; the method then only says whether training is augmented")
	depthAug := fs.Bool("depth-aug", false, "depth augmentation (§3.4): one extra residual block per stage, trained in the augmented network, phased out of the target one by one, never exported (augmented methods)")
	depthAugStop := fs.Float64("depth-aug-stop", 0, "with --depth-aug: the fraction of training by which every depth-augmentation block has left the target (0: 0.5)")
	seed := fs.String("seed", "1", "random seed")
	dir := fs.String("dir", "", "run directory for checkpoints, state.json and metrics.jsonl (empty: nothing kept)")
	resume := fs.Bool("resume", false, "continue the run in --dir from its last finished epoch")
	sharing := fs.String("sharing", "", "how MF slices take shared weights: plain, hws (Eq. 5), linear, linear-skip, piecewise (ShiftAddNAS), kl, none (Tables 7-10; default: hws for augshift, plain otherwise; HWS does not train augadd with the adder recipe here, see README)")
	augMF := fs.Bool("aug-mf", false, "augmented channels multiplication-free too (Table 7's aug with shift)")
	sortScope := fs.String("sort-scope", "", "where the channel sort may move channels: across (NetAug's: across the target boundary) or within (each side of the boundary sorted on its own; a channel never changes operator)")
	noReorder := fs.Bool("no-reorder", false, "switch off NetAug's channel sorting at each epoch of width augmentation")
	sortMomentum := fs.String("sort-momentum", "reset", "what the channel sort does with the momentum of moved channels: reset (move it with the channel, zero it where a channel crossed the target boundary), follow (move it), netaug (leave it in place, as NetAug)")
	adderRecipe := fs.String("adder-recipe", string(train.AdderLarge), "Add layers of add and augadd: large (adder weights N(0, 4²), adaptive-gradient η 4), addernet (AdderNet's N(0, 1), η 0.2) or kaiming (kaiming-uniform weights, η 0.2; this tool's setting before issue 13)")
	adderScale := fs.String("adder-scale", "", "where AdderNet's adaptive gradient scaling acts in augadd: call (each pass's gradient on its own, the default) or step (once on each adder weight's gradient summed over the two passes, α-weighted); the same for add")
	exactAugShift := fs.Bool("exact-aug-shift", false, "augmented pass of Shift layers as Eq. 4 is written (the target block a Shift operator with its inputs rounded to 16.16 fixed point, the rest multiplied, concatenated) instead of the default fused multiplication by a partly quantised weight (the same up to that rounding, 1.4x faster)")
	adderEta := fs.Float64("adder-eta", 0, "η of AdderNet's adaptive gradient scaling of adder weights (0: the recipe's; AdderNet's is 0.2)")
	adderInit := fs.Float64("adder-init", 0, "standard deviation of the N(0, std²) initial adder weights (0: the recipe's)")
	if err := parseFlags(fs, args, false); err != nil {
		return none, "", false, err
	}
	if err := train.AdderRecipe(*adderRecipe).Validate(); err != nil {
		return none, "", false, fmt.Errorf("--adder-recipe: %w", err)
	}
	s, err := strconv.ParseUint(*seed, 10, 64)
	if err != nil {
		return none, "", false, fmt.Errorf("--seed %q: not a non-negative integer", *seed)
	}
	ss, err := strconv.ParseUint(*subsetSeed, 10, 64)
	if err != nil {
		return none, "", false, fmt.Errorf("--subset-seed %q: not a non-negative integer", *subsetSeed)
	}
	if err := datasets.CheckAugment(*augment); err != nil {
		return none, "", false, fmt.Errorf("--augment: %w", err)
	}
	if *balanced && *trainLimit == 0 {
		return none, "", false, fmt.Errorf("--balanced needs --train-limit N (N divisible by the dataset's class count)")
	}
	if _, err := train.ParseMethod(*method); err != nil {
		return none, "", false, err
	}
	if *archFile != "" {
		if err := useArchFile(fs, *archFile, model, res); err != nil {
			return none, "", false, err
		}
	}
	if _, err := arch.Get(*model, 0); err != nil {
		return none, "", false, err
	}
	if *resume && *dir == "" {
		return none, "", false, fmt.Errorf("--resume needs --dir")
	}
	cfg := d
	cfg.Model, cfg.Method, cfg.Data, cfg.Res, cfg.Epochs, cfg.Batch = *model, *method, *data, *res, *epochs, *batch
	cfg.LR, cfg.WarmupEpochs, cfg.WeightDecay, cfg.Alpha, cfg.LabelSmoothing = *lr, *warmup, *wd, *alpha, *smoothing
	if cfg.LR == 0 {
		cfg.LR = train.NetAugLR(cfg.Model, cfg.Batch)
	}
	cfg.StopWidthAugEpochs, cfg.TrainLimit, cfg.TestLimit, cfg.BNCalib, cfg.Seed = *stopW, *trainLimit, *testLimit, *calib, s
	cfg.EvalEvery = *evalEvery
	cfg.MutationStart, cfg.MutationStop, cfg.DepthAug, cfg.DepthAugStop = *mutStart, *mutStop, *depthAug, *depthAugStop
	if *keepOps && *archFile == "" {
		return none, "", false, fmt.Errorf("--keep-ops keeps the operators of a model file: give --arch FILE")
	}
	cfg.KeepOps = *keepOps
	for _, l := range []struct {
		flag, v string
		dst     *[]float64
	}{{"--aug-width", *augWidth, &cfg.AugWidth}, {"--aug-expand", *augExpand, &cfg.AugExpand}} {
		if l.v == "" {
			continue
		}
		for i, f := range strings.Split(l.v, ",") {
			m, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || math.IsNaN(m) || math.IsInf(m, 0) || m < 1 || (i == 0 && m != 1) {
				return none, "", false, fmt.Errorf("%s %q: want comma-separated multipliers >= 1, the first 1 (the target)", l.flag, l.v)
			}
			*l.dst = append(*l.dst, m)
		}
	}
	cfg.Sharing = *sharing
	if cfg.Sharing == "" && train.DefaultSharing(cfg.Method) != "plain" {
		cfg.Sharing = train.DefaultSharing(cfg.Method)
	}
	cfg.AugMF, cfg.NoReorder, cfg.SortScope = *augMF, *noReorder, *sortScope
	if *sortMomentum != string(train.MomentumResetCrossing) { // the default is stored as empty, as in older runs
		cfg.SortMomentum = train.SortMomentum(*sortMomentum)
	}
	cfg.Balanced, cfg.SubsetSeed, cfg.Augment = *balanced, ss, *augment
	if cfg.Augment == "netaug" {
		cfg.Augment = "" // the default: runs stored before the flag existed have the same configuration
	}
	if *adderRecipe != string(train.AdderLarge) { // the default is stored as empty
		cfg.AdderRecipe = train.AdderRecipe(*adderRecipe)
	}
	cfg.AdderEta, cfg.AdderInitStd, cfg.AdderScale = *adderEta, *adderInit, *adderScale
	cfg.ExactAugShift = *exactAugShift
	if *task != "" {
		if err := segDefaults(fs, &cfg, *task); err != nil {
			return none, "", false, err
		}
	}
	if err := cfg.Validate(); err != nil {
		return none, "", false, err
	}
	return cfg, *dir, *resume, nil
}

// useArchFile loads --arch FILE and makes its model the run's, registered under its name so that the training
// configuration (which names its model) builds it; --res follows the file unless given.
func useArchFile(fs *flag.FlagSet, path string, model *string, res *int) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["model"] {
		return fmt.Errorf("--arch and --model both given: the model comes from the file, drop --model")
	}
	m, err := arch.Load(path)
	if err != nil {
		return fmt.Errorf("--arch: %w", err)
	}
	if err := arch.Register(m); err != nil {
		return fmt.Errorf("--arch %s: %w", path, err)
	}
	*model = m.Name
	if !set["res"] && m.Res > 0 {
		*res = m.Res
	}
	return nil
}
