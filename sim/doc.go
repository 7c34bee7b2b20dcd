// Package sim is the Eyeriss-like energy/latency simulator used for the
// hardware columns of ShiftAddAug's Table 3.
//
// It re-implements the analytical row-stationary cost model of the
// GATECH-EIC ShiftAddNAS simulator (CV/retraining_hybrid/hw_utils.py, the
// same file as ShiftAddViT pvt/hw_utils.py), which itself descends from the
// DNN-Chip Predictor. The facts it encodes are written up in
// shared/notes/sim.md; section numbers in comments (§2.2 etc.) refer to it.
//
// The model, in one paragraph: every layer is a loop nest over batch N,
// output channels M, input channels C and output rows E (R, S and F are not
// tiled). A tiling splits N=N0·N3, M=M0·M1·M2·M3, C=C0·C1·C2 (C3=1) and
// E=E1·E3 across four storage levels (RF inside a PE, the PE array, the global
// buffer, DRAM). Each valid tiling gets access counts per level and data type,
// an energy (unit cost × accesses, plus MACs × op cost) and a latency (the
// product of the temporal loops, in cycles). Per layer the simulator picks the
// tiling minimising (E−Emin)/Emax + (L−Lmin)/Lmax; network totals are sums.
//
// The package is a leaf: it knows nothing about model descriptions. A caller
// turns its model into a []Layer (see DepthwiseLayer for how depthwise convs
// are fed) and calls CostLayer or CostNetwork.
package sim
