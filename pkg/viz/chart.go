package viz

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
	"github.com/go-echarts/go-echarts/v2/render"

	"github.com/shiftaddaug/shiftaddaug/third_party/echarts"
)

// Default chart size in pixels, used when Options.Width or Options.Height is zero.
const (
	DefaultWidth  = 900
	DefaultHeight = 500
)

// Options are the settings common to all chart kinds. The zero value gives an untitled DefaultWidth x
// DefaultHeight chart with linear axes.
type Options struct {
	Title    string // chart title, drawn top left
	Subtitle string // smaller line under the title
	XName    string // x axis name (with unit), e.g. "step" or "energy (mJ)"
	YName    string // y axis name (with unit)
	Y2Name   string // right y axis name; Bar and StackedBar only, for series with RightAxis set
	LogX     bool   // logarithmic x axis (Lines and Scatter)
	LogY     bool   // logarithmic y axis; values <= 0 are left out
	Width    int    // pixels; 0 means DefaultWidth
	Height   int    // pixels; 0 means DefaultHeight
}

func (o Options) size() (w, h int) {
	w, h = o.Width, o.Height
	if w <= 0 {
		w = DefaultWidth
	}
	if h <= 0 {
		h = DefaultHeight
	}
	return w, h
}

// Chart is a rendered chart: an element with a unique id and the echarts option that draws into it.
// It is immutable and safe to render many times; each constructor call makes a new id.
type Chart struct {
	id      string
	title   string
	width   int
	height  int
	option  string // echarts option, JSON
	element string // optional element HTML (from Wrap); empty means the default <div>
}

// ID returns the DOM id of the chart's element.
func (c *Chart) ID() string { return c.id }

// Title returns the chart's title ("" if none).
func (c *Chart) Title() string { return c.title }

// Option returns the echarts option object as JSON, as passed to setOption.
func (c *Chart) Option() string { return c.option }

// Snippet returns the chart's HTML without the echarts library: a <div> and a <script> that draws into it.
// The page must load the library once, before the snippet (see LibraryScript). The script finds the
// global echarts; if it is missing it writes a short error into the element instead of failing silently.
func (c *Chart) Snippet() string { return c.snippet(c.id) }

// HTML returns a standalone snippet: LibraryScript followed by Snippet. Use it where each piece of HTML must
// stand alone (about 1 MB each); within one page prefer LibraryScript once and Snippet per chart.
func (c *Chart) HTML() string { return LibraryScript() + c.Snippet() }

// snippet renders element and script; key names the slot the echarts instance is registered under, so that
// a later snippet with the same key (a Live update) disposes of the previous instance.
func (c *Chart) snippet(key string) string {
	var b strings.Builder
	if c.element != "" {
		b.WriteString(c.element)
	} else {
		fmt.Fprintf(&b, `<div class="viz-chart" id="%s" style="width:%dpx;height:%dpx;max-width:100%%;"></div>`,
			c.id, c.width, c.height)
	}
	b.WriteString("\n<script type=\"text/javascript\">\n(function () {\n")
	fmt.Fprintf(&b, "  var el = document.getElementById(%s), key = %s;\n", jsString(c.id), jsString(key))
	b.WriteString(`  if (!el) { return; }
  if (typeof echarts === "undefined") {
    el.textContent = "chart not drawn: the echarts library was not loaded before this chart";
    return;
  }
  var reg = window.__vizCharts = window.__vizCharts || {};
  var old = reg[key];
  if (old && !old.isDisposed() && old.getDom() !== el) { old.dispose(); }
  var chart = echarts.getInstanceByDom(el) || echarts.init(el, null, {renderer: "canvas"});
  reg[key] = chart;
  chart.setOption(`)
	b.WriteString(scriptSafe(c.option))
	b.WriteString(", true);\n})();\n</script>\n")
	return b.String()
}

// libMarker is an attribute on the library's <script> tag; tests count it to check the library appears once.
const libMarker = `data-viz-lib="echarts-` + echarts.Version + `"`

// LibraryScript returns a <script> element that defines the global echarts (5.6.0) from the embedded
// library, wrapped so that an AMD loader such as require.js cannot capture it. It does nothing if echarts is
// already defined on the page. About 1 MB.
func LibraryScript() string {
	return "<script type=\"text/javascript\" " + libMarker + ">\n(function (define, module, exports) {\n" +
		"if (typeof window !== \"undefined\" && typeof window.echarts !== \"undefined\") { return; }\n" +
		echarts.MinJS + "\n}).call(this);\n</script>\n"
}

