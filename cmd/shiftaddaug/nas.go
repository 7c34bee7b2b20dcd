package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/backends"

	"github.com/shiftaddaug/shiftaddaug/datasets"
	"github.com/shiftaddaug/shiftaddaug/kernels/engine"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/pkg/experiments"
	"github.com/shiftaddaug/shiftaddaug/pkg/nas"
	"github.com/shiftaddaug/shiftaddaug/pkg/train"
)

func init() {
	register(&command{name: "nas", summary: "two-stage architecture search (SuperNet -> SubNet -> TargetNet) under an energy/latency budget", run: runNAS})
}

const nasUsage = `Usage: shiftaddaug nas SUBCOMMAND [flags]

  search --budget-energy MJ --budget-latency MS --out DIR [--data D --res R[,R...] --method X --generations G
         --population P --parents F --mutate-prob F --proxy-epochs E --proxy-train-limit N --proxy-test-limit N --seed S]
         Evolutionary search over a MobileNetV2-style SuperNet (per stage depth, kernel 3/5/7, expand ratio; width
         multiplier; resolution) and Table 2's augmentation (width/expand multiples, mutation start/stop). Each
         candidate is a deep SubNet whose first blocks per stage form the TargetNet; the TargetNet must meet both
         budgets (sim, with the deployed method's operators); the rest of the SubNet is depth augmentation. Fitness
         is the target's test accuracy after a short proxy training. Progress per generation; rerun with the same
         --out to resume. Writes DIR/best_target.json and DIR/best_subnet.json (for 'train --arch FILE'), DIR/best.json
         (genome, costs, accuracy, which SubNet blocks are depth augmentation) and DIR/state.json.

  table6 --search DIR [--run RUNDIR]... [--data NAME]
         Table 6: the paper's rows (published, not rerun) and the best target of the search in DIR with its
         Mult/Shift/Add counts and MACs (pkg/arch, at its resolution), and the final accuracy of each training run
         of it (a train --dir), one row per run.
`

func runNAS(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(out, nasUsage)
		if len(args) == 0 {
			return fmt.Errorf("missing subcommand: search")
		}
		return nil
	}
	switch args[0] {
	case "search":
		return nasSearch(args[1:])
	case "table6":
		return nasTable6(args[1:])
	}
	return fmt.Errorf("unknown subcommand %q: want search or table6", args[0])
}

