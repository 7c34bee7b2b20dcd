package train

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/shiftaddaug/shiftaddaug/datasets"
	"github.com/shiftaddaug/shiftaddaug/pkg/hybrid"
)

// Config is one training run: model, method, data size, recipe.
type Config struct {
	Model  string `json:"model"`
	Method string `json:"method"` // base, netaug, shift, augshift, add, augadd
	Data   string `json:"data"`
	// Task is TaskSeg for semantic segmentation (the model gets arch's LR-ASPP head, a segmentation dataset,
	// per-pixel loss, mIoU); empty for classification.
	Task   string `json:"task,omitempty"`
	Res    int    `json:"res"`
	Epochs int    `json:"epochs"`
	Batch  int    `json:"batch"`
	// TrainLimit and TestLimit use seeded subsets of the splits (0: all).
	TrainLimit int `json:"train_limit,omitempty"`
	TestLimit  int `json:"test_limit,omitempty"`
	// Balanced makes the training subset class-balanced: TrainLimit/classes images of each class, drawn with
	// SubsetSeed, so that it is the same for every method and Seed (see TrainIndices). Without it the subset is
	// drawn with Seed.
	Balanced   bool   `json:"balanced,omitempty"`
	SubsetSeed uint64 `json:"subset_seed,omitempty"`
	// Augment is the training augmentation, one of datasets.Augmentations: netaug (also ""), padcrop or none
	// (see datasets.Transforms).
	Augment string `json:"augment,omitempty"`
	// LR is the peak learning rate; WarmupEpochs of linear warm-up from LR·WarmupStartFactor precede the cosine.
	LR                float64 `json:"lr"`
	WarmupEpochs      int     `json:"warmup_epochs"`
	WarmupStartFactor float64 `json:"warmup_start_factor"`
	Momentum          float64 `json:"momentum"`
	WeightDecay       float64 `json:"weight_decay"`
	LabelSmoothing    float64 `json:"label_smoothing"`
	// Alpha weighs the augmented loss (Eq. 3); DefaultAlpha unless set.
	Alpha float64 `json:"alpha"`
	// StopWidthAugEpochs: for the last this-many epochs only expand ratios are augmented (NetAug stops width
	// augmentation for the last half).
	StopWidthAugEpochs int       `json:"stop_width_aug_epochs"`
	AugWidth           []float64 `json:"aug_width,omitempty"`
	AugExpand          []float64 `json:"aug_expand,omitempty"`
	// BNCalib is the number of training images the target's batch-norm statistics are recalibrated on before
	// every evaluation (NetAug: 16,000).
	BNCalib int `json:"bn_calib"`
	// EvalEvery evaluates the target (after the batch-norm recalibration) every EvalEvery epochs and after the last
	// one; 0 and 1 evaluate every epoch. It changes what a run measures along the way, never how it trains.
	EvalEvery int `json:"eval_every,omitempty"`
	// NoReorder switches off NetAug's channel sorting at each epoch of width augmentation.
	NoReorder bool `json:"no_reorder,omitempty"`
	// SortMomentum is what the sort does with the momentum of the channels it moves (see SortMomentum; empty:
	// MomentumResetCrossing).
	SortMomentum SortMomentum `json:"sort_momentum,omitempty"`
	// SortScope is where the sort may move channels: SortAcross (NetAug's: across the target boundary) or
	// SortWithin (each side of it sorted on its own); empty: SortAcross.
	SortScope string `json:"sort_scope,omitempty"`
	Seed      uint64 `json:"seed"`
	// StepsPerEpoch is filled in by the runner from the data (needed by the schedule).
	StepsPerEpoch int `json:"steps_per_epoch"`
	// Sharing is how the multiplication-free slices take their weights from the shared ones: "plain" (shared
	// as they are), "hws" (heterogeneous weight sharing, Eq. 5) or "linear" (the frozen FC only).
	Sharing string `json:"sharing,omitempty"`
	// AugMF makes the augmented channels multiplication-free too (Table 7's "aug with shift").
	AugMF bool `json:"aug_mf,omitempty"`
	// AdderRecipe is how the Add layers (add, augadd) are initialised and stepped: "" (AdderLarge, the default),
	// AdderNetRecipe or AdderKaiming. AdderEta and AdderInitStd, when positive, override its η and initial
	// weight standard deviation.
	AdderRecipe  AdderRecipe `json:"adder_recipe,omitempty"`
	AdderEta     float64     `json:"adder_eta,omitempty"`
	AdderInitStd float64     `json:"adder_init_std,omitempty"`
	// AdderScale is where AdderNet's adaptive gradient scaling acts: AdderScaleCall ("", the default) per operator
	// call, each pass's gradient normalised on its own, or AdderScaleStep once per step on each adder weight's
	// gradient summed over the passes (α-weighted). The two are the same for add.
	AdderScale string `json:"adder_scale,omitempty"`
	// ExactAugShift runs the augmented pass of Shift layers as Eq. 4 is written (hybrid.Operators.ExactAugShift):
	// the target block a Shift operator of its own, its input channels rounded to fixed point. The default fuses
	// the pass into one multiplication by a partly quantised weight, leaving out that rounding (under 2^-16),
	// about 1.4x faster; runs stored before the fused pass existed (2026-12-03) were exact.
	ExactAugShift bool `json:"exact_aug_shift,omitempty"`
	// MutationStart and MutationStop turn on block mutation (§3.4): the target starts multiplicative and its
	// layers (stem, blocks, head convs, in execution order) turn multiplication-free one by one between these
	// fractions of training; after MutationStop the target is the method's. Both 0: off.
	MutationStart float64 `json:"mutation_start,omitempty"`
	MutationStop  float64 `json:"mutation_stop,omitempty"`
	// DepthAug adds depth augmentation (§3.4) to the model: one residual block after each stage
	// (arch.Model.WithDepthAug), trained inside the augmented network and phased out of the target one by one,
	// shallow to deep, evenly until DepthAugStop (a fraction of training; 0: 0.5); never exported.
	DepthAug bool `json:"depth_aug,omitempty"`
	// KeepOps trains the model with its own per-layer operators (a searched hybrid target, Table 6) instead of
	// the method's; the method then says whether training is augmented and which recipe its operators get (HWS
	// for the multiplication-free slices of augshift, the adder recipe for any Add layer).
	KeepOps      bool    `json:"keep_ops,omitempty"`
	DepthAugStop float64 `json:"depth_aug_stop,omitempty"`
	// Ops configures the operator kernels (not serialised: code, not data).
	Ops hybrid.Operators `json:"-"`
}

