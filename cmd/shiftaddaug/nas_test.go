package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/datasets"
	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
)

func needFashionMNIST(t *testing.T) {
	t.Helper()
	if _, err := datasets.Open("fashion-mnist", datasets.Options{}); err != nil {
		t.Skipf("fashion-mnist not installed (%v): run scripts/setup", err)
	}
}

// TestNASSearchEndToEnd: a tiny search writes a best target that loads and that 'train --arch' trains; rerunning
// with more generations resumes instead of starting over.
func TestNASSearchEndToEnd(t *testing.T) {
	needFashionMNIST(t)
	dir := filepath.Join(t.TempDir(), "search")
	args := []string{"nas", "search", "--budget-energy", "0.05", "--budget-latency", "0.01", "--population", "4", "--generations", "2",
		"--method", "shift", "--res", "32", "--proxy-train-limit", "200", "--proxy-test-limit", "100", "--out", dir}
	code, o, e := run(t, args...)
	if code != 0 {
		t.Fatalf("code %d: %s", code, e)
	}
	for _, want := range []string{"generation 1/2: best proxy accuracy", "generation 2/2:", `"best_target":`} {
		if !strings.Contains(o, want) {
			t.Errorf("output lacks %q:\n%s", want, o)
		}
	}
	target, err := arch.Load(filepath.Join(dir, "best_target.json"))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := arch.Load(filepath.Join(dir, "best_subnet.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sub.Blocks) < len(target.Blocks) || target.Res != 32 {
		t.Errorf("target %d blocks at %d, SubNet %d blocks", len(target.Blocks), target.Res, len(sub.Blocks))
	}
	c, err := target.Count(32)
	if err != nil || c.Mult != 0 {
		t.Errorf("a shift target counts %d multiplications (%v)", c.Mult, err)
	}

	args[9] = "3" // --generations 3
	code, o, e = run(t, args...)
	if code != 0 || !strings.Contains(o, "resuming the search") || strings.Contains(o, "generation 1/3") || !strings.Contains(o, "generation 3/3") {
		t.Errorf("resume: code %d, output %q, stderr %q", code, o, e)
	}

	// The resumed search may have found a better target: train the one best_target.json names now.
	if target, err = arch.Load(filepath.Join(dir, "best_target.json")); err != nil {
		t.Fatal(err)
	}
	code, o, e = run(t, "train", "--arch", filepath.Join(dir, "best_target.json"), "--method", "shift", "--epochs", "1",
		"--train-limit", "100", "--test-limit", "50", "--bn-calib", "100")
	if code != 0 || !strings.Contains(o, `"model":"`+target.Name+`"`) || !strings.Contains(o, `"res":32`) {
		t.Errorf("train --arch: code %d, output %q, stderr %q", code, o, e)
	}
}

// TestNASBadInput: each bad setting is a one-line error and a non-zero exit, and nothing is left in --out.
func TestNASBadInput(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "out")
	base := []string{"nas", "search", "--budget-latency", "1", "--out", dir}
	cases := []struct {
		args []string
		want string
	}{
		{append(base, "--budget-energy", "0"), "energy budget 0 mJ: must be a positive number"},
		{append(base, "--budget-energy", "-1"), "energy budget -1 mJ"},
		{[]string{"nas", "search", "--budget-energy", "1", "--budget-latency", "1"}, "--out DIR is required"},
		{append(base, "--budget-energy", "1", "--res", "x"), `--res "x"`},
		{append(base, "--budget-energy", "1", "--method", "mul"), `unknown training method "mul"`},
		{[]string{"nas", "find"}, `unknown subcommand "find"`},
	}
	if _, err := datasets.Open("fashion-mnist", datasets.Options{}); err == nil {
		cases = append(cases, struct {
			args []string
			want string
		}{append(base, "--budget-energy", "0.0001"), "no sub-network meets energy 0.0001 mJ / latency 1 ms; the smallest found costs"})
	}
	// train --arch: an unknown block type in the file, and --arch with --model.
	m, _ := arch.Get("mbv2-tiny", 10)
	m.Name = "my-tiny"
	good := filepath.Join(tmp, "good.json")
	if err := arch.Save(good, m); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(good)
	bad := filepath.Join(tmp, "bad.json")
	os.WriteFile(bad, []byte(strings.Replace(string(data), `"op": "mult"`, `"op": "mul"`, 1)), 0o644)
	cases = append(cases,
		struct {
			args []string
			want string
		}{[]string{"train", "--arch", bad, "--epochs", "1"}, `bad.json: stem: unknown block type "mul"`},
		struct {
			args []string
			want string
		}{[]string{"train", "--arch", good, "--model", "mbv2-tiny"}, "--arch and --model both given"},
	)
	for _, c := range cases {
		code, _, e := run(t, c.args...)
		if code == 0 || strings.Count(strings.TrimSpace(e), "\n") != 0 || !strings.Contains(e, c.want) {
			t.Errorf("%v: want a one-line error containing %q and a non-zero exit, got code %d stderr %q", c.args, c.want, code, e)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%v: %s was created", c.args, dir)
		}
	}
	if code, o, _ := run(t, "nas", "--help"); code != 0 || !strings.Contains(o, "best_target.json") {
		t.Errorf("nas --help: code %d, %q", code, o)
	}
}

