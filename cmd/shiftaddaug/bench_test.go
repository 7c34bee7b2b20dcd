package main

import (
	"encoding/json"
	"github.com/shiftaddaug/shiftaddaug/datasets"
	"strings"
	"testing"
)

func TestBenchTrain(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles two training steps (seconds)")
	}
	for _, aug := range []bool{false, true} {
		args := []string{"bench", "train", "--model", "mbv2-w0.35", "--res", "32", "--batch", "2", "--steps", "1",
			"--warmup", "1", "--classes", "10"}
		if aug {
			args = append(args, "--aug")
		}
		code, o, e := run(t, args...)
		if code != 0 {
			t.Fatalf("%v: code %d, stderr %q", args, code, e)
		}
		lines := strings.Split(strings.TrimSpace(o), "\n")
		if len(lines) != 1 {
			t.Fatalf("want one JSON line, got %q", o)
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(lines[0]), &r); err != nil {
			t.Fatalf("not JSON: %v: %q", err, o)
		}
		for _, k := range []string{"backend", "model", "res", "batch", "aug", "s_per_step", "img_per_s", "peak_rss_mb",
			"method", "steps", "warmup", "go", "gomaxprocs"} {
			if _, ok := r[k]; !ok {
				t.Errorf("field %q missing from %s", k, lines[0])
			}
		}
		if r["model"] != "mbv2-w0.35" || r["res"] != 32.0 || r["batch"] != 2.0 || r["aug"] != aug {
			t.Errorf("wrong settings echoed: %s", lines[0])
		}
		if v, _ := r["img_per_s"].(float64); v <= 0 {
			t.Errorf("img_per_s %v", r["img_per_s"])
		}
		if v, _ := r["peak_rss_mb"].(float64); v <= 0 {
			t.Errorf("peak_rss_mb %v", r["peak_rss_mb"])
		}
		if aug && r["wide_channel_ratio"] != 3.0 {
			t.Errorf("augmented twin: wide_channel_ratio %v, want 3", r["wide_channel_ratio"])
		}
	}
}

// TestBenchTrainRealStep: --method augshift times the step train runs: the model's own augmentation lists, the
// method's default sharing (HWS), NetAug's per-step draw, batch 128 unless asked.
func TestBenchTrainRealStep(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a training step (seconds)")
	}
	code, o, e := run(t, "bench", "train", "--model", "mbv2-w0.35", "--method", "augshift", "--res", "32", "--batch", "2",
		"--steps", "1", "--warmup", "1", "--classes", "10")
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, e)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(o)), &r); err != nil {
		t.Fatalf("not one JSON line: %v: %q", err, o)
	}
	if r["method"] != "augshift" || r["aug"] != true || r["sharing"] != "hws" || r["sample"] != "random" || r["batch"] != 2.0 {
		t.Errorf("wrong settings echoed: %s", o)
	}
	if _, ok := r["wide_channel_ratio"]; ok {
		t.Errorf("the real step has no fixed twin, but reports its ratio: %s", o)
	}
}

// TestBenchRun: a whole tiny run, timed; its seconds split into the training epochs and the rest.
func TestBenchRun(t *testing.T) {
	if testing.Short() {
		t.Skip("trains (seconds)")
	}
	if _, err := datasets.Open("fashion-mnist", datasets.Options{}); err != nil {
		t.Skipf("%v (run scripts/setup)", err)
	}
	code, o, e := run(t, "bench", "run", "--method", "netaug", "--train-limit", "64", "--test-limit", "64", "--batch", "32",
		"--epochs", "2", "--eval-every", "2", "--bn-calib", "32")
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, e)
	}
	var r struct {
		Method   string  `json:"method"`
		Steps    int     `json:"steps"`
		Seconds  float64 `json:"seconds"`
		TrainS   float64 `json:"train_s"`
		Other    float64 `json:"eval_and_other_s"`
		FinalAcc float64 `json:"final_acc"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(o)), &r); err != nil {
		t.Fatalf("not one JSON line: %v: %q", err, o)
	}
	if r.Method != "netaug" || r.Steps != 4 || r.TrainS <= 0 || r.Other <= 0 || r.Seconds < r.TrainS || r.FinalAcc <= 0 {
		t.Errorf("bench run: %s", o)
	}
}

func TestBenchTrainBadFlags(t *testing.T) {
	for _, bad := range [][]string{
		{"bench"},
		{"bench", "nope"},
		{"bench", "train", "--model", "nope"},
		{"bench", "train", "--method", "mul"},
		{"bench", "train", "--res", "0"},
		{"bench", "train", "--batch", "-1"},
		{"bench", "train", "--steps", "0"},
		{"bench", "train", "--bogus"},
		{"bench", "train", "extra"},
		{"bench", "train", "--backend", "nosuchbackend"},
		{"bench", "train", "--res", "8"}, // too small for the model's strides
		{"bench", "train", "--method", "augshift", "--sample", "half"},
		{"bench", "train", "--method", "shift", "--sample", "max"},
		{"bench", "train", "--method", "augshift", "--sharing", "foo"},
		{"bench", "train", "--method", "augshift", "--aug"},
		{"bench", "run", "--dir", "somewhere"},
		{"bench", "run", "--epochs", "0"},
	} {
		code, _, e := run(t, bad...)
		if code == 0 || e == "" || strings.Count(strings.TrimSpace(e), "\n") != 0 {
			t.Errorf("%v: want a one-line error and non-zero exit, got code %d stderr %q", bad, code, e)
		}
	}
	if code, o, _ := run(t, "bench", "train", "--help"); code != 0 || !strings.Contains(o, "--model") {
		t.Errorf("bench train --help: code %d output %q", code, o)
	}
}
