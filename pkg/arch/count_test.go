package arch

import (
	"fmt"
	"testing"
)

// table3Counts is the left half of the paper's Table 3 (CIFAR-100, 160x160), as printed: Params, and the
// Mult / Shift / Add columns in millions, per model and method. Copied from the paper, not from this package.
var table3Counts = []struct {
	model, method            string
	params, mult, shift, add string
}{
	{"mbv2-w0.35", "base", "0.52", "29.72", "0", "29.72"},
	{"mbv2-w0.35", "shift", "0.52", "0", "29.72", "29.72"},
	{"mbv2-w0.35", "add", "0.52", "4.52", "0", "56.88"},
	{"mbv3-w0.35", "base", "0.96", "18.35", "0", "18.35"},
	{"mbv3-w0.35", "shift", "0.96", "0", "18.35", "18.35"},
	{"mbv3-w0.35", "add", "0.96", "3.5", "0", "34.34"},
	{"mcunet-in3", "base", "0.59", "65.72", "0", "65.72"},
	{"mcunet-in3", "shift", "0.59", "0", "65.72", "65.72"},
	{"mcunet-in3", "add", "0.59", "20.91", "0", "113.09"},
	{"proxyless-w0.35", "base", "0.63", "34.56", "0", "34.56"},
	{"proxyless-w0.35", "shift", "0.63", "0", "34.56", "34.56"},
	{"proxyless-w0.35", "add", "0.63", "8.81", "0", "61.97"},
	{"mbv2-tiny", "base", "0.35", "27.31", "0", "27.31"},
	{"mbv2-tiny", "shift", "0.35", "0", "27.31", "27.31"},
	{"mbv2-tiny", "add", "0.35", "4.43", "0", "52.09"},
}

// printedLike formats v (in units) in millions with as many decimals as the paper printed in want.
func printedLike(v int64, want string) string {
	dec := 0
	for i, c := range want {
		if c == '.' {
			dec = len(want) - i - 1
		}
	}
	return fmt.Sprintf("%.*f", dec, float64(v)/1e6)
}

func TestTable3Counts(t *testing.T) {
	for _, row := range table3Counts {
		m, err := Get(row.model, 0)
		if err != nil {
			t.Fatal(err)
		}
		c, err := m.WithMethod(Method(row.method)).Count(PaperRes)
		if err != nil {
			t.Fatal(err)
		}
		got := []string{printedLike(c.Params, row.params), printedLike(c.Mult, row.mult), printedLike(c.Shift, row.shift), printedLike(c.Add, row.add)}
		want := []string{row.params, row.mult, row.shift, row.add}
		for i, col := range []string{"params", "mult", "shift", "add"} {
			if got[i] != want[i] {
				t.Errorf("%s %s %s: got %s, paper %s (raw %v)", row.model, row.method, col, got[i], want[i], c)
			}
		}
	}
}
