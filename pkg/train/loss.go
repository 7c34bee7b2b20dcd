package train

import (
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX idiom.
)

// SmoothedCrossEntropy is the mean cross-entropy of logits [N, K] against int labels [N] with label smoothing ε:
// the target distribution is (1−ε)·onehot + ε/K, as PyTorch's CrossEntropyLoss(label_smoothing=ε).
func SmoothedCrossEntropy(logits, labels *Node, eps float64) *Node {
	k := logits.Shape().Dimensions[1]
	logp := LogSoftmax(logits, -1)
	onehot := OneHot(labels, k, logits.DType())
	target := AddScalar(MulScalar(onehot, 1-eps), eps/float64(k))
	return Neg(ReduceAllMean(ReduceSum(Mul(target, logp), -1)))
}

// correct counts the rows of logits whose arg-max equals the label.
func correct(logits, labels *Node) *Node {
	pred := ArgMax(logits, -1, labels.DType())
	return ReduceAllSum(ConvertDType(Equal(pred, labels), logits.DType()))
}
