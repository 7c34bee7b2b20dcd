package main

import (
	"bytes"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
)

// run runs one command line in-process and returns exit code, stdout and stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var o, e bytes.Buffer
	code := runMain(args, &o, &e)
	return code, o.String(), e.String()
}

func TestHelpAndUnknownCommand(t *testing.T) {
	if code, o, _ := run(t, "--help"); code != 0 || !strings.Contains(o, "arch") {
		t.Errorf("--help: code %d, output %q", code, o)
	}
	if code, _, e := run(t, "frobnicate"); code == 0 || !strings.Contains(e, "unknown command") {
		t.Errorf("unknown command: code %d, stderr %q", code, e)
	}
}

func TestArchCommand(t *testing.T) {
	code, o, e := run(t, "arch", "--model", "mbv2-w0.35", "--method", "shift")
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, e)
	}
	if !strings.Contains(o, "params 0.524 M") || !strings.Contains(o, "shift 29.723 M") {
		t.Errorf("unexpected totals:\n%s", o)
	}
	for _, bad := range [][]string{
		{"arch", "--model", "nope"},
		{"arch", "--model", "mbv2-w0.35", "--res", "7"},
		{"arch", "--model", "mbv2-w0.35", "--method", "mul"},
		{"arch", "--bogus"},
		{"arch"},
	} {
		code, _, e := run(t, bad...)
		if code == 0 || strings.Count(strings.TrimSpace(e), "\n") != 0 || e == "" {
			t.Errorf("%v: want a one-line error and non-zero exit, got code %d stderr %q", bad, code, e)
		}
	}
	if code, o, _ := run(t, "arch", "--help"); code != 0 || !strings.Contains(o, "--model") {
		t.Errorf("arch --help: code %d output %q", code, o)
	}
	// --save writes the model file train --arch and scripts/peer_netaug.py read: the same model.
	file := filepath.Join(t.TempDir(), "mbv2.json")
	if code, _, e := run(t, "arch", "--model", "mbv2-w0.35", "--method", "shift", "--save", file); code != 0 {
		t.Fatalf("arch --save: code %d, stderr %q", code, e)
	}
	got, err := arch.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := arch.Get("mbv2-w0.35", 100)
	if !reflect.DeepEqual(got, want.WithMethod(arch.MethodShift)) {
		t.Errorf("arch --save wrote %+v, want the zoo's mbv2-w0.35 with shift operators", got)
	}
}
