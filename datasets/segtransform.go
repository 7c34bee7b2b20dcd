package datasets

import "strings"

// SegScaleMin is the smallest share of the image area a segmentation training crop keeps: crops of 25-100% of
// the area are resized to the output size, a random zoom of 1x to 2x per side. Smaller crops than
// classification's 8% would leave a crop of one or two objects' parts with little context for the mask.
const SegScaleMin = 0.25

// SegTransforms returns the train and eval transforms of a segmentation dataset at the given size, applied to
// image and mask together by Transform.ApplyWithMask (the loader does this for every MaskSource): the same
// crop and flip for both, bilinear resampling for the image and nearest-neighbour for the mask, so class
// indices are never blended.
//   - train: random scale and crop (a random-resized crop of SegScaleMin-100% of the area, aspect 3/4-4/3,
//     resized to size x size) and a horizontal flip with probability 1/2 (none for mnist-seg: a mirrored digit
//     is not the same digit). No colour jitter: it moves no pixel, and the derived tasks' masks follow the
//     items' intensity.
//   - eval: the whole image resized to size (square images) or its short side resized to size and the centre
//     cropped (others): no zoom, unlike classification's 1/0.875.
//
// Both copy grey images into three channels (the backbones take RGB) and use ImageNet normalisation, as
// DefaultTransforms does for classification.
func SegTransforms(ds *Dataset, size int) (train, eval Transform) {
	grey := ds.Shape.C == 1
	train = Transform{Size: size, Train: true, ScaleMin: SegScaleMin, ScaleMax: 1, RatioMin: 3.0 / 4, RatioMax: 4.0 / 3,
		HFlip: !isMNISTSeg(ds.Name), GreyToRGB: grey, Mean: ImageNetMean, Std: ImageNetStd}
	eval = Transform{Size: size, CropRatio: 1, GreyToRGB: grey, Mean: ImageNetMean, Std: ImageNetStd}
	return train, eval
}

func isMNISTSeg(name string) bool {
	base, _, _ := strings.Cut(name, ":")
	return base == MNISTSegName
}
