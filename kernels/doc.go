// Package kernels implements the operators of ShiftAddAug on GoMLX graph nodes:
// multiplicative (Mult), power-of-two (Shift, DeepShift-Q) and adder (Add, AdderNet)
// versions of a kxk convolution, a depthwise convolution and a linear layer.
//
// All operators are plain graph functions on explicit weight nodes, so that the hybrid
// layers can slice one wide weight and feed the slices to different operators:
//
//	y := kernels.Conv(x, w, kernels.ConvOpts{Stride: 2})           // Mult
//	y := kernels.ShiftConv(x, w, kernels.ConvOpts{}, kernels.ShiftOpts{Bits: 5})
//	y := kernels.AddConv(x, w, kernels.ConvOpts{}, kernels.AddOpts{Eta: 0.2})
//
// Layout is NHWC; conv weights are [k, k, Cin, Cout], depthwise weights [k, k, C]
// (or [k, k, 1, C]), linear weights [Cin, Cout]. Padding is always "same" in the
// PyTorch sense: k//2 zeros on every side, H_out = floor((H + 2·(k//2) − k)/s) + 1.
//
// The default ("fast") formulation avoids every op that GoMLX's pure-Go backend
// (simplego) lacks or runs slowly: padding is built with Concatenate, convolutions are
// im2col-by-slices plus a matmul (a 1×1 conv is one DotGeneral on the NHWC tensor),
// depthwise is k² strided slices times per-channel weights, and all of them have
// hand-written gradients (see CustomVJP) so that no Pad, Reverse or
// outer-product-materialising DotGeneral gradient is ever emitted. On a backend that
// implements DirectDepthwiser (the project's engine), the Mult depthwise conv is three
// ConvGeneral ops instead, which that engine runs with direct kernels; on a FusedAdderer the
// adder matmul is written as broadcast [M,K,O] expressions that the engine turns into two
// direct kernels, and on a FusedActivationer the ReLU/ReLU6 gradient mask is a comparison
// the engine fuses with the product by the adjoint. The
// "plain" formulation (graph.Convolve / graph.Dot with GoMLX's own gradients) is
// selectable with ConvOpts.Plain, for XLA and for cross-checking.
package kernels
