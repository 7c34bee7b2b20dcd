// Package viztest checks in headless Chromium that pages with pkg/viz charts actually draw. It is for tests:
// ProbeScript, added to a page, writes into the DOM (after rendering) every echarts chart's series and how
// many of its canvas pixels are painted in series colours; Probe opens the page with --dump-dom after a
// virtual time budget and returns that; CheckDrawn and CheckAllDrawn fail the test on blank charts.
//
// Chromium is required, not optional: without it the tests fail and say to run scripts/setup (which
// installs the Debian package chromium).
package viztest

import (
	"bytes"
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
)

// ProbeScript runs after load and appends <pre id="viz-probe">{JSON}</pre> to the body.
const ProbeScript = `<script type="text/javascript">
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

type ChartProbe struct {
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

type Result struct {
	Echarts string       `json:"echarts"`
	Errors  []string     `json:"errors"`
	Charts  []ChartProbe `json:"charts"`
}

// Chromium returns the browser binary or fails the test: a missing browser must not pass silently.
func Chromium(t *testing.T) string {
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

// Probe opens the HTML file in headless Chromium and returns what the probe script wrote.
func Probe(t *testing.T, path string) Result {
	t.Helper()
	bin := Chromium(t)
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
	var res Result
	if err := json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &res); err != nil {
		t.Fatalf("probe output: %v\n%s", err, m[1])
	}
	return res
}

// CheckDrawn checks that every chart in want was drawn: an echarts instance with its series and points, and
// a canvas with a fair share of painted pixels, many of them in the series colours.
func CheckDrawn(t *testing.T, res Result, want map[string]string) {
	t.Helper()
	if res.Echarts != "object" {
		t.Fatalf("echarts is %q in the page, want object", res.Echarts)
	}
	if len(res.Errors) > 0 {
		t.Errorf("script errors in the page: %v", res.Errors)
	}
	got := map[string]ChartProbe{}
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

// CheckAllDrawn checks that the page has at least min charts and that every chart in it drew.
func CheckAllDrawn(t *testing.T, res Result, min int) {
	t.Helper()
	if len(res.Charts) < min {
		t.Fatalf("%d charts in the page, want at least %d", len(res.Charts), min)
	}
	want := map[string]string{}
	for _, c := range res.Charts {
		want[c.ID] = "chart " + c.ID
	}
	CheckDrawn(t, res, want)
}

// ProbeFile copies the HTML file at path into a temporary directory with ProbeScript added before </body>,
// and probes the copy; the original is left alone.
func ProbeFile(t *testing.T, path string) Result {
	t.Helper()
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndex(page, []byte("</body>"))
	if i < 0 {
		i = len(page)
	}
	probed := append(append(append([]byte{}, page[:i]...), ProbeScript...), page[i:]...)
	copyPath := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(copyPath, probed, 0o644); err != nil {
		t.Fatal(err)
	}
	return Probe(t, copyPath)
}
