package viz

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
)

// option decodes a chart's echarts option.
func option(t *testing.T, c *Chart) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(c.Option()), &m); err != nil {
		t.Fatalf("chart %q: option is not JSON: %v\n%s", c.Title(), err, c.Option())
	}
	return m
}

func TestChartsOptions(t *testing.T) {
	names, charts := sampleCharts()
	wantSeries := map[string]int{"bar": 4, "lines": 2, "scatter": 3, "histogram": 3, "stacked": 5}
	for i, c := range charts {
		name := names[i]
		m := option(t, c)
		if m["animation"] != false {
			t.Errorf("%s: animation = %v, want false", name, m["animation"])
		}
		series, _ := m["series"].([]any)
		if len(series) != wantSeries[name] {
			t.Errorf("%s: %d series, want %d", name, len(series), wantSeries[name])
		}
		for _, s := range series {
			data, _ := s.(map[string]any)["data"].([]any)
			if len(data) == 0 {
				t.Errorf("%s: series %v has no data", name, s.(map[string]any)["name"])
			}
		}
		title := m["title"].(map[string]any)["text"]
		if title != c.Title() || c.Title() == "" {
			t.Errorf("%s: title %v, Title() %q", name, title, c.Title())
		}
		snip := c.Snippet()
		if !strings.Contains(snip, `id="`+c.ID()+`"`) || !strings.Contains(snip, "setOption(") {
			t.Errorf("%s: snippet lacks its element or setOption:\n%s", name, snip)
		}
		if strings.Contains(snip, libMarker) || strings.Contains(snip, "<script src=") {
			t.Errorf("%s: snippet must not load the library", name)
		}
	}
	// The second series of the bar chart's right axis exists; the NaN became a missing value.
	bar := option(t, charts[0])
	if ys := bar["yAxis"].([]any); len(ys) != 2 {
		t.Errorf("bar: %d y axes, want 2", len(ys))
	}
	if !strings.Contains(charts[0].Option(), `"-"`) {
		t.Error(`bar: NaN should be the missing value "-"`)
	}
	stacked := option(t, charts[4])
	for _, s := range stacked["series"].([]any) {
		if s.(map[string]any)["stack"] != "left" {
			t.Errorf("stacked: series %v not stacked", s.(map[string]any)["name"])
		}
	}
	// Scatter: point labels are the data names, the infinite point is dropped, the Line series is a line.
	sc := option(t, charts[2])
	types := map[string]string{}
	for _, s := range sc["series"].([]any) {
		sm := s.(map[string]any)
		types[sm["name"].(string)] = sm["type"].(string)
		if sm["name"] == "DeepShift" && len(sm["data"].([]any)) != 1 {
			t.Errorf("scatter: DeepShift has %d points, want 1 (Inf dropped)", len(sm["data"].([]any)))
		}
	}
	if types["ShiftAddAug"] != "line" || types["NetAug"] != "scatter" {
		t.Errorf("scatter: series types %v", types)
	}
	if !strings.Contains(charts[2].Option(), `"name":"mcunet"`) {
		t.Error("scatter: point labels missing")
	}
}

func TestUniqueIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 3 {
		_, charts := sampleCharts()
		for _, c := range charts {
			if seen[c.ID()] {
				t.Fatalf("duplicate chart id %s", c.ID())
			}
			seen[c.ID()] = true
		}
	}
}

func TestScriptInjection(t *testing.T) {
	c := Bar(Options{Title: "</script><script>alert(1)</script> <!-- x"}, []string{"</script>"},
		Series{Name: "s", Values: []float64{1}})
	snip := c.Snippet()
	if n := strings.Count(strings.ToLower(snip), "</script"); n != 1 {
		t.Fatalf("snippet has %d </script (want only its own):\n%s", n, snip)
	}
	if strings.Contains(snip, "<!--") {
		t.Fatal("snippet contains <!--")
	}
	if option(t, c)["title"].(map[string]any)["text"] != "</script><script>alert(1)</script> <!-- x" {
		t.Fatal("title changed by escaping")
	}
}

func TestLibraryScript(t *testing.T) {
	lib := LibraryScript()
	if !strings.Contains(lib, "(function (define, module, exports) {") || !strings.Contains(lib, "}).call(this);") {
		t.Fatal("library is not wrapped against AMD loaders")
	}
	if len(lib) < 1_000_000 {
		t.Fatalf("library only %d bytes", len(lib))
	}
	if !strings.Contains(lib, "Licensed to the Apache Software Foundation") {
		t.Fatal("library license header missing")
	}
}

