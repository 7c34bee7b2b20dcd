package main

import (
	"encoding/json"
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
