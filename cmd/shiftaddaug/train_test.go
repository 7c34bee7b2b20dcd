package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/datasets"
	"github.com/shiftaddaug/shiftaddaug/pkg/experiments"
)

// TestTrainRejectsBadInput: each bad setting is a one-line error naming it and a non-zero exit, before any
// training (and before anything is written to --dir).
func TestTrainRejectsBadInput(t *testing.T) {
	cases := [][]string{
		{"--augment", "mixup"},
		{"--balanced"},
		{"--subset-seed", "3", "--train-limit", "100"},
		{"--subset-seed", "x"},
		{"--lr", "nan"},
		{"--lr", "inf"},
		{"--wd", "NaN"},
		{"--alpha", "+Inf"},
		{"--sort-momentum", "keep"},
		{"--method", "add", "--adder-recipe", "big"},
		{"--method", "add", "--adder-eta", "-1"},
		{"--adder-init", "4"},
		{"--method", "augadd", "--adder-scale", "sum"},
		{"--sort-scope", "all"},
		{"--eval-every", "-2"},
		{"--mutation-start", "0.6", "--mutation-stop", "0.5"},
		{"--method", "base", "--mutation-start", "0.1", "--mutation-stop", "0.5"},
		{"--depth-aug"},
		{"--method", "augshift", "--depth-aug-stop", "0.3"},
		{"--aug-width", "2,3"},
	}
	want := []string{`unknown augmentation "mixup"`, "--balanced needs --train-limit", "applies to balanced training subsets only",
		`--subset-seed "x"`, "learning rate NaN: must be a finite number", "learning rate +Inf", "weight decay NaN", "alpha +Inf",
		`unknown sort momentum policy "keep"`, `unknown adder recipe "big"`, "adder eta -1", "applies to the add and augadd methods only",
		`unknown adder scale "sum"`, `unknown sort scope "all"`, "eval every -2 epochs: must be non-negative",
		"want 0 <= --mutation-start < --mutation-stop", "method base has none", "method shift has none",
		"without depth augmentation (--depth-aug)", `--aug-width "2,3"`}
	if _, err := datasets.Open("fashion-mnist", datasets.Options{}); err == nil {
		// These need the dataset: its class count and image size.
		cases = append(cases, []string{"--balanced", "--train-limit", "1005"}, []string{"--augment", "padcrop", "--res", "64"})
		want = append(want, "1005 images do not divide evenly among the 10 classes of fashion-mnist", "padcrop does not resize")
	} else {
		t.Logf("fashion-mnist not installed (%v): the checks that need it are skipped", err)
	}
	for i, c := range cases {
		dir := filepath.Join(t.TempDir(), "run")
		args := append([]string{"train", "--model", "mbv2-w0.35", "--method", "shift", "--epochs", "1", "--dir", dir}, c...)
		code, _, e := run(t, args...)
		if code == 0 || strings.Count(strings.TrimSpace(e), "\n") != 0 || !strings.Contains(e, want[i]) {
			t.Errorf("%v: want a one-line error containing %q and a non-zero exit, got code %d stderr %q", c, want[i], code, e)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%v: %s was created", c, dir)
		}
	}
}

// TestExperimentReferenceList: 'experiment --preset reference --list' shows the seven rows and the paired
// differences per seed of stored runs, training nothing.
func TestExperimentReferenceList(t *testing.T) {
	dir := t.TempDir()
	p := experiments.ReferencePreset([]uint64{1, 2}, true)
	putRuns(t, dir, p, 0.5, func(s experiments.RunSpec) bool { return s.ID == "reference-mbv2-w0.35-add-s2" })
	code, o, e := run(t, "experiment", "--preset", "reference", "--list", "--quick", "--seeds", "1,2", "--out", dir)
	if code != 0 {
		t.Fatalf("code %d: %s", code, e)
	}
	for _, want := range []string{"Preset reference:", "| reference:augshift-hws | mbv2-w0.35 | augshift | 2 | 50.00 ± 0.00 |",
		"| reference:augshift-plain | mbv2-w0.35 | augshift | 2 | 50.00 ± 0.00 |",
		"| augshift (hws) − shift | mbv2-w0.35 | 2 | s1 +0.00, s2 +0.00 | +0.00 ± 0.00 | 0 of 2 | 0 |",
		"| augadd − add | mbv2-w0.35 | 1 | s1 +0.00 | +0.00 | 0 of 1 | 1 |"} {
		if !strings.Contains(o, want) {
			t.Errorf("output lacks %q:\n%s", want, o)
		}
	}
}

// TestOnlyRuns: --only keeps the runs of the named row keys or methods, in the order named, and refuses a
// name that selects nothing.
func TestOnlyRuns(t *testing.T) {
	p := experiments.ReferencePreset([]uint64{1, 2}, true)
	runs, err := onlyRuns(p.Runs, "shift,augshift-plain")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	want := "reference-mbv2-w0.35-shift-s1 reference-mbv2-w0.35-shift-s2 reference-mbv2-w0.35-augshift-plain-s1 reference-mbv2-w0.35-augshift-plain-s2"
	if strings.Join(ids, " ") != want {
		t.Errorf("--only shift,augshift-plain selected %v, want %s", ids, want)
	}
	if all, _ := onlyRuns(p.Runs, ""); len(all) != len(p.Runs) {
		t.Errorf("empty --only kept %d of %d runs", len(all), len(p.Runs))
	}
	if _, err := onlyRuns(p.Runs, "bogus"); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("--only bogus: got %v, want an error naming it", err)
	}
	// The scaling study's row keys have two parts, cell and row: either part selects, and so does the pair.
	sc := experiments.ScalingPreset([]uint64{1}, true)
	for only, want := range map[string]string{
		"n20k:augshift-hws": "scaling-mbv2-w0.35-n20k-augshift-hws-s1",
		"e45":               "scaling-mbv2-w0.35-e45-shift-s1 scaling-mbv2-w0.35-e45-augshift-hws-s1 scaling-mbv2-w0.35-e45-base-s1 scaling-mbv2-w0.35-e45-netaug-s1",
	} {
		runs, err := onlyRuns(sc.Runs, only)
		ids = nil
		for _, r := range runs {
			ids = append(ids, r.ID)
		}
		if err != nil || strings.Join(ids, " ") != want {
			t.Errorf("scaling --only %s selected %v (%v), want %s", only, ids, err, want)
		}
	}
	if runs, _ := onlyRuns(sc.Runs, "netaug"); len(runs) != len(experiments.ScalingCells) {
		t.Errorf("scaling --only netaug selected %d runs, want one per cell", len(runs))
	}
}