func TestPage(t *testing.T) {
	_, charts := sampleCharts()
	p := NewPage("Report <1>").
		Markdown("# Results\n\nSome *text* with `code` & a [link](https://example.org).\n\n- one\n- two\n").
		Table("Table 1", []string{"op", "energy (pJ)"}, [][]string{{"FP32 mult", "3.7"}, {"<b>", "x"}}).
		Chart(charts...).
		HTML("<p id=raw>raw</p>")
	out := string(p.Bytes())
	if n := strings.Count(out, libMarker); n != 1 {
		t.Fatalf("library inlined %d times, want once", n)
	}
	if strings.Contains(out, "<script src=") || strings.Contains(out, "https://go-echarts") {
		t.Fatal("page loads something from outside")
	}
	if strings.Index(out, libMarker) > strings.Index(out, "setOption(") {
		t.Fatal("library must come before the charts")
	}
	for _, c := range charts {
		if !strings.Contains(out, `id="`+c.ID()+`"`) {
			t.Errorf("chart %q missing", c.Title())
		}
	}
	for _, want := range []string{"<title>Report &lt;1&gt;</title>", "<h1>Results</h1>", "<em>text</em>",
		"<code>code</code>", "&amp;", `<a href="https://example.org">link</a>`, "<li>two</li>",
		"<caption>Table 1</caption>", `<td class="num">3.7</td>`, "<td>&lt;b&gt;</td>", "<p id=raw>raw</p>",
		"energy (mJ)", "2.6", "ShiftConv"} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// No charts, no library.
	if out := string(NewPage("t").Markdown("x").Bytes()); strings.Contains(out, libMarker) {
		t.Error("page without charts inlines the library")
	}

	path := filepath.Join(t.TempDir(), "sub", "report.html")
	if err := p.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != out {
		t.Fatalf("written file differs (err %v)", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

func TestMarkdownTable(t *testing.T) {
	got := MarkdownHTML("| op | pJ |\n|---|--:|\n| add | 0.9 |\n| **mult** | `3.7` |\n\ntext <b>")
	for _, want := range []string{"<th>op</th>", `<td class="num">0.9</td>`, "<strong>mult</strong>",
		"<code>3.7</code>", "<p>text &lt;b&gt;</p>"} {
		if !strings.Contains(got, want) {
			t.Errorf("markdown table lacks %q:\n%s", want, got)
		}
	}
	if got := MarkdownHTML("[x](javascript:alert(1))"); strings.Contains(got, "href") {
		t.Errorf("javascript link kept: %s", got)
	}
	if got := MarkdownHTML("```\n<a> *b*\n```"); !strings.Contains(got, "<pre><code>&lt;a&gt; *b*</code></pre>") {
		t.Errorf("code block: %s", got)
	}
}

func TestHistogramCounts(t *testing.T) {
	edges := BinEdges(Bins{N: 4, Min: 0, Max: 4})
	if len(edges) != 5 || edges[0] != 0 || edges[4] != 4 {
		t.Fatalf("edges %v", edges)
	}
	counts := HistogramCounts([]float64{0, 0.5, 1, 3.99, 4, 5, -1, math.NaN()}, edges, false)
	want := []float64{2, 1, 0, 2}
	for i := range want {
		if counts[i] != want[i] {
			t.Fatalf("counts %v, want %v", counts, want)
		}
	}
	dens := HistogramCounts([]float64{0, 0.5, 1, 3.99, 4}, edges, true)
	area := 0.0
	for i, d := range dens {
		area += d * (edges[i+1] - edges[i])
	}
	if math.Abs(area-1) > 1e-12 {
		t.Fatalf("density area %v", area)
	}
	// Automatic range and degenerate inputs.
	e := BinEdges(Bins{N: 2}, Distribution{Values: []float64{-2, 6, math.Inf(1)}})
	if e[0] != -2 || e[2] != 6 {
		t.Fatalf("auto edges %v", e)
	}
	if e := BinEdges(Bins{}, Distribution{Values: []float64{3, 3}}); len(e) != 51 || e[0] != 2.5 || e[50] != 3.5 {
		t.Fatalf("single-value edges %v..%v (%d)", e[0], e[len(e)-1], len(e))
	}
}

func TestLengthMismatchPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "2 values for 3 categories") {
			t.Fatalf("recover() = %v", r)
		}
	}()
	Bar(Options{}, []string{"a", "b", "c"}, Series{Name: "s", Values: []float64{1, 2}})
}

func TestWrap(t *testing.T) {
	pie := charts.NewPie()
	pie.SetGlobalOptions(charts.WithInitializationOpts(opts.Initialization{ChartID: "abc"}))
	pie.AddSeries("share", []opts.PieData{{Name: "a", Value: 1}, {Name: "b", Value: 2}})
	c := Wrap(pie, "wrapped")
	snip := c.Snippet()
	if c.ID() != "abc" || !strings.Contains(snip, `id="abc"`) || c.Title() != "wrapped" ||
		!strings.Contains(snip, `"type":"pie"`) || strings.Contains(snip, "<script src=") {
		t.Fatalf("wrap: %q %q", c.ID(), snip)
	}
}

func TestDisplayOutsideNotebook(t *testing.T) {
	if InNotebook() {
		t.Skip("running inside GoNB")
	}
	_, charts := sampleCharts()
	Display(charts...) // must not block or panic
	NewLive().Update(charts[0])
	DisplayTable("t", []string{"a"}, [][]string{{"1"}})
}