// Wrap turns any go-echarts chart (anything with RenderSnippet, e.g. *charts.Bar) into a Chart, for charts
// the constructors here do not cover. Its element (id and size) is kept; its asset links are dropped, since
// viz inlines the library. Title is what Chart.Title reports. Animation is whatever the chart set.
func Wrap(ec render.Renderer, title string) *Chart {
	s := ec.RenderSnippet()
	m := regexp.MustCompile(`id="([^"]+)"`).FindStringSubmatch(s.Element)
	if m == nil {
		panic("viz.Wrap: the go-echarts snippet has no element id")
	}
	return &Chart{id: m[1], title: title, option: strings.TrimSpace(s.Option), element: s.Element}
}

// newID returns a DOM id that is unique across processes, so that charts displayed by different notebook
// cells (different processes) never collide on one page.
func newID() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("viz: reading random bytes: %v", err))
	}
	return "viz_" + hex.EncodeToString(b[:])
}

// jsString quotes s as a JavaScript string literal that is safe inside <script>.
func jsString(s string) string {
	b, _ := json.Marshal(s) // json.Marshal escapes <, > and & in strings
	return string(b)
}

// scriptSafe makes JSON text safe to embed in a <script> element: "</" cannot close the tag, and "<!--"
// cannot start an HTML comment. Both only occur inside JSON strings, where "\/" and "\u003c" mean the same.
func scriptSafe(js string) string {
	js = strings.ReplaceAll(js, "</", `<\/`)
	return strings.ReplaceAll(js, "<!--", `\u003c!--`)
}

// finish renders a go-echarts chart built by the constructors into a Chart.
func finish(o Options, id string, ec render.Renderer) *Chart {
	w, h := o.size()
	s := ec.RenderSnippet()
	option := strings.TrimSpace(s.Option)
	if !json.Valid([]byte(option)) {
		// go-echarts drops marshal errors; the constructors keep NaN and Inf out, so this is a bug here.
		panic(fmt.Sprintf("viz: go-echarts produced an invalid option for chart %q", o.Title))
	}
	return &Chart{id: id, title: o.Title, width: w, height: h, option: option}
}

// layout holds what the chart kinds tell common about themselves.
type layout struct {
	legend      bool // reserve room for the legend under the title
	axisTrigger bool // axis-wide tooltip (bars, lines) rather than per item (scatter)
	rightAxis   bool // room for a right y axis
	bottom      int  // room under the plot for axis labels and name; 0 means 70
}

// common returns the global options shared by every chart kind.
func common(o Options, id string, l layout) []charts.GlobalOpts {
	w, h := o.size()
	top := 20
	if o.Title != "" {
		top += 30
	}
	if o.Subtitle != "" {
		top += 20
	}
	legendTop := top - 10
	if l.legend {
		top += 30
	}
	trigger := "item"
	if l.axisTrigger {
		trigger = "axis"
	}
	right := 40
	if l.rightAxis {
		right = 80
	}
	bottom := l.bottom
	if bottom <= 0 {
		bottom = 70
	}
	return []charts.GlobalOpts{
		charts.WithInitializationOpts(opts.Initialization{
			ChartID: id, Width: fmt.Sprintf("%dpx", w), Height: fmt.Sprintf("%dpx", h),
			PageTitle: o.Title, AssetsHost: "./", // no CDN: the library is inlined
		}),
		charts.WithAnimation(false),
		charts.WithTitleOpts(opts.Title{Title: o.Title, Subtitle: o.Subtitle, Left: "10"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(l.legend), Type: "scroll", Top: fmt.Sprint(legendTop),
			Left: "10", Right: "10"}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: trigger}),
		charts.WithGridOpts(opts.Grid{Top: fmt.Sprint(top), Left: "80", Right: fmt.Sprint(right),
			Bottom: fmt.Sprint(bottom)}),
	}
}

// named reports whether a legend is worth drawing for these series names: several series, or one named.
func named(names ...string) bool {
	return len(names) > 1 || (len(names) == 1 && names[0] != "")
}

// axisType maps the log flag to an echarts axis type.
func axisType(log bool, otherwise string) string {
	if log {
		return "log"
	}
	return otherwise
}
