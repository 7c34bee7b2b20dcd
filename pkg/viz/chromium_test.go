package viz

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shiftaddaug/shiftaddaug/pkg/viz/viztest"
	"github.com/shiftaddaug/shiftaddaug/third_party/echarts"
)

// These tests open pages in headless Chromium and check that the charts actually drew (see package viztest).
// Chromium is required, not optional: scripts/setup installs it (Debian package chromium).

// TestReportDrawsInChromium writes a report with every chart kind through Page.WriteFile and checks in
// Chromium that each chart drew.
func TestReportDrawsInChromium(t *testing.T) {
	names, charts := sampleCharts()
	path := filepath.Join(t.TempDir(), "report.html")
	p := NewPage("viz end-to-end").Markdown("Every chart kind, drawn offline.").Chart(charts...).HTML(viztest.ProbeScript)
	if err := p.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i, c := range charts {
		want[c.ID()] = names[i]
	}
	res := viztest.Probe(t, path)
	if len(res.Charts) != len(charts) {
		t.Errorf("%d chart elements in the page, want %d", len(res.Charts), len(charts))
	}
	viztest.CheckDrawn(t, res, want)
}

// TestRequireJSTrap loads an AMD loader (as the classic Notebook and Debian's nbconvert template do) before
// the library: the wrapped library must still define the global echarts and the chart must draw. As a
// control, the bare library in the same situation leaves echarts undefined, which the probe must report.
func TestRequireJSTrap(t *testing.T) {
	const amd = `<script>window.define = function () { window.__amdCaptured = true; }; window.define.amd = {};</script>` + "\n"
	_, charts := sampleCharts()
	c := charts[0]
	dir := t.TempDir()

	good := filepath.Join(dir, "wrapped.html")
	page := "<!DOCTYPE html><html><head><meta charset=\"utf-8\">" + amd + LibraryScript() + "</head><body>" +
		c.Snippet() + viztest.ProbeScript + "</body></html>"
	if err := os.WriteFile(good, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	viztest.CheckDrawn(t, viztest.Probe(t, good), map[string]string{c.ID(): "bar under AMD loader"})

	bad := filepath.Join(dir, "bare.html")
	page = "<!DOCTYPE html><html><head><meta charset=\"utf-8\">" + amd + "<script>" + echarts.MinJS +
		"</script></head><body>" + c.Snippet() + viztest.ProbeScript + "</body></html>"
	if err := os.WriteFile(bad, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	res := viztest.Probe(t, bad)
	if res.Echarts != "undefined" {
		t.Fatalf("control: bare echarts under an AMD loader gave echarts=%q; the trap did not trigger", res.Echarts)
	}
	if len(res.Charts) != 1 || res.Charts[0].Instance || !strings.Contains(res.Charts[0].Text, "not loaded") {
		t.Fatalf("control: the chart should report the missing library: %+v", res.Charts)
	}
}
