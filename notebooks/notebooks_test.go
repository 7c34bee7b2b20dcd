// Package notebooks_test executes every notebook in notebooks/ headless in quick mode (notebooks/run with
// SHIFTADDAUG_QUICK=1) and fails on any cell error, panic or non-zero exit. It then opens each exported
// notebook that shows charts in headless Chromium and checks that they drew.
//
// It needs notebooks/setup to have run (scripts/setup runs it): Debian jupyter-nbconvert, GoNB and
// goimports from tools/go.mod, and the GoNB kernel spec. Without them it fails and says so; it never skips.
package notebooks_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shiftaddaug/shiftaddaug/pkg/viz/viztest"
)

// checkSetup fails the test, naming what is missing, unless notebooks/setup has run.
func checkSetup(t *testing.T) {
	t.Helper()
	var missing []string
	if _, err := exec.LookPath("jupyter-nbconvert"); err != nil {
		missing = append(missing, "jupyter-nbconvert (Debian package)")
	}
	gobin, err := exec.Command("go", "env", "GOBIN").Output()
	if err != nil {
		t.Fatalf("go env GOBIN: %v", err)
	}
	dir := strings.TrimSpace(string(gobin))
	if dir == "" {
		gopath, err := exec.Command("go", "env", "GOPATH").Output()
		if err != nil {
			t.Fatalf("go env GOPATH: %v", err)
		}
		dir = filepath.Join(strings.SplitN(strings.TrimSpace(string(gopath)), string(os.PathListSeparator), 2)[0], "bin")
	}
	for _, tool := range []string{"gonb", "goimports"} {
		if _, err := os.Stat(filepath.Join(dir, tool)); err != nil {
			if _, err := exec.LookPath(tool); err != nil {
				missing = append(missing, tool+" (in "+dir+")")
			}
		}
	}
	data := os.Getenv("JUPYTER_DATA_DIR")
	if data == "" {
		home, _ := os.UserHomeDir()
		data = filepath.Join(home, ".local", "share", "jupyter")
	}
	if _, err := os.Stat(filepath.Join(data, "kernels", "gonb", "kernel.json")); err != nil {
		missing = append(missing, "the GoNB kernel spec ("+filepath.Join(data, "kernels", "gonb")+")")
	}
	if len(missing) > 0 {
		t.Fatalf("notebooks are not set up, missing: %s.\nRun notebooks/setup (scripts/setup runs it).",
			strings.Join(missing, ", "))
	}
}

func TestNotebooksQuick(t *testing.T) {
	checkSetup(t)
	paths, err := filepath.Glob("*.ipynb")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no notebooks found in notebooks/ (%v)", err)
	}
	out := t.TempDir()
	for _, p := range paths {
		name := strings.TrimSuffix(p, ".ipynb")
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "./run", name)
			cmd.Env = append(os.Environ(), "SHIFTADDAUG_QUICK=1", "NB_OUT="+out)
			var log bytes.Buffer
			cmd.Stdout, cmd.Stderr = &log, &log
			start := time.Now()
			if err := cmd.Run(); err != nil {
				t.Fatalf("notebooks/run %s: %v\n%s", name, err, log.String())
			}
			t.Logf("%s ran in %.1f s", name, time.Since(start).Seconds())

			exported := filepath.Join(out, name+".html")
			page, err := os.ReadFile(exported)
			if err != nil {
				t.Fatalf("no HTML export: %v\n%s", err, log.String())
			}
			if n := bytes.Count(page, []byte(`class="viz-chart"`)); n > 0 {
				res := viztest.ProbeFile(t, exported)
				viztest.CheckAllDrawn(t, res, n)
			}
		})
	}
}
