//go:build cgo && ((linux && amd64) || darwin) && !noxla

package engine

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/xla"
	"github.com/pkg/errors"
)

// xlaCompiled reports whether GoMLX's XLA backend is linked in (cgo build on a supported platform).
const xlaCompiled = true

func init() {
	// GoMLX would otherwise download the CPU plugin on the first xla.New or plugin listing: on machines
	// without internet that surfaces as a download error instead of a fallback. The xla package reads
	// GOMLX_NO_AUTO_INSTALL in its own init, before ours runs, so switch it off through its API.
	xla.EnableAutoInstall(autoInstallAllowed())
}

// xlaPlugins lists the PJRT plugins go-xla finds (a glob over its search path; nothing is loaded).
func xlaPlugins() []string {
	return xla.GetAvailablePlugins()
}

// newXLA creates the XLA backend for config ("", a plugin name, or an absolute path to a plugin,
// optionally followed by ",option..."), checking first that the plugin exists so that the error is clear.
func newXLA(config string) (backends.Backend, string, error) {
	plugin, _, _ := strings.Cut(config, ",")
	switch {
	case filepath.IsAbs(plugin):
		if _, err := os.Stat(plugin); err != nil {
			return nil, "", errors.Errorf("PJRT plugin file %s cannot be read (%v)", plugin, err)
		}
	default:
		plugins := xlaPlugins()
		if len(plugins) == 0 {
			return nil, "", errors.Errorf("no PJRT plugin is installed (searched $PJRT_PLUGIN_LIBRARY_PATH, " +
				"/usr/local/lib/go-xla, ~/.local/lib/go-xla and the system library path): name the plugin file, " +
				"GOMLX_BACKEND=xla:/abs/path/pjrt_c_api_cpu_plugin.so, or unset GOMLX_BACKEND for the pure-Go engine")
		}
		if plugin == "" {
			plugin = plugins[0]
		} else if !slices.Contains(plugins, plugin) {
			return nil, "", errors.Errorf("PJRT plugin %q not found (found %v)", plugin, plugins)
		}
	}
	b, err := xla.New(config)
	if err != nil {
		return nil, "", err
	}
	name := plugin
	if filepath.IsAbs(name) {
		name = filepath.Base(name)
	}
	return b, "xla:" + name, nil
}