// nasTable6 prints Table 6 with the searched target's rows.
func nasTable6(args []string) error {
	fs := newFlags("nas table6", "--search DIR [--run RUNDIR]...")
	search := fs.String("search", "", "directory of a finished 'nas search' (its best_target.json); required")
	var runs stringList
	fs.Var(&runs, "run", "a 'train --dir' run of the searched target (repeatable): its final accuracy and method make a row")
	data := fs.String("data", "fashion-mnist", "dataset the search and runs used (a label for the rows)")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if *search == "" {
		return fmt.Errorf("--search DIR is required: the --out of a finished 'nas search'")
	}
	rows, err := experiments.SearchedRows(*search, runs, *data)
	if err != nil {
		return err
	}
	experiments.WriteTable6Markdown(out, rows)
	return nil
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// nasBest is DIR/best.json: what the search found, beyond the two model files.
type nasBest struct {
	Target     string     `json:"target"`
	SubNet     string     `json:"subnet"`
	Method     string     `json:"method"`
	Genome     nas.Genome `json:"genome"`
	Cost       nas.Cost   `json:"cost"`
	Budget     nas.Budget `json:"budget"`
	Accuracy   float64    `json:"proxy_accuracy"`
	DepthAug   []string   `json:"depth_aug_blocks"` // SubNet blocks that are not in the target
	Generation int        `json:"generations"`
	// Train is the train command line (data and schedule left to the user) that trains the best candidate with
	// the augmentation the genome chose, as the proxy did, and exports its target.
	Train string `json:"train_command"`
}

func nasSearch(args []string) error {
	fs := newFlags("nas search", "--budget-energy MJ --budget-latency MS --out DIR [flags]")
	energy := fs.Float64("budget-energy", 0, "energy budget of the target in mJ (sim, batch 1); required")
	latency := fs.Float64("budget-latency", 0, "latency budget of the target in ms (sim, batch 1); required")
	outDir := fs.String("out", "", "directory for the search state and the best architecture; required (rerun to resume)")
	data := fs.String("data", "fashion-mnist", "dataset of the proxy training")
	resList := fs.String("res", "32", "input resolution, or a comma-separated list to search over")
	method := fs.String("method", "augshift", "training method of the proxy: "+strings.Join(arch.TrainingMethods, ", ")+" (its deployed operator is the target's)")
	gens := fs.Int("generations", 4, "generations (the first is the random initial population)")
	pop := fs.Int("population", 8, "population size")
	parents := fs.Float64("parents", 0.25, "fraction of each population kept as parents of the next")
	mutProb := fs.Float64("mutate-prob", 0.1, "probability that a mutation redraws each gene")
	proxyEpochs := fs.Int("proxy-epochs", 1, "epochs of each candidate's proxy training")
	proxyTrain := fs.Int("proxy-train-limit", 1000, "training images of the proxy training (seeded subset)")
	proxyTest := fs.Int("proxy-test-limit", 500, "test images the proxy accuracy is measured on")
	seed := fs.String("seed", "1", "random seed of the search and of the proxy trainings")
	blockTypes := fs.String("block-types", "", "comma-separated operators a target block may take: mult, shift, add (empty: the method's alone; more than one searches hybrid targets, Table 6, trained with train --keep-ops)")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if *outDir == "" {
		return fmt.Errorf("--out DIR is required: where the search state and best architecture go")
	}
	budget := nas.Budget{EnergyMJ: *energy, LatencyMS: *latency}
	if err := budget.Validate(); err != nil {
		return fmt.Errorf("--budget-energy/--budget-latency: %w", err)
	}
	s, err := strconv.ParseUint(*seed, 10, 64)
	if err != nil {
		return fmt.Errorf("--seed %q: not a non-negative integer", *seed)
	}
	var resolutions []int
	for _, f := range strings.Split(*resList, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || r <= 0 {
			return fmt.Errorf("--res %q: want positive integers separated by commas", *resList)
		}
		resolutions = append(resolutions, r)
	}
	tm, err := train.ParseMethod(*method)
	if err != nil {
		return err
	}
	if *proxyEpochs < 1 || *proxyTrain < 0 || *proxyTest < 0 {
		return fmt.Errorf("--proxy-epochs must be positive and the proxy limits non-negative")
	}
	ds, err := datasets.Open(*data, datasets.Options{})
	if err != nil {
		return err
	}
	space := nas.DefaultSpace(ds.NumClasses, tm.Deploy)
	space.Resolutions = resolutions
	if *blockTypes != "" {
		space.BlockTypes = nil
		for _, f := range strings.Split(*blockTypes, ",") {
			op, err := arch.ParseOp(strings.TrimSpace(f))
			if err != nil {
				return fmt.Errorf("--block-types %q: %w", *blockTypes, err)
			}
			space.BlockTypes = append(space.BlockTypes, op)
		}
	}
	opts := nas.DefaultOptions(space, budget)
	opts.Population, opts.Generations, opts.ParentsFraction, opts.MutateProb, opts.Seed, opts.Dir = *pop, *gens, *parents, *mutProb, s, *outDir
	backend, err := engine.New()
	if err != nil {
		return err
	}
	proxy := proxyArgs{method: *method, data: *data, epochs: *proxyEpochs, trainLimit: *proxyTrain, testLimit: *proxyTest, seed: *seed,
		keepOps: hybridSpace(space)}
	opts.Progress = func(r nas.GenerationRecord) {
		fmt.Fprintf(out, "generation %d/%d: best proxy accuracy %.2f%% (nas-%s, %.4f mJ, %.4f ms), %d candidates evaluated\n",
			r.Generation, opts.Generations, 100*r.Best.Fitness, r.Best.Genome.ID(), r.Best.Cost.EnergyMJ, r.Best.Cost.LatencyMS, r.Evaluations)
	}
	if _, err := os.Stat(filepath.Join(*outDir, nas.StateFile)); err == nil {
		fmt.Fprintf(out, "resuming the search in %s\n", *outDir)
	}
	res, err := nas.Search(context.Background(), opts, proxy.fitness(backend))
	if err != nil {
		return err
	}
	return writeNASBest(*outDir, space, budget, *method, res)
}

// proxyArgs is the short training that scores a candidate: train's own flags, so it runs what train runs.
type proxyArgs struct {
	method, data, seed            string
	epochs, trainLimit, testLimit int
	// keepOps trains each block with the operator its genome chose (a hybrid space) rather than the method's.
	keepOps bool
}

// hybridSpace reports whether a target block may take an operator other than the deployed method's.
func hybridSpace(s nas.Space) bool {
	for _, op := range s.BlockTypes {
		if op != s.Deploy.BlockOp() {
			return true
		}
	}
	return false
}

func (p proxyArgs) fitness(backend backends.Backend) nas.Fitness {
	return func(_ context.Context, c nas.Candidate) (float64, error) {
		cfg, err := p.config(c)
		if err != nil {
			return 0, err
		}
		r, err := train.Run(backend, cfg, train.RunOptions{})
		if err != nil {
			return 0, err
		}
		fmt.Fprintf(errOut, "  %s: %.4f mJ, %.4f ms, proxy accuracy %.2f%%\n", c.Target.Name, c.Cost.EnergyMJ, c.Cost.LatencyMS, 100*r.FinalAcc)
		return r.FinalAcc, nil
	}
}

// config is the proxy training of a candidate. With an augmented method it trains what the genome describes
// (§3.4): the SubNet, its depth-augmentation blocks phased out of the target (train's --depth-aug), the genome's
// width and expand multiples as the augmentation lists (1, the midpoint, the multiple: evenly spaced as NetAug's),
// and, for a multiplication-free target, block mutation over the genome's window. With a direct method it trains
// the target alone. The fitness is the target's accuracy either way.
func (p proxyArgs) config(c nas.Candidate) (train.Config, error) {
	augmented := false
	if tm, err := train.ParseMethod(p.method); err == nil {
		augmented = tm.Augmented
	}
	model := c.Target
	if augmented && c.Net != nil && c.Net.SubNet.DepthAugBlocks() > 0 {
		model = c.Net.SubNet
	}
	if err := arch.Register(model); err != nil {
		return train.Config{}, err
	}
	args := []string{"--model", model.Name, "--method", p.method, "--data", p.data, "--res", strconv.Itoa(c.Genome.Res),
		"--epochs", strconv.Itoa(p.epochs), "--warmup", "0", "--train-limit", strconv.Itoa(p.trainLimit),
		"--test-limit", strconv.Itoa(p.testLimit), "--seed", p.seed}
	if p.trainLimit > 0 {
		args = append(args, "--bn-calib", strconv.Itoa(min(p.trainLimit, train.DefaultConfig("", "").BNCalib)))
	}
	if augmented {
		if model != c.Target {
			args = append(args, "--depth-aug")
		}
		if p.method != "netaug" {
			args = append(args, "--mutation-start", fmt.Sprint(c.Genome.Aug.MutationStart),
				"--mutation-stop", fmt.Sprint(c.Genome.Aug.MutationStop))
		}
	}
	cfg, _, _, err := parseTrainFlags("nas search (proxy)", args)
	if err != nil {
		return train.Config{}, err
	}
	cfg.KeepOps = p.keepOps
	if augmented {
		w, e := c.Genome.Aug.Width, c.Genome.Aug.Expand
		cfg.AugWidth, cfg.AugExpand = []float64{1, (1 + w) / 2, w}, []float64{1, (1 + e) / 2, e}
	}
	return cfg, nil
}

// fullRecipeCommand is the train command of the proxy's configuration without its short schedule: the file it
// trains (the SubNet under depth augmentation, else the target) and the augmentation flags.
func fullRecipeCommand(cfg train.Config, target, subnet string) string {
	file := target
	if cfg.DepthAug {
		file = subnet
	}
	cmd := fmt.Sprintf("shiftaddaug train --arch %s --method %s --res %d", file, cfg.Method, cfg.Res)
	if cfg.DepthAug {
		cmd += " --depth-aug"
	}
	if cfg.KeepOps {
		cmd += " --keep-ops"
	}
	if cfg.MutationStop > 0 {
		cmd += fmt.Sprintf(" --mutation-start %g --mutation-stop %g", cfg.MutationStart, cfg.MutationStop)
	}
	list := func(l []float64) string {
		s := make([]string, len(l))
		for i, v := range l {
			s[i] = strconv.FormatFloat(v, 'g', -1, 64)
		}
		return strings.Join(s, ",")
	}
	if len(cfg.AugWidth) > 0 {
		cmd += " --aug-width " + list(cfg.AugWidth) + " --aug-expand " + list(cfg.AugExpand)
	}
	return cmd
}

// writeNASBest writes the best candidate's target and SubNet (pkg/arch files) and best.json, and prints a JSON line.
func writeNASBest(dir string, space nas.Space, budget nas.Budget, method string, res *nas.Result) error {
	n, err := space.Decode(res.Best.Genome)
	if err != nil {
		return err
	}
	tp, sp := filepath.Join(dir, "best_target.json"), filepath.Join(dir, "best_subnet.json")
	if err := arch.Save(tp, n.Target()); err != nil {
		return err
	}
	if err := arch.Save(sp, n.SubNet); err != nil {
		return err
	}
	b := nasBest{Target: tp, SubNet: sp, Method: method, Genome: res.Best.Genome, Cost: res.Best.Cost, Budget: budget,
		Accuracy: res.Best.Fitness, Generation: len(res.History), DepthAug: []string{}}
	c, err := space.NewCandidate(res.Best.Genome)
	if err != nil {
		return err
	}
	cfg, err := proxyArgs{method: method, data: "fashion-mnist", epochs: 1, seed: "1", keepOps: hybridSpace(space)}.config(c)
	if err != nil {
		return err
	}
	b.Train = fullRecipeCommand(cfg, tp, sp)
	for i, aug := range n.DepthAug {
		if aug {
			b.DepthAug = append(b.DepthAug, n.SubNet.Blocks[i].Name)
		}
	}
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	if err := arch.WriteFileAtomic(filepath.Join(dir, "best.json"), append(data, '\n')); err != nil {
		return err
	}
	return printJSONLine(map[string]any{"best_target": tp, "best_subnet": sp, "proxy_accuracy": res.Best.Fitness,
		"energy_mj": res.Best.Cost.EnergyMJ, "latency_ms": res.Best.Cost.LatencyMS, "generations": len(res.History)})
}
