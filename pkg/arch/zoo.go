package arch

import (
	"fmt"
	"sort"
	"strings"
)

// The five models of the paper, exactly as NetAug (mit-han-lab/tinyml, netaug/models/base) defines them after its
// make_divisible(·, 8) rounding. Widths are the rounded values (method.md §1.7); SE widths follow
// max(make_divisible(mid/4, 8), 16). Every model ends in a classifier for DefaultClasses classes unless asked otherwise.

// DefaultClasses is CIFAR-100's class count, Table 3's setting.
const DefaultClasses = 100

// PaperRes is the input resolution at which Table 3's operation counts and energies were computed.
const PaperRes = 160

var zoo = map[string]func() *Model{
	"mbv2-w0.35":      mbv2w035,
	"mbv3-w0.35":      mbv3w035,
	"mcunet-in3":      mcunetIn3,
	"proxyless-w0.35": proxylessW035,
	"mbv2-tiny":       mbv2Tiny,
}

// PaperModels lists the model names in Table 3's order.
var PaperModels = []string{"mbv2-w0.35", "mbv3-w0.35", "mcunet-in3", "proxyless-w0.35", "mbv2-tiny"}

// Names lists every model this package can build, sorted.
func Names() []string {
	n := make([]string, 0, len(zoo))
	for k := range zoo {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Get builds a named model with every operator Mult and a classifier for classes classes (DefaultClasses if 0).
func Get(name string, classes int) (*Model, error) {
	f, ok := zoo[strings.ToLower(name)]
	if !ok {
		return nil, fmt.Errorf("unknown model %q: want one of %s", name, strings.Join(PaperModels, ", "))
	}
	if classes < 0 || classes == 1 {
		return nil, fmt.Errorf("class count %d: need at least 2", classes)
	}
	m := f()
	if classes == 0 {
		classes = DefaultClasses
	}
	return m.WithClasses(classes), nil
}

// blockSpec is one inverted block of a stage: in→mid→out, kernel, stride, SE width.
type blockSpec struct{ in, mid, out, k, s, se int }

// stage turns a stage's block specs into blocks: the first block of a stage carries the stage stride and never
// has a shortcut; later blocks get an identity shortcut when shapes match.
func stage(name string, first int, act Act, specs ...blockSpec) []Block {
	bs := make([]Block, len(specs))
	for i, s := range specs {
		bs[i] = Block{Name: fmt.Sprintf("%s.%d", name, first+i), In: s.in, Mid: s.mid, Out: s.out, K: s.k, Stride: s.s,
			Expand: true, SE: s.se, Act: act, FirstInStage: i == 0, Residual: i > 0 && s.s == 1 && s.in == s.out}
	}
	return bs
}

// dsBlock is the depthwise-separable first block: depthwise kxk on in channels, then project to out.
func dsBlock(in, out int, act Act, residual bool) Block {
	return Block{Name: "blocks.0", In: in, Mid: in, Out: out, K: 3, Stride: 1, Act: act, FirstInStage: true,
		Residual: residual && in == out}
}

func stem(out int, act Act) Conv {
	return Conv{Name: "stem", In: 3, Out: out, K: 3, Stride: 2, Act: act, BN: true}
}

func headConv(name string, in, out int, act Act) Conv {
	return Conv{Name: name, In: in, Out: out, K: 1, Stride: 1, Act: act, BN: true}
}

func concat(parts ...[]Block) []Block {
	var out []Block
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var (
	expandAug = []float64{1.0, 1.6, 2.2, 2.8}
)

func mbv2Blocks() []Block {
	a := ActReLU6
	return concat(
		[]Block{dsBlock(16, 8, a, false)},
		stage("blocks", 1, a, blockSpec{8, 48, 8, 3, 2, 0}, blockSpec{8, 48, 8, 3, 1, 0}),
		stage("blocks", 3, a, blockSpec{8, 48, 16, 3, 2, 0}, blockSpec{16, 96, 16, 3, 1, 0}, blockSpec{16, 96, 16, 3, 1, 0}),
		stage("blocks", 6, a, blockSpec{16, 96, 24, 3, 2, 0}, blockSpec{24, 144, 24, 3, 1, 0}, blockSpec{24, 144, 24, 3, 1, 0},
			blockSpec{24, 144, 24, 3, 1, 0}),
		stage("blocks", 10, a, blockSpec{24, 144, 32, 3, 1, 0}, blockSpec{32, 192, 32, 3, 1, 0}, blockSpec{32, 192, 32, 3, 1, 0}),
		stage("blocks", 13, a, blockSpec{32, 192, 56, 3, 2, 0}, blockSpec{56, 336, 56, 3, 1, 0}, blockSpec{56, 336, 56, 3, 1, 0}),
		stage("blocks", 16, a, blockSpec{56, 336, 112, 3, 1, 0}), // the head inverted block
	)
}

func mbv2w035() *Model {
	return &Model{Name: "mbv2-w0.35", Res: PaperRes, Stem: stem(16, ActReLU6), Blocks: mbv2Blocks(),
		Head:       []Conv{headConv("head.conv", 112, 1280, ActReLU6)},
		Classifier: Linear{Name: "classifier", In: 1280},
		AugWidth:   []float64{1.0, 1.8, 2.6}, AugExpand: expandAug}
}

// mbv2Tiny is MobileNetV2-Tiny (MCUNet's TinyMBV2): MBV2-w0.35 with a 448-wide head.
func mbv2Tiny() *Model {
	return &Model{Name: "mbv2-tiny", Res: PaperRes, Stem: stem(16, ActReLU6), Blocks: mbv2Blocks(),
		Head:       []Conv{headConv("head.conv", 112, 448, ActReLU6)},
		Classifier: Linear{Name: "classifier", In: 448},
		AugWidth:   []float64{1.0, 1.8, 2.6}, AugExpand: expandAug}
}

func proxylessW035() *Model {
	a := ActReLU6
	blocks := concat(
		[]Block{dsBlock(16, 8, a, false)},
		stage("blocks", 1, a, blockSpec{8, 24, 16, 5, 2, 0}, blockSpec{16, 48, 16, 3, 1, 0}),
		stage("blocks", 3, a, blockSpec{16, 48, 16, 7, 2, 0}, blockSpec{16, 48, 16, 3, 1, 0}, blockSpec{16, 48, 16, 5, 1, 0},
			blockSpec{16, 48, 16, 5, 1, 0}),
		stage("blocks", 7, a, blockSpec{16, 96, 32, 7, 2, 0}, blockSpec{32, 96, 32, 5, 1, 0}, blockSpec{32, 96, 32, 5, 1, 0},
			blockSpec{32, 96, 32, 5, 1, 0}),
		stage("blocks", 11, a, blockSpec{32, 192, 32, 5, 1, 0}, blockSpec{32, 96, 32, 5, 1, 0}, blockSpec{32, 96, 32, 5, 1, 0},
			blockSpec{32, 96, 32, 5, 1, 0}),
		stage("blocks", 15, a, blockSpec{32, 192, 64, 7, 2, 0}, blockSpec{64, 384, 64, 7, 1, 0}, blockSpec{64, 192, 64, 7, 1, 0},
			blockSpec{64, 192, 64, 7, 1, 0}),
		stage("blocks", 19, a, blockSpec{64, 384, 112, 7, 1, 0}),
	)
	return &Model{Name: "proxyless-w0.35", Res: PaperRes, Stem: stem(16, a), Blocks: blocks,
		Head:       []Conv{headConv("head.conv", 112, 1280, a)},
		Classifier: Linear{Name: "classifier", In: 1280},
		AugWidth:   []float64{1.0, 1.8, 2.6}, AugExpand: expandAug}
}

// SEWidth is MobileNetV3's squeeze-excitation hidden width for a block of mid channels:
// max(make_divisible(mid/4, 8), 16).
func SEWidth(mid int) int {
	w := MakeDivisible(float64(mid)/4, 8, 0)
	if w < 16 {
		w = 16
	}
	return w
}

func mbv3w035() *Model {
	r, h := ActReLU, ActHSwish
	se := func(s blockSpec) blockSpec { s.se = SEWidth(s.mid); return s }
	blocks := concat(
		[]Block{dsBlock(8, 8, r, true)},
		stage("blocks", 1, r, blockSpec{8, 24, 8, 3, 2, 0}, blockSpec{8, 24, 8, 3, 1, 0}),
		stage("blocks", 3, r, se(blockSpec{8, 24, 16, 5, 2, 0}), se(blockSpec{16, 40, 16, 5, 1, 0}), se(blockSpec{16, 40, 16, 5, 1, 0})),
		stage("blocks", 6, h, blockSpec{16, 88, 32, 3, 2, 0}, blockSpec{32, 72, 32, 3, 1, 0}, blockSpec{32, 64, 32, 3, 1, 0},
			blockSpec{32, 64, 32, 3, 1, 0}),
		stage("blocks", 10, h, se(blockSpec{32, 168, 40, 3, 1, 0}), se(blockSpec{40, 232, 40, 3, 1, 0})),
		stage("blocks", 12, h, se(blockSpec{40, 232, 56, 5, 2, 0}), se(blockSpec{56, 336, 56, 5, 1, 0}), se(blockSpec{56, 336, 56, 5, 1, 0})),
	)
	return &Model{Name: "mbv3-w0.35", Res: PaperRes, Stem: stem(8, h), Blocks: blocks,
		Head: []Conv{
			headConv("head.conv", 56, 336, h),
			// After global pooling: bias, no batch norm (MobileNetV3's final 1x1 conv).
			{Name: "head.pooled_conv", In: 336, Out: 1280, K: 1, Stride: 1, Act: h, Bias: true, OnPooled: true},
		},
		Classifier: Linear{Name: "classifier", In: 1280},
		AugWidth:   []float64{1.0, 2.0, 3.0}, AugExpand: expandAug}
}

func mcunetIn3() *Model {
	a := ActReLU6
	blocks := concat(
		[]Block{dsBlock(16, 8, a, false)},
		stage("blocks", 1, a, blockSpec{8, 24, 16, 7, 2, 0}, blockSpec{16, 80, 16, 3, 1, 0}, blockSpec{16, 80, 16, 7, 1, 0},
			blockSpec{16, 64, 16, 5, 1, 0}),
		stage("blocks", 5, a, blockSpec{16, 80, 24, 5, 2, 0}, blockSpec{24, 120, 24, 5, 1, 0}, blockSpec{24, 120, 24, 5, 1, 0}),
		stage("blocks", 8, a, blockSpec{24, 120, 40, 3, 2, 0}, blockSpec{40, 240, 40, 7, 1, 0}, blockSpec{40, 160, 40, 5, 1, 0}),
		stage("blocks", 11, a, blockSpec{40, 200, 48, 5, 1, 0}, blockSpec{48, 240, 48, 7, 1, 0}, blockSpec{48, 240, 48, 3, 1, 0}),
		stage("blocks", 14, a, blockSpec{48, 288, 96, 3, 2, 0}, blockSpec{96, 480, 96, 7, 1, 0}, blockSpec{96, 384, 96, 3, 1, 0}),
		stage("blocks", 17, a, blockSpec{96, 480, 160, 7, 1, 0}),
	)
	return &Model{Name: "mcunet-in3", Res: PaperRes, Stem: stem(16, a), Blocks: blocks,
		Classifier: Linear{Name: "classifier", In: 160},
		AugWidth:   []float64{1.0, 1.6, 2.2}, AugExpand: expandAug}
}
