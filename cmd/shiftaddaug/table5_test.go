package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/datasets"
)

// TestTable5Command: --list prints Table 5 with the published values and "not run" rows; bad flags give one
// line errors.
func TestTable5Command(t *testing.T) {
	code, o, e := run(t, "table5", "--list", "--quick", "--out", t.TempDir())
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, e)
	}
	for _, want := range []string{"fashion-seg", "| mbv2-w0.35 | shift / augshift | not run", "88.01 / 94.52", "82.01 / 90.45"} {
		if !strings.Contains(o, want) {
			t.Errorf("output lacks %q:\n%s", want, o)
		}
	}
	if code, _, e := run(t, "table5", "--seeds", "x", "--list"); code == 0 || strings.Count(strings.TrimSpace(e), "\n") > 0 {
		t.Errorf("bad seeds: code %d, stderr %q", code, e)
	}
}

// TestTrainSegCommand: train --task seg trains a segmentation model on the derived task and reports mIoU;
// segmentation flags that do not fit are one-line errors.
func TestTrainSegCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("trains (seconds)")
	}
	if _, err := datasets.Open("fashion-mnist", datasets.Options{}); err != nil {
		t.Skipf("%v (run scripts/setup)", err)
	}
	code, o, e := run(t, "train", "--task", "seg", "--method", "shift", "--data", "fashion-seg:train=32,test=16", "--epochs", "1",
		"--batch", "16", "--bn-calib", "16")
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, e)
	}
	var sum map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(o)), &sum); err != nil {
		t.Fatalf("summary %q: %v", o, err)
	}
	if sum["task"] != "seg" || sum["res"] != 64.0 || sum["final_miou"] == nil {
		t.Errorf("summary %v", sum)
	}
	for _, bad := range [][]string{
		{"train", "--task", "seg", "--augment", "padcrop"},
		{"train", "--task", "segment"},
		{"train", "--data", "fashion-seg"},
		{"train", "--task", "seg", "--data", "fashion-mnist", "--epochs", "1"},
	} {
		code, _, e := run(t, bad...)
		if code == 0 || e == "" || strings.Count(strings.TrimSpace(e), "\n") > 0 {
			t.Errorf("%v: code %d, stderr %q", bad, code, e)
		}
	}
}
