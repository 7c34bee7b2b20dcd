package engine

import (
	"fmt"
	"testing"
)

func BenchmarkGradientSums(b *testing.B) {
	for _, rc := range [][2]int{{128, 2453}, {128, 3328}, {128, 3072}, {32768, 136}, {8192, 136}, {512, 560}} {
		rows, c := rc[0], rc[1]
		x, dy, k := make([]float32, rows*c), make([]float32, rows*c), make([]float32, c)
		for i := range x {
			x[i], dy[i] = float32(i%7), float32(i%5)
		}
		b.Run(fmt.Sprint(rows, "x", c), func(b *testing.B) {
			b.SetBytes(int64(8 * len(x)))
			for range b.N {
				gradientSums(x, dy, k, c)
			}
		})
	}
}
