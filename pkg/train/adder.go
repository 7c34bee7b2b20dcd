package train

import (
	"fmt"
	"math"

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
)

// AdderRecipe is how the Add (AdderNet) layers of the add and augadd methods are initialised and stepped: the
// standard deviation of their initial weights and η of AdderNet's adaptive gradient scaling
// (kernels.AdaptiveGradScale, which sets every adder layer's weight step to an RMS of η·lr per element, whatever
// the size of its gradient).
//
// AdderNet's own setting (weights N(0, 1), η = 0.2) is made for ~400 epochs. At this project's scale (tens of
// epochs, hundreds to a few thousand steps) neither it nor the earlier setting here (kaiming-uniform weights, as
// every NetAug conv, with η = 0.2) trains mbv2-w0.35 at all: the loss stays at ln(classes). Two causes were
// measured (issue 13):
//   - Channel collapse. An adder's inputs are batch-normalised, of unit scale. With weights much smaller than
//     that, −Σ|x − w| ≈ −Σ|x| + small terms, so all output channels compute nearly the same function: the mean
//     |correlation| between the channels of the adder layers is 0.95-1.00 with kaiming-uniform weights and
//     0.36-1.00 with std 1 (0.12-0.56 in the multiplicative network), and the network carries about one feature.
//     With weights a few times the input scale most taps see |x − w| = ±(x − w), so each channel starts as a
//     different random ±1 linear map (correlation 0.11-0.59 at std 4), and the weights training moves into the
//     range of the inputs become the L1 template terms.
//   - Step size. η·lr = 0.005 per element and step (η = 0.2, lr 0.025) hardly moves weights of that scale in a
//     short schedule; η = 4 (0.1 per step) does.
//
// The weights are stored at that scale (models.Net.AddInitStd). In augadd only the adders' slice of each wide
// tensor (the target's) starts at std 4; the rest, which the augmented pass multiplies with, starts at
// kaiming-uniform scale like any NetAug convolution. With the whole wide tensor at std 4 the multiplicative terms
// dominate the target channels' sums in the augmented pass and train 16x more slowly (batch norm divides their
// effective step by |w|²): in a 640-image, 8-epoch screen augadd ended at 44.6% that way and 51.2% with the split
// init (add: 46.8%). A variant that stored kaiming-scale weights everywhere and gave the adders a fixed per-layer
// gain (with the gradient divided by the gain, so that the adders step as above) trained add the same (62.8% vs
// 63.6% in a 5-epoch screen) but made augadd diverge (NaN at step 221 of the protocol), and was dropped. The batch norm after every adder, the multiplicative classifier, the Add stem and the
// multiplicative depthwise convolutions (Table 3's counts) are unchanged, and so are the operators' gradients.
type AdderRecipe string

const (
	// AdderLarge is the default ("" too): adder weights N(0, 4²), η = 4.
	AdderLarge AdderRecipe = "large"
	// AdderNetRecipe is AdderNet's code: weights N(0, 1), η = 0.2.
	AdderNetRecipe AdderRecipe = "addernet"
	// AdderKaiming is this project's setting before the recipe existed: kaiming-uniform weights like every other
	// convolution, η = 0.2.
	AdderKaiming AdderRecipe = "kaiming"
)

// Where the adaptive gradient scaling of adder weights acts (Config.AdderScale).
const (
	AdderScaleStep = "step"
	AdderScaleCall = "call"
)

// DefaultSharing is a method's weight sharing when none is asked for: HWS (Eq. 5) for augshift, as ShiftAddAug;
// plain for every other method. For augadd HWS is not the default: with the adder recipe the augmented pass
// destabilises the target under HWS (17.0% against plain sharing's 51.2% in a 640-image, 8-epoch screen, where
// add alone reaches 46.8% plain and 51.0% with HWS; issue 13), so plain sharing is what trains it here.
func DefaultSharing(method string) string {
	if method == "augshift" {
		return "hws"
	}
	return "plain"
}

// AdderRecipes lists the recipes, for flags and errors.
var AdderRecipes = []AdderRecipe{AdderLarge, AdderNetRecipe, AdderKaiming}

// Validate reports an unknown recipe.
func (r AdderRecipe) Validate() error {
	if r == "" {
		return nil
	}
	for _, k := range AdderRecipes {
		if r == k {
			return nil
		}
	}
	return fmt.Errorf("unknown adder recipe %q: want one of large, addernet, kaiming", string(r))
}

// Params returns the recipe's initial adder weight standard deviation (0: kaiming-uniform) and η.
func (r AdderRecipe) Params() (initStd, eta float64) {
	switch r {
	case AdderNetRecipe:
		return 1, 0.2
	case AdderKaiming:
		return 0, 0.2
	}
	return 4, 4
}

// adderParams resolves the configuration's recipe and its overrides.
func (c Config) adderParams() (initStd, eta float64) {
	initStd, eta = c.AdderRecipe.Params()
	if c.AdderInitStd > 0 {
		initStd = c.AdderInitStd
	}
	if c.AdderEta > 0 {
		eta = c.AdderEta
	}
	return initStd, eta
}

func (c Config) validateAdder() error {
	if err := c.AdderRecipe.Validate(); err != nil {
		return err
	}
	if c.AdderScale != "" && c.AdderScale != AdderScaleStep && c.AdderScale != AdderScaleCall {
		return fmt.Errorf("unknown adder scale %q: want step or call", c.AdderScale)
	}
	if c.AdderRecipe != "" || c.AdderEta != 0 || c.AdderInitStd != 0 || c.AdderScale != "" {
		if m, err := ParseMethod(c.Method); err == nil && m.Deploy != arch.MethodAdd && !c.KeepOps {
			return fmt.Errorf("the adder recipe applies to the add and augadd methods only, not %s", c.Method)
		}
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"adder eta", c.AdderEta}, {"adder init std", c.AdderInitStd}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			return fmt.Errorf("%s %g: must be a finite non-negative number (0: the recipe's)", f.name, f.v)
		}
	}
	return nil
}
