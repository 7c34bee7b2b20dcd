package intkernels

import "fmt"

// AddConv runs an AdderNet k×k convolution: y = −Σ_window |x − w| on x [N,H,W,Cin] and
// integer weights [k,k,Cin,Cout] (FracBits fraction bits), stride s, "same" zero padding
// (a padded tap contributes −|w|). Subtract, sign flip and add only; saturated to int32.
func AddConv(x Act, w []int32, k, cout, s int) Act {
	x.check()
	if len(w) != k*k*x.C*cout {
		panic(fmt.Sprintf("intkernels.AddConv: %d weights, want %d", len(w), k*k*x.C*cout))
	}
	acc := make([]int64, x.N*outSize(x.H, k, s)*outSize(x.W, k, s)*cout)
	ho, wo := window(x, k, s, func(out, in, tap int) {
		base := out * cout
		for c := range x.C {
			var xv int64
			if in >= 0 {
				xv = int64(x.Data[in+c])
			}
			wb := (tap*x.C + c) * cout
			for o := range cout {
				acc[base+o] -= absDiff(xv, int64(w[wb+o]))
			}
		}
	})
	return finish(acc, x.N, ho, wo, cout, 0)
}

// AddDepthwise runs an AdderNet depthwise k×k convolution: weights [k,k,C] flat.
func AddDepthwise(x Act, w []int32, k, s int) Act {
	x.check()
	if len(w) != k*k*x.C {
		panic(fmt.Sprintf("intkernels.AddDepthwise: %d weights, want %d", len(w), k*k*x.C))
	}
	acc := make([]int64, x.N*outSize(x.H, k, s)*outSize(x.W, k, s)*x.C)
	ho, wo := window(x, k, s, func(out, in, tap int) {
		base := out * x.C
		wb := tap * x.C
		for c := range x.C {
			var xv int64
			if in >= 0 {
				xv = int64(x.Data[in+c])
			}
			acc[base+c] -= absDiff(xv, int64(w[wb+c]))
		}
	})
	return finish(acc, x.N, ho, wo, x.C, 0)
}

// AddLinear runs an AdderNet fully connected layer on every row of x (a 1×1 conv):
// weights [Cin, Cout] flat.
func AddLinear(x Act, w []int32, cout int) Act {
	return AddConv(x, w, 1, cout, 1)
}
