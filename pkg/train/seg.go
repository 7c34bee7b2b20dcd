package train

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/shiftaddaug/shiftaddaug/datasets"
	"github.com/shiftaddaug/shiftaddaug/pkg/models"
)

// Semantic segmentation (§4.4, Table 5): the model's classification head is replaced by arch's LR-ASPP head
// (Config.Task = TaskSeg), the loss is per-pixel, and evaluation measures mIoU and pixel accuracy. Everything
// else is the classification run's: the same augmented step (Eq. 3) with the same masks, recipes and weight
// sharing, batch-norm recalibration before each evaluation, checkpoints and resume.

// TaskSeg is Config.Task for semantic segmentation; "" is classification.
const TaskSeg = "seg"

// Segmentation reports whether the run trains a segmentation model.
func (c Config) Segmentation() bool { return c.Task == TaskSeg }

// validateTask checks the task and what segmentation does not combine with.
func (c Config) validateTask() error {
	switch {
	case c.Task != "" && c.Task != TaskSeg:
		return fmt.Errorf("unknown task %q: want seg (segmentation) or nothing (classification)", c.Task)
	case !c.Segmentation():
		return nil
	case c.Balanced:
		return fmt.Errorf("a balanced subset balances image labels; segmentation images have masks, not labels (drop --balanced)")
	case c.mutates() || c.DepthAug || c.KeepOps:
		return fmt.Errorf("block mutation, depth augmentation and --keep-ops are not built for segmentation heads")
	case c.Augment != "":
		return fmt.Errorf("augmentation %q: segmentation uses its own joint image/mask transforms (datasets.SegTransforms); drop --augment", c.Augment)
	}
	return nil
}

// SegCrossEntropy is the mean per-pixel cross-entropy of logits [N, H, W, K] against int labels [N, H, W]
// over the pixels whose label is not datasets.IgnoreIndex, with label smoothing eps as SmoothedCrossEntropy
// (PyTorch's CrossEntropyLoss(ignore_index=255, label_smoothing=eps)). No valid pixel gives 0.
func SegCrossEntropy(logits, labels *Node, eps float64) *Node {
	k := logits.Shape().Dimensions[3]
	valid := ConvertDType(NotEqual(labels, Scalar(labels.Graph(), labels.DType(), datasets.IgnoreIndex)), logits.DType())
	safe := Mul(labels, ConvertDType(valid, labels.DType())) // ignored pixels index class 0; they are weighted 0
	logp := LogSoftmax(logits, -1)
	target := AddScalar(MulScalar(OneHot(safe, k, logits.DType()), 1-eps), eps/float64(k))
	nll := Neg(ReduceSum(Mul(target, logp), -1))
	return Div(ReduceAllSum(Mul(nll, valid)), MaxScalar(ReduceAllSum(valid), 1))
}

// segCorrect counts the valid pixels predicted correctly and the valid pixels.
func segCorrect(logits, labels *Node) (right, valid *Node) {
	pred := ArgMax(logits, -1, labels.DType())
	v := NotEqual(labels, Scalar(labels.Graph(), labels.DType(), datasets.IgnoreIndex))
	right = ReduceAllSum(ConvertDType(And(Equal(pred, labels), v), logits.DType()))
	return right, ReduceAllSum(ConvertDType(v, logits.DType()))
}

// forward is the pass's output: class logits [N, classes] or, for segmentation, per-pixel logits.
func (s *Session) forward(ctx *context.Context, x *Node, p models.Pass) *Node {
	if s.Cfg.Segmentation() {
		return s.Net.SegLogits(ctx, x, p)
	}
	return s.Net.Logits(ctx, x, p)
}

// loss is the task's training loss.
func (s *Session) loss(logits, labels *Node) *Node {
	if s.Cfg.Segmentation() {
		return SegCrossEntropy(logits, labels, s.Cfg.LabelSmoothing)
	}
	return SmoothedCrossEntropy(logits, labels, s.Cfg.LabelSmoothing)
}

// batchLabels is the label tensor of a batch: class labels [N], or masks [N, H, W] for segmentation.
func (s *Session) batchLabels(b *datasets.Batch) (*tensors.Tensor, error) {
	if !s.Cfg.Segmentation() {
		return tensors.FromFlatDataAndDimensions(b.Labels, len(b.Labels)), nil
	}
	if b.Masks == nil {
		return nil, fmt.Errorf("segmentation training needs masks: the batch has none")
	}
	return tensors.FromFlatDataAndDimensions(b.Masks, b.Shape[0], b.Shape[1], b.Shape[2]), nil
}

