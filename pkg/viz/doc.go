// Package viz draws the project's charts with go-echarts so that they render without a network: in GoNB
// notebooks (live and in nbconvert exports) and in self-contained HTML reports.
//
// # Offline library
//
// go-echarts normally loads echarts.min.js from a CDN, which leaves a blank page offline. viz instead inlines
// Apache ECharts 5.6.0, which the module embeds in package third_party/echarts (the file is committed there
// with its LICENSE; //go:embed cannot reach outside a package's directory, hence that small package). The
// library is wrapped as
//
//	<script>(function(define, module, exports) { ...echarts.min.js... })();</script>
//
// which hides an AMD loader (require.js, present in the classic Notebook and in Debian's nbconvert HTML
// template) from the UMD bundle: without the wrapper echarts registers as an anonymous AMD module, the
// global echarts is never defined and every chart stays blank.
//
// # Charts
//
// The constructors take plain data (no other project package): [Bar] (grouped bars, e.g. energy and latency
// per model and method), [StackedBar] (per-layer energy breakdown), [Lines] (training curves), [Scatter]
// (accuracy vs energy with point labels) and [Histogram] (overlaid weight distributions). All have animation
// off so that screenshots show the final state. A [Chart] renders as an HTML snippet ([Chart.Snippet]) that
// needs the library once per page ([LibraryScript]), or standalone ([Chart.HTML]).
//
// # Reports and notebooks
//
// [Page] collects Markdown-ish text, HTML tables and charts into one self-contained HTML file, written
// atomically. In GoNB, [Display] shows charts (library sent once per cell execution, output flushed with
// gonbui.Sync) and [Live] redraws charts in place while training. Package vizplots (pkg/viz/vizplots)
// implements GoMLX's plots.Plotter on top of [Live], so a GoMLX training loop plots its metrics offline.
package viz
