// Package engine chooses the GoMLX backend for the project, in one place, and provides the project's
// pure-Go engine.
//
// # Choice
//
// New (and MustNew) pick the backend:
//
//   - $GOMLX_BACKEND set: it decides. "xla", "xla:<plugin name>" or "xla:/abs/path/plugin.so" (aliases
//     stablehlo, hlo, shlo) ask for XLA: if no such PJRT plugin is found, New returns a one-line error (it never
//     downloads one). "shiftaddaug[:<options>]" or "saa[:<options>]" is the project's engine; "go[:<options>]" is
//     GoMLX's stock SimpleGo backend (the project's engine switched off). Any other registered backend name is
//     passed to GoMLX.
//   - $GOMLX_BACKEND unset: XLA if a PJRT plugin is installed where go-xla looks for one
//     ($PJRT_PLUGIN_LIBRARY_PATH, /usr/local/lib/go-xla, ~/.local/lib/go-xla, the system library path);
//     otherwise, or if XLA fails to start, the project's engine, with the reason logged.
//
// The choice is logged once (per distinct choice) through the package logger (stderr by default; see SetLogger).
//
// GoMLX's automatic download of the XLA CPU plugin is switched off when this package is loaded, so a missing
// plugin never turns into a download error; set SHIFTADDAUG_XLA_AUTO_INSTALL=1 to allow it (needs internet).
//
// # The project's engine
//
// Registered with GoMLX as "shiftaddaug" (alias "saa"): SimpleGo plus Pad, Reverse and Clamp built from SimpleGo
// ops, nil conv strides/dilations filled in (SimpleGo rejects them, or crashes the process for grouped convs),
// and an error naming the op for anything neither implements (e.g. SelectAndScatterMax, the max-pool
// gradient; DynamicSlice; BatchNormForInference; FFT). With its fast executors on it also has fused
// BatchNormForTraining and BatchNormGradient for float32/float64 with the feature axis last (bnexec.go).
// Its options are SimpleGo's: "parallelism=N", "dotgeneral_small", "dotgeneral_large", "ops_sequential",
// "ops_parallel", and the engine's own (see NewEngine), comma-separated, e.g.
// GOMLX_BACKEND=shiftaddaug:dotgeneral_small,parallelism=2.
package engine

import (
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/pkg/errors"
)

// EnvVar is the environment variable that overrides the choice: GoMLX's own "GOMLX_BACKEND".
const EnvVar = backends.ConfigEnvVar

// XLAAutoInstallEnv, set to a non-empty value other than "0", lets GoMLX download the XLA CPU plugin when XLA is
// chosen or asked for and none is installed. Off by default.
const XLAAutoInstallEnv = "SHIFTADDAUG_XLA_AUTO_INSTALL"

// xlaNames are the names GoMLX registers the XLA backend under.
var xlaNames = []string{"xla", "stablehlo", "hlo", "shlo"}

var (
	logMu     sync.Mutex
	logger    = defaultLogger()
	logged    = map[string]bool{}
	lastLabel string
)

func defaultLogger() *log.Logger { return log.New(os.Stderr, "shiftaddaug/engine: ", 0) }

// SetLogger sets where the choice of backend is logged; nil silences it.
func SetLogger(l *log.Logger) {
	logMu.Lock()
	defer logMu.Unlock()
	if l == nil {
		l = log.New(io.Discard, "", 0)
	}
	logger = l
}

// logChoice logs msg unless the same message was already logged by this process.
func logChoice(label, msg string) {
	logMu.Lock()
	defer logMu.Unlock()
	lastLabel = label
	if logged[msg] {
		return
	}
	logged[msg] = true
	logger.Print(msg)
}

// Chosen returns a short label of the last backend chosen by New ("xla:cuda", "shiftaddaug", "go", ...),
// or "" if New has not succeeded yet. Benchmarks record it.
func Chosen() string {
	logMu.Lock()
	defer logMu.Unlock()
	return lastLabel
}

// New returns the backend for this process: see the package documentation for how it is chosen.
func New() (backends.Backend, error) {
	config, set := os.LookupEnv(EnvVar)
	if set && strings.TrimSpace(config) != "" {
		return NewWithConfig(config)
	}
	return newAuto()
}