// TestNASHybridSearch: with several block types the search's proxy trains each target with its own operators,
// best.json says to train it with --keep-ops, and train --arch --keep-ops trains the hybrid target it wrote.
func TestNASHybridSearch(t *testing.T) {
	needFashionMNIST(t)
	dir := filepath.Join(t.TempDir(), "search")
	code, _, e := run(t, "nas", "search", "--budget-energy", "0.05", "--budget-latency", "0.01", "--population", "3",
		"--generations", "1", "--method", "augshift", "--block-types", "mult,shift,add", "--res", "32",
		"--proxy-train-limit", "64", "--proxy-test-limit", "50", "--out", dir)
	if code != 0 {
		t.Fatalf("code %d: %s", code, e)
	}
	best, err := os.ReadFile(filepath.Join(dir, "best.json"))
	if err != nil || !strings.Contains(string(best), "--keep-ops") {
		t.Fatalf("best.json (%v) does not train with --keep-ops:\n%s", err, best)
	}
	target, err := arch.Load(filepath.Join(dir, "best_target.json"))
	if err != nil {
		t.Fatal(err)
	}
	code, o, e := run(t, "train", "--arch", filepath.Join(dir, "best_target.json"), "--keep-ops", "--method", "augshift",
		"--epochs", "1", "--train-limit", "64", "--test-limit", "50", "--bn-calib", "64")
	if code != 0 || !strings.Contains(o, `"model":"`+target.Name+`"`) {
		t.Errorf("train --arch --keep-ops: code %d, output %q, stderr %q", code, o, e)
	}
	if code, _, e := run(t, "train", "--keep-ops", "--method", "augshift"); code == 0 || !strings.Contains(e, "give --arch FILE") {
		t.Errorf("--keep-ops without --arch: code %d, stderr %q", code, e)
	}
}

// TestNASTable6: the paper's rows labelled published, then the searched target with its counts and each run's
// final accuracy; a missing --search or a --run without state.json is a one-line error.
func TestNASTable6(t *testing.T) {
	dir := t.TempDir()
	m, _ := arch.Get("mbv2-tiny", 10)
	m = m.WithMethod(arch.MethodShift)
	m.Name, m.Res = "nas-test", 32
	if err := arch.Save(filepath.Join(dir, "best_target.json"), m); err != nil {
		t.Fatal(err)
	}
	runDir := filepath.Join(dir, "run")
	os.MkdirAll(runDir, 0o755)
	os.WriteFile(filepath.Join(runDir, "state.json"), []byte(`{"config":{"method":"shift"},"final_acc":0.8123}`), 0o644)
	code, o, e := run(t, "nas", "table6", "--search", dir, "--run", runDir)
	if code != 0 {
		t.Fatalf("code %d: %s", code, e)
	}
	c, _ := m.Count(32)
	for _, want := range []string{"| CIFAR100 | ShiftAddAug (Mult-free) | 160 | 0.13 | 33.5 | 33.6 | 74.61 | 1.0× | published |",
		"| fashion-mnist | nas-test, shift (this project) | 32 | 0 |", "| 81.23 |", fmt.Sprintf("%.3f M MACs", float64(c.MACs)/1e6)} {
		if !strings.Contains(o, want) {
			t.Errorf("output lacks %q:\n%s", want, o)
		}
	}
	for _, bad := range [][]string{{"nas", "table6"}, {"nas", "table6", "--search", dir, "--run", dir}} {
		if code, _, e := run(t, bad...); code == 0 || strings.Count(strings.TrimSpace(e), "\n") != 0 {
			t.Errorf("%v: code %d, stderr %q", bad, code, e)
		}
	}
}
