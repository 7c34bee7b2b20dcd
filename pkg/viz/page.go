package viz

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"strings"

	"github.com/shiftaddaug/shiftaddaug/internal/atomicio"
)

// Page is a self-contained HTML report: a title, then text, tables and charts in the order they were added.
// The echarts library is inlined once, in the head, when the page has at least one chart; the file needs
// nothing else to render (no network, no files beside it).
//
// The zero value is an untitled page. Methods return the page so that calls can be chained. A Page is not
// safe for concurrent use.
type Page struct {
	Title string // <title> and the top heading; may be empty

	parts  []string
	charts int
}

// NewPage returns an empty page with the given title.
func NewPage(title string) *Page { return &Page{Title: title} }

// Markdown appends text written in the Markdown subset that MarkdownHTML understands (headings, paragraphs,
// lists, code, emphasis, links and pipe tables).
func (p *Page) Markdown(md string) *Page {
	p.parts = append(p.parts, MarkdownHTML(md))
	return p
}

// Heading appends a section heading (<h2>).
func (p *Page) Heading(text string) *Page {
	p.parts = append(p.parts, "<h2>"+html.EscapeString(text)+"</h2>\n")
	return p
}

// HTML appends raw HTML as is (e.g. a table rendered elsewhere). It is not escaped or checked.
func (p *Page) HTML(raw string) *Page {
	p.parts = append(p.parts, raw+"\n")
	return p
}

// Table appends a table with an optional caption; cells are escaped text (see TableHTML).
func (p *Page) Table(caption string, header []string, rows [][]string) *Page {
	p.parts = append(p.parts, TableHTML(caption, header, rows))
	return p
}

// Chart appends charts, each in its own block.
func (p *Page) Chart(charts ...*Chart) *Page {
	for _, c := range charts {
		p.parts = append(p.parts, "<figure class=\"viz-figure\">\n"+c.Snippet()+"</figure>\n")
		p.charts++
	}
	return p
}

// NumCharts returns the number of charts added so far.
func (p *Page) NumCharts() int { return p.charts }

const pageStyle = `body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
  max-width: 1000px; padding: 0 1em; color: #222; line-height: 1.45; }
h1, h2, h3 { line-height: 1.2; }
table.viz-table { border-collapse: collapse; margin: 1em 0; font-size: 14px; }
table.viz-table caption { caption-side: top; text-align: left; font-weight: bold; padding: 0.3em 0; }
table.viz-table th, table.viz-table td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
table.viz-table th { background: #f3f3f3; }
table.viz-table td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure.viz-figure { margin: 1.5em 0; }
code, pre { background: #f6f6f6; font-family: Menlo, Consolas, monospace; font-size: 90%; }
pre { padding: 0.6em; overflow-x: auto; }
`

// WriteTo writes the whole page as HTML to w.
func (p *Page) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
	fmt.Fprintf(&b, "<title>%s</title>\n<style>\n%s</style>\n", html.EscapeString(p.Title), pageStyle)
	if p.charts > 0 {
		b.WriteString(LibraryScript())
	}
	b.WriteString("</head>\n<body>\n")
	if p.Title != "" {
		fmt.Fprintf(&b, "<h1>%s</h1>\n", html.EscapeString(p.Title))
	}
	for _, part := range p.parts {
		b.WriteString(part)
	}
	b.WriteString("</body>\n</html>\n")
	return b.WriteTo(w)
}

// Bytes returns the page's HTML.
func (p *Page) Bytes() []byte {
	var b bytes.Buffer
	_, _ = p.WriteTo(&b)
	return b.Bytes()
}

// WriteFile writes the page to path atomically (a temporary file renamed over path), creating directories.
// A reader never sees a half-written report.
func (p *Page) WriteFile(path string) error {
	if err := atomicio.WriteFile(path, p.Bytes()); err != nil {
		return fmt.Errorf("writing report %q: %w", p.Title, err)
	}
	return nil
}

// TableHTML renders a table of text cells (escaped) with an optional caption. Cells that parse as numbers
// are right-aligned. Rows shorter than the header are padded.
func TableHTML(caption string, header []string, rows [][]string) string {
	var b strings.Builder
	b.WriteString("<table class=\"viz-table\">\n")
	if caption != "" {
		fmt.Fprintf(&b, "<caption>%s</caption>\n", html.EscapeString(caption))
	}
	if len(header) > 0 {
		b.WriteString("<thead><tr>")
		for _, h := range header {
			fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(h))
		}
		b.WriteString("</tr></thead>\n")
	}
	b.WriteString("<tbody>\n")
	for _, r := range rows {
		b.WriteString("<tr>")
		n := max(len(r), len(header))
		for i := 0; i < n; i++ {
			cell := ""
			if i < len(r) {
				cell = r[i]
			}
			if isNumber(cell) {
				fmt.Fprintf(&b, "<td class=\"num\">%s</td>", html.EscapeString(cell))
			} else {
				fmt.Fprintf(&b, "<td>%s</td>", html.EscapeString(cell))
			}
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</tbody>\n</table>\n")
	return b.String()
}

// isNumber reports whether s looks like a number, possibly with a sign, a percent sign or an x (as in "1.5x").
func isNumber(s string) bool {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimSuffix(s, "%"), "x")
	s = strings.TrimLeft(s, "+-")
	if s == "" {
		return false
	}
	digits := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '.' || r == ',' || r == 'e' || r == 'E' || r == '-' || r == '+':
		default:
			return false
		}
	}
	return digits > 0
}
