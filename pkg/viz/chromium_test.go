package viz

import (
	"context"
	"encoding/json"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shiftaddaug/shiftaddaug/third_party/echarts"
)

// These tests open pages in headless Chromium and check that the charts actually drew: a probe script in the
// page waits for rendering, then writes into the DOM, for each echarts instance, its series and how many
// canvas pixels are painted in the palette's colours. --dump-dom prints the DOM after a virtual time budget.
// Chromium is required, not optional: scripts/setup installs it (Debian package chromium).

// probeScript runs after load and appends <pre id="viz-probe">{JSON}</pre> to the body.
const probeScript = `<script type="text/javascript">
window.addEventListener("load", function () {
  setTimeout(function () {
    var palette = [[84,112,198],[145,204,117],[250,200,88],[238,102,102],[115,192,222]];
    var res = {echarts: typeof echarts, errors: window.__vizErrors || [], charts: []};
    document.querySelectorAll(".viz-chart, [_echarts_instance_]").forEach(function (el) {
      var r = {id: el.id, text: el.textContent, instance: false, series: 0, points: 0, w: 0, h: 0, painted: 0, colored: 0};
      var inst = (typeof echarts !== "undefined") ? echarts.getInstanceByDom(el) : null;
      if (inst) {
        r.instance = true;
        var o = inst.getOption();
        r.series = o.series.length;
        o.series.forEach(function (s) { r.points += (s.data || []).length; });
      }
      var cv = el.querySelector("canvas");
      if (cv) {
        r.w = cv.width; r.h = cv.height;
        var d = cv.getContext("2d").getImageData(0, 0, cv.width, cv.height).data;
        for (var i = 0; i < d.length; i += 4) {
          if (d[i+3] === 0) continue;
          r.painted++;
          if (d[i+3] < 100) continue;
          for (var k = 0; k < palette.length; k++) {
            var p = palette[k];
            if (Math.abs(d[i]-p[0]) + Math.abs(d[i+1]-p[1]) + Math.abs(d[i+2]-p[2]) < 60) { r.colored++; break; }
          }
        }
      }
      res.charts.push(r);
    });
    var pre = document.createElement("pre");
    pre.id = "viz-probe";
    pre.textContent = JSON.stringify(res);
    document.body.appendChild(pre);
  }, 1000);
});
window.addEventListener("error", function (e) { (window.__vizErrors = window.__vizErrors || []).push(String(e.message)); });
</script>
`

type probeChart struct {
	ID       string `json:"id"`
	Text     string `json:"text"`
	Instance bool   `json:"instance"`
	Series   int    `json:"series"`
	Points   int    `json:"points"`
	W        int    `json:"w"`
	H        int    `json:"h"`
	Painted  int    `json:"painted"`
	Colored  int    `json:"colored"`
}

type probeResult struct {
	Echarts string       `json:"echarts"`
	Errors  []string     `json:"errors"`
	Charts  []probeChart `json:"charts"`
}

// chromium returns the browser binary or fails the test: a missing browser must not pass silently.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("headless Chromium not found (chromium, chromium-browser or google-chrome in PATH); " +
		"run scripts/setup, which installs the Debian package chromium")
	return ""
}

// probe opens the HTML file in headless Chromium and returns what the probe script wrote.
func probe(t *testing.T, path string) probeResult {
	t.Helper()
	bin := chromium(t)
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--hide-scrollbars", "--window-size=1000,800",
		"--virtual-time-budget=5000", "--dump-dom", "file://"+abs)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, stderr.String())
	}
	m := regexp.MustCompile(`(?s)<pre id="viz-probe">(.*?)</pre>`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("the probe did not run in %s (no #viz-probe in the DOM); chromium stderr:\n%s", path, stderr.String())
	}
	var res probeResult
	if err := json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &res); err != nil {
		t.Fatalf("probe output: %v\n%s", err, m[1])
	}
	return res
}

// checkDrawn checks that every chart in want was drawn: an echarts instance with its series and points, and
// a canvas with a fair share of painted pixels, many of them in the series colours.
func checkDrawn(t *testing.T, res probeResult, want map[string]string) {
	t.Helper()
	if res.Echarts != "object" {
		t.Fatalf("echarts is %q in the page, want object", res.Echarts)
	}
	if len(res.Errors) > 0 {
		t.Errorf("script errors in the page: %v", res.Errors)
	}
	got := map[string]probeChart{}
	for _, c := range res.Charts {
		got[c.ID] = c
	}
	for id, name := range want {
		c, ok := got[id]
		switch {
		case !ok:
			t.Errorf("%s: element %s not in the page", name, id)
		case !c.Instance || c.Series == 0 || c.Points == 0:
			t.Errorf("%s: no echarts instance with data (%+v)", name, c)
		case c.W < 100 || c.H < 100:
			t.Errorf("%s: canvas %dx%d", name, c.W, c.H)
		case c.Painted < c.W*c.H/50:
			t.Errorf("%s: only %d of %d canvas pixels painted (blank chart)", name, c.Painted, c.W*c.H)
		case c.Colored < 200:
			t.Errorf("%s: only %d pixels in series colours (no data drawn?)", name, c.Colored)
		default:
			t.Logf("%s: %d series, %d points, %d/%d pixels painted, %d in series colours",
				name, c.Series, c.Points, c.Painted, c.W*c.H, c.Colored)
		}
	}
}

// TestReportDrawsInChromium writes a report with every chart kind through Page.WriteFile and checks in
// Chromium that each chart drew.
func TestReportDrawsInChromium(t *testing.T) {
	names, charts := sampleCharts()
	path := filepath.Join(t.TempDir(), "report.html")
	p := NewPage("viz end-to-end").Markdown("Every chart kind, drawn offline.").Chart(charts...).HTML(probeScript)
	if err := p.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i, c := range charts {
		want[c.ID()] = names[i]
	}
	res := probe(t, path)
	if len(res.Charts) != len(charts) {
		t.Errorf("%d chart elements in the page, want %d", len(res.Charts), len(charts))
	}
	checkDrawn(t, res, want)
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
		c.Snippet() + probeScript + "</body></html>"
	if err := os.WriteFile(good, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	checkDrawn(t, probe(t, good), map[string]string{c.ID(): "bar under AMD loader"})

	bad := filepath.Join(dir, "bare.html")
	page = "<!DOCTYPE html><html><head><meta charset=\"utf-8\">" + amd + "<script>" + echarts.MinJS +
		"</script></head><body>" + c.Snippet() + probeScript + "</body></html>"
	if err := os.WriteFile(bad, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	res := probe(t, bad)
	if res.Echarts != "undefined" {
		t.Fatalf("control: bare echarts under an AMD loader gave echarts=%q; the trap did not trigger", res.Echarts)
	}
	if len(res.Charts) != 1 || res.Charts[0].Instance || !strings.Contains(res.Charts[0].Text, "not loaded") {
		t.Fatalf("control: the chart should report the missing library: %+v", res.Charts)
	}
}