// MustNew is New that panics on error.
func MustNew() backends.Backend {
	b, err := New()
	if err != nil {
		panic(err)
	}
	return b
}

// NewWithConfig creates the backend named by config, in GOMLX_BACKEND's format "<name>[:<options>]";
// an empty config chooses automatically (as New with GOMLX_BACKEND unset).
func NewWithConfig(config string) (backends.Backend, error) {
	config = strings.TrimSpace(config)
	if config == "" {
		return newAuto()
	}
	name, opts, _ := strings.Cut(config, ":")
	switch {
	case name == Name || name == Alias:
		b, err := NewEngine(opts)
		if err != nil {
			return nil, oneLine(err)
		}
		logChoice(Name, fmt.Sprintf("backend %q (%s), as %s=%q asks", Name, b.Description(), EnvVar, config))
		return b, nil
	case name == simplego.BackendName:
		b, err := simplego.New(opts)
		if err != nil {
			return nil, oneLine(err)
		}
		logChoice(simplego.BackendName, fmt.Sprintf("backend %q (GoMLX SimpleGo, without the %s fixes: no Pad, "+
			"Reverse or nil conv strides), as %s=%q asks", simplego.BackendName, Name, EnvVar, config))
		return b, nil
	case slices.Contains(xlaNames, name):
		b, label, err := newXLA(opts)
		if err != nil {
			return nil, errors.Errorf("%s=%q asks for XLA, but %s", EnvVar, config, oneLine(err))
		}
		logChoice(label, fmt.Sprintf("backend %q (%s), as %s=%q asks", label, b.Description(), EnvVar, config))
		return b, nil
	}
	if !slices.Contains(backends.List(), name) {
		known := backends.List()
		slices.Sort(known)
		return nil, errors.Errorf("%s=%q names an unknown backend %q: use one of %s (or unset it to choose automatically)",
			EnvVar, config, name, strings.Join(known, ", "))
	}
	b, err := backends.NewWithConfig(config)
	if err != nil {
		return nil, oneLine(err)
	}
	logChoice(name, fmt.Sprintf("backend %q (%s), as %s=%q asks", name, b.Description(), EnvVar, config))
	return b, nil
}

// newAuto picks XLA when a PJRT plugin is installed, else the project's engine.
func newAuto() (backends.Backend, error) {
	var reason string
	if plugins := xlaPlugins(); len(plugins) > 0 {
		// Plugins come in go-xla's preference order (cuda, cpu, others): take the first that starts.
		var failures []string
		for _, p := range plugins {
			b, label, err := newXLA(p)
			if err == nil {
				logChoice(label, fmt.Sprintf("backend %q (%s): PJRT plugins found %v; set %s=%s to use the pure-Go engine",
					label, b.Description(), plugins, EnvVar, Name))
				return b, nil
			}
			failures = append(failures, fmt.Sprintf("plugin %q: %v", p, oneLine(err)))
		}
		reason = "XLA failed to start (" + strings.Join(failures, "; ") + ")"
	} else {
		reason = "no XLA PJRT plugin found"
		if !xlaCompiled {
			reason = "XLA is not compiled in (needs cgo on linux/amd64 or darwin, and no 'noxla' tag)"
		}
	}
	b, err := NewEngine("")
	if err != nil {
		return nil, oneLine(err)
	}
	hint := ""
	if xlaCompiled {
		hint = fmt.Sprintf("; set %s=xla:/abs/path/to/pjrt_plugin.so to use XLA", EnvVar)
	}
	logChoice(Name, fmt.Sprintf("backend %q (%s): %s%s", Name, b.Description(), reason, hint))
	return b, nil
}

// oneLine flattens a (possibly multi-line, wrapped) error into one line.
func oneLine(err error) error {
	if err == nil {
		return nil
	}
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ")), " ")
	return errors.New(msg)
}

// autoInstallAllowed reports whether the user opted into GoMLX's plugin download.
func autoInstallAllowed() bool {
	v := os.Getenv(XLAAutoInstallEnv)
	return v != "" && v != "0"
}
