package engine

import (
	"syscall"
	"unsafe"

	"github.com/pkg/errors"
)

// reserveFloat32s reserves the arena's address range: an anonymous private mapping without swap reservation, so
// only the pages used count in memory. It tries 64 GiB, then smaller ranges.
func reserveFloat32s() ([]float32, error) {
	var err error
	for size := 64 << 30; size >= 4<<30; size /= 4 {
		var mem []byte
		mem, err = syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE,
			syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
		if err == nil {
			return unsafe.Slice((*float32)(unsafe.Pointer(&mem[0])), len(mem)/4), nil
		}
	}
	return nil, errors.Wrap(err, "reserving the buffer arena")
}
