//go:build !linux

package engine

import "github.com/pkg/errors"

// reserveFloat32s: the arena reserves its range with Linux's mmap only; elsewhere SimpleGo's pools work alone.
func reserveFloat32s() ([]float32, error) {
	return nil, errors.New("the buffer arena is only built for Linux")
}
