package experiments

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/shiftaddaug/shiftaddaug/internal/atomicio"
	"github.com/shiftaddaug/shiftaddaug/pkg/viz"
)

// Files of the results directory written by WriteResults (besides runs/, which Execute writes).
const (
	ReportJSON         = "report.json"
	ReportMarkdown     = "report.md"
	ReportHTML         = "report.html"
	Table1JSON         = "table1.json"
	Table3HardwareJSON = "table3_hardware.json"
	Table3HardwareCSV  = "table3_hardware.csv"
	Table3AccuracyJSON = "table3_accuracy.json"
	Fig5JSON           = "fig5_energy_accuracy.json"
	LayersJSON         = "layers_energy.json"
	CurvesJSON         = "training_curves.json"
	Table7JSON         = "table7.json" // only when the report has Table 7 (AblationJSON("table7"))
	EnergyPNG          = "table3_energy.png"
)

// WriteResults writes the report into dir: report.md, report.html (self-contained, with the charts),
// report.json (all of it) and one JSON file per table or figure (plus Table 3's hardware columns as CSV; an
// ablation table's, e.g. table8.json, only when the report has it).
// Every file is written atomically. It returns the paths written.
func WriteResults(dir string, r *Report) ([]string, error) {
	var written []string
	put := func(name string, data []byte) error {
		path := filepath.Join(dir, name)
		if err := atomicio.WriteFile(path, data); err != nil {
			return err
		}
		written = append(written, path)
		return nil
	}
	putJSON := func(name string, v any) error {
		data, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding %s: %w", name, err)
		}
		return put(name, append(data, '\n'))
	}
	var csv bytes.Buffer
	if err := WriteTable3(&csv, r.Hardware, "csv", r.HardwareOptions.Res); err != nil {
		return nil, err
	}
	steps := []func() error{
		func() error { return putJSON(Table1JSON, r.Table1) },
		func() error { return putJSON(Table3HardwareJSON, r.Hardware) },
		func() error { return put(Table3HardwareCSV, csv.Bytes()) },
		func() error { return putJSON(LayersJSON, r.Layers) },
		func() error { return putJSON(Table3AccuracyJSON, r.Accuracy) },
		func() error { return putJSON(Fig5JSON, map[string]any{"note": r.Fig5Note, "points": r.Fig5}) },
		func() error { return putJSON(CurvesJSON, r.Curves) },
		func() error {
			for _, t := range r.Ablations {
				if err := putJSON(AblationJSON(t.Name), t.Rows); err != nil {
					return err
				}
			}
			return nil
		},
		func() error { return putJSON(ReportJSON, r) },
		func() error { return put(ReportMarkdown, []byte(r.Markdown())) },
		func() error { return put(ReportHTML, r.Page().Bytes()) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return written, err
		}
	}
	return written, nil
}

// AblationJSON is the file of an ablation table's rows in the results directory ("table8.json").
func AblationJSON(name string) string { return name + ".json" }

// ErrNoChromium is returned by ScreenshotChart when no headless Chromium is installed.
var ErrNoChromium = errors.New("no chromium in PATH (Debian package chromium)")

// FindChromium returns the path of a Chromium or Chrome binary, or "" if there is none.
func FindChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// ScreenshotChart renders one chart alone on a white page in headless Chromium and writes a PNG of it (the
// chart's size plus an 8-pixel margin) to path, atomically. It returns ErrNoChromium when Chromium is missing.
func ScreenshotChart(c *viz.Chart, width, height int, path string) error {
	bin := FindChromium()
	if bin == "" {
		return ErrNoChromium
	}
	tmp, err := os.MkdirTemp("", "shiftaddaug-shot-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	page := "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n" + viz.LibraryScript() +
		"</head>\n<body style=\"margin:0;padding:8px;background:#fff\">\n" + c.Snippet() + "</body></html>\n"
	htmlPath := filepath.Join(tmp, "chart.html")
	if err := os.WriteFile(htmlPath, []byte(page), 0o644); err != nil {
		return err
	}
	pngPath := filepath.Join(tmp, "chart.png")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Flags from notes/notebooks.md §4; the virtual time budget lets the page finish drawing.
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(tmp, "profile"), "--hide-scrollbars", "--virtual-time-budget=5000",
		"--screenshot="+pngPath, fmt.Sprintf("--window-size=%d,%d", width+16, height+16), "file://"+htmlPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("chromium screenshot: %v: %s", err, lastLine(stderr.String()))
	}
	data, err := os.ReadFile(pngPath)
	if err != nil {
		return fmt.Errorf("chromium wrote no screenshot: %v: %s", err, lastLine(stderr.String()))
	}
	if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
		return fmt.Errorf("chromium screenshot is not a PNG")
	}
	return atomicio.WriteFile(path, data)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