// DefaultAlpha is the augmented loss's weight (Eq. 3) by default. NetAug's code uses 1 and the paper leaves α
// open; at 1 the augmented pass's gradient on the shared weights dominates the target's early in training, and
// 15-epoch runs on this machine end below their direct counterparts (README, "The augmented loss's weight α").
// 0.5 was better in every paired comparison measured (three seeds, two protocols, netaug and augshift).
const DefaultAlpha = 0.5

// DefaultConfig is NetAug's recipe (method.md §1.6) at a given model and method, but for α (DefaultAlpha); data,
// sizes and epochs are the caller's. The learning rate is NetAug's for the batch (NetAugLR); change both together.
func DefaultConfig(model, method string) Config {
	const batch = 64
	return Config{Model: model, Method: method, Data: "fashion-mnist", Res: 32, Epochs: 10, Batch: batch,
		LR: NetAugLR(model, batch), WarmupEpochs: 1, WarmupStartFactor: 0.1, Momentum: 0.9, WeightDecay: 4e-5,
		LabelSmoothing: 0.1, Alpha: DefaultAlpha, BNCalib: 2000, Seed: 1}
}

// NetAugLR is NetAug's peak learning rate for a batch size: 0.025 per 128 images (0.1 for MobileNetV3, 0.0125
// per 64 for MCUNet), scaled linearly with the batch as NetAug scales it with the number of GPUs. Higher rates
// make augmented training unstable: its two losses both move the shared weights.
func NetAugLR(model string, batch int) float64 {
	perImage := 0.025 / 128
	switch model {
	case "mbv3-w0.35":
		perImage = 0.1 / 128
	case "mcunet-in3":
		perImage = 0.0125 / 64
	}
	return perImage * float64(batch)
}

