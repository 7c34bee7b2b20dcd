//go:build !amd64

package engine

const hasVec = false

func vecAdd(z, x, y []float32) { panic("vecAdd: no vector kernels on this architecture") }
func vecSub(z, x, y []float32) { panic("vecSub: no vector kernels on this architecture") }
func vecMul(z, x, y []float32) { panic("vecMul: no vector kernels on this architecture") }
func vecDiv(z, x, y []float32) { panic("vecDiv: no vector kernels on this architecture") }
