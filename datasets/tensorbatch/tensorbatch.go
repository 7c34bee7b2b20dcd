// Package tensorbatch turns datasets.Batch values into GoMLX tensors. It is separate from package datasets so
// that the loaders stay free of GoMLX.
package tensorbatch

import (
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/shiftaddaug/shiftaddaug/datasets"
)

// Images returns the batch's images as a float32 tensor of shape b.Shape ([N,C,H,W] or [N,H,W,C]).
// The tensor copies the data, so the batch may be reused.
func Images(b *datasets.Batch) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(b.Images, b.Shape[:]...)
}

// Labels returns the batch's class labels as an int32 tensor of shape [N].
func Labels(b *datasets.Batch) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(b.Labels, len(b.Labels))
}

// Masks returns a segmentation batch's masks as an int32 tensor of shape [N,H,W] (datasets.IgnoreIndex marks
// ignored pixels), or nil for a classification batch.
func Masks(b *datasets.Batch) *tensors.Tensor {
	if b.Masks == nil {
		return nil
	}
	h, w := b.Shape[2], b.Shape[3]
	if b.Layout == datasets.NHWC {
		h, w = b.Shape[1], b.Shape[2]
	}
	return tensors.FromFlatDataAndDimensions(b.Masks, b.Shape[0], h, w)
}