// SegMetrics are a segmentation evaluation's results.
type SegMetrics struct {
	MIoU, PixelAcc, Loss float64
	// IoU is each class's intersection over union (NaN for a class neither present nor predicted).
	IoU []float64
}

// EvaluateSeg runs the target over the loader (inference mode, running statistics) and returns mIoU (over
// the classes present in a target or a prediction), pixel accuracy and the mean per-pixel loss, ignoring
// datasets.IgnoreIndex pixels.
func (s *Session) EvaluateSeg(l *datasets.Loader) (SegMetrics, error) {
	if !s.Cfg.Segmentation() {
		return SegMetrics{}, fmt.Errorf("evaluating: %s/%s is not a segmentation run", s.Cfg.Model, s.Cfg.Method)
	}
	if err := s.syncPhase(); err != nil {
		return SegMetrics{}, err
	}
	conf := datasets.NewConfusion(s.Net.Arch.Classes)
	it := l.Epoch(0)
	defer it.Close()
	var lossSum, valid float64
	for {
		b, err := it.Next()
		if err != nil {
			if isEOF(err) {
				break
			}
			return SegMetrics{}, err
		}
		x := tensors.FromFlatDataAndDimensions(b.Images, b.Shape[:]...)
		y, err := s.batchLabels(b)
		if err != nil {
			return SegMetrics{}, err
		}
		var outs []*tensors.Tensor
		if err := tryCatch(func() { outs = s.evalExec.MustExec(x, y) }); err != nil {
			return SegMetrics{}, fmt.Errorf("evaluating: %w", err)
		}
		if err := conf.Add(b.Masks, tensors.MustCopyFlatData[int32](outs[0])); err != nil {
			return SegMetrics{}, fmt.Errorf("evaluating: %w", err)
		}
		v := scalar(outs[2])
		lossSum += scalar(outs[1]) * v
		valid += v
	}
	if valid == 0 {
		return SegMetrics{}, fmt.Errorf("evaluating: no labelled pixels")
	}
	return SegMetrics{MIoU: conf.MeanIoU(), PixelAcc: conf.PixelAccuracy(), Loss: lossSum / valid, IoU: conf.IoU()}, nil
}

// buildSegEval compiles the segmentation evaluation: predicted classes [N, H, W], mean loss, valid pixels.
func (s *Session) buildSegEval(targetPass models.Pass) *context.Exec {
	return context.MustNewExec(s.Backend, s.Ctx, func(ctx *context.Context, x, labels *Node) (*Node, *Node, *Node) {
		logits := s.Net.SegLogits(ctx, x, targetPass)
		_, valid := segCorrect(logits, labels)
		return ArgMax(logits, -1, labels.DType()), SegCrossEntropy(logits, labels, 0), valid
	})
}

// MaskPrediction runs the target on a batch of images (NHWC, prepared like the test loader's) and returns
// each pixel's predicted class, [N·H·W] row-major: what the Fig. 6-style panels draw.
func (s *Session) MaskPrediction(b *datasets.Batch) ([]int32, error) {
	if !s.Cfg.Segmentation() {
		return nil, fmt.Errorf("predicting masks: %s/%s is not a segmentation run", s.Cfg.Model, s.Cfg.Method)
	}
	if err := s.syncPhase(); err != nil {
		return nil, err
	}
	x := tensors.FromFlatDataAndDimensions(b.Images, b.Shape[:]...)
	y, err := s.batchLabels(b)
	if err != nil {
		return nil, err
	}
	var outs []*tensors.Tensor
	if err := tryCatch(func() { outs = s.evalExec.MustExec(x, y) }); err != nil {
		return nil, fmt.Errorf("predicting masks: %w", err)
	}
	return tensors.MustCopyFlatData[int32](outs[0]), nil
}

// BestMIoU is the highest test mIoU over the evaluated epochs of a history.
func BestMIoU(history []EpochRecord) float64 {
	best := math.Inf(-1)
	for _, h := range history {
		if !h.NotEvaluated {
			best = max(best, h.MIoU)
		}
	}
	if math.IsInf(best, -1) {
		return 0
	}
	return best
}

// transforms are the run's train and eval transforms: the joint image/mask ones for segmentation.
func transforms(ds *datasets.Dataset, cfg Config) (train, eval datasets.Transform, err error) {
	if cfg.Segmentation() {
		train, eval = datasets.SegTransforms(ds, cfg.Res)
		return train, eval, nil
	}
	return datasets.Transforms(ds, cfg.Res, cfg.Augment)
}
