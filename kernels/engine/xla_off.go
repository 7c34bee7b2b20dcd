//go:build !(cgo && ((linux && amd64) || darwin) && !noxla)

package engine

import (
	"github.com/gomlx/gomlx/backends"
	"github.com/pkg/errors"
)

// xlaCompiled reports whether GoMLX's XLA backend is linked in: not in this build.
const xlaCompiled = false

func xlaPlugins() []string { return nil }

func newXLA(string) (backends.Backend, string, error) {
	return nil, "", errors.New("XLA is not compiled into this binary (it needs cgo on linux/amd64 or darwin " +
		"and no 'noxla' build tag)")
}