// Validate checks the numbers a user can get wrong.
func (c Config) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"learning rate", c.LR}, {"weight decay", c.WeightDecay}, {"alpha", c.Alpha}, {"momentum", c.Momentum},
		{"label smoothing", c.LabelSmoothing}, {"warm-up start factor", c.WarmupStartFactor},
		{"mutation start", c.MutationStart}, {"mutation stop", c.MutationStop}, {"depth-augmentation stop", c.DepthAugStop}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("%s %g: must be a finite number", f.name, f.v)
		}
	}
	switch {
	case c.Res <= 0:
		return fmt.Errorf("resolution %d: must be positive", c.Res)
	case c.Epochs <= 0:
		return fmt.Errorf("epochs %d: must be positive", c.Epochs)
	case c.Batch <= 0:
		return fmt.Errorf("batch %d: must be positive", c.Batch)
	case c.LR <= 0:
		return fmt.Errorf("learning rate %g: must be positive", c.LR)
	case c.WarmupEpochs < 0 || c.WarmupEpochs > c.Epochs:
		return fmt.Errorf("warm-up epochs %d: must be in [0, epochs]", c.WarmupEpochs)
	case c.Alpha < 0:
		return fmt.Errorf("alpha %g: must be non-negative", c.Alpha)
	case c.LabelSmoothing < 0 || c.LabelSmoothing >= 1:
		return fmt.Errorf("label smoothing %g: must be in [0, 1)", c.LabelSmoothing)
	case c.EvalEvery < 0:
		return fmt.Errorf("eval every %d epochs: must be non-negative", c.EvalEvery)
	case c.TrainLimit < 0 || c.TestLimit < 0 || c.BNCalib < 0:
		return errors.New("limits must be non-negative")
	case c.Balanced && c.TrainLimit == 0:
		return errors.New("a balanced training subset needs a training limit (--train-limit N, N divisible by the class count)")
	case !c.Balanced && c.SubsetSeed != 0:
		return fmt.Errorf("subset seed %d: applies to balanced training subsets only (--balanced)", c.SubsetSeed)
	}
	if err := c.validateMutation(); err != nil {
		return err
	}
	if err := c.validateTask(); err != nil {
		return err
	}
	if err := datasets.CheckAugment(c.Augment); err != nil {
		return err
	}
	if err := c.SortMomentum.Validate(); err != nil {
		return err
	}
	if c.SortScope != "" && c.SortScope != SortAcross && c.SortScope != SortWithin {
		return fmt.Errorf("unknown sort scope %q: want across or within", c.SortScope)
	}
	if _, err := hybrid.ParseSharing(c.Sharing); err != nil {
		return err
	}
	return c.validateAdder()
}

// Schedule is the learning-rate schedule of the run.
func (c Config) Schedule() Schedule {
	spe := max(c.StepsPerEpoch, 1)
	return Schedule{Base: c.LR, WarmupStart: c.LR * c.WarmupStartFactor, WarmupSteps: c.WarmupEpochs * spe,
		TotalSteps: c.Epochs * spe}
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// tryCatch runs fn and turns a panic (GoMLX's way of reporting graph errors) into an error.
func tryCatch(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = e
			} else {
				err = fmt.Errorf("%v", r)
			}
		}
	}()
	fn()
	return nil
}

// EvalBatch is the batch size the test set is evaluated in. Batch norm runs on its running statistics there, so
// an image's result does not depend on its batch, and a classifier is evaluated in batches of about 512k pixels
// (500 images at res 32), never fewer than the training batch: the work evaluation repeats for every batch (the
// HWS remap and Shift quantisation of the weights, each operator's fixed cost) is then spread over more images,
// a quarter less time per evaluation at res 32. Segmentation keeps the training batch.
func (c Config) EvalBatch() int {
	if c.Segmentation() || c.Res <= 0 {
		return c.Batch
	}
	return max(c.Batch, 500*32*32/(c.Res*c.Res))
}

// ArenaPixels is the batch size in input pixels (batch × res²) from which an augmented training step takes its
// large buffers from the engine's arena (see ArenaStep): 2^18, a batch of 64 at res 64.
const ArenaPixels = 1 << 18

// ArenaStep reports whether the augmented training step's graph is marked for the engine's buffer arena
// (kernels/engine.UseArena), which reuses memory across tensor sizes. The two passes' tensors come in many sizes
// whose lifetimes hardly overlap, so SimpleGo's exact-size pools hold far more than is live at once: on the res-96
// steps the arena cut the peak from 3.1 to 2.0 GB (augshift, batch 64, NetAug's draw) and from 1.6-1.7 to 1.07 GB
// (the 3x twin), at the same speed or better (kernels/engine/BENCH.md). Small batches keep SimpleGo's pools alone:
// there the arena's collections, which wait for busy workers, cost about a tenth of the res-32 step, for memory
// below the PyTorch peer's already. The arena changes no value: the step's results are the same to the bit.
func (c Config) ArenaStep() bool { return c.Batch*c.Res*c.Res >= arenaPixels }

// arenaPixels is ArenaPixels, lowered by tests.
var arenaPixels = ArenaPixels
