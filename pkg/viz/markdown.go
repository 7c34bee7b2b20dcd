package viz

import (
	"html"
	"regexp"
	"strconv"
	"strings"
)

// MarkdownHTML converts a small, predictable subset of Markdown to HTML. All text is escaped first, so raw
// HTML in the input shows as text (use Page.HTML for HTML). Supported:
//
//   - ATX headings: "# ", "## ", ... "###### "
//   - paragraphs separated by blank lines
//   - unordered lists ("- " or "* ") and ordered lists ("1. "), one level
//   - fenced code blocks (```), shown verbatim
//   - pipe tables: a header row, a separator row of dashes (colons allowed) and body rows
//   - inline: `code`, **bold**, *italic*, [text](url)
func MarkdownHTML(md string) string {
	lines := strings.Split(strings.ReplaceAll(md, "\r\n", "\n"), "\n")
	var b strings.Builder
	var para []string
	flush := func() {
		if len(para) > 0 {
			b.WriteString("<p>" + inline(strings.Join(para, "\n")) + "</p>\n")
			para = nil
		}
	}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			flush()
		case strings.HasPrefix(trimmed, "```"):
			flush()
			var code []string
			for i++; i < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[i]), "```"); i++ {
				code = append(code, lines[i])
			}
			b.WriteString("<pre><code>" + html.EscapeString(strings.Join(code, "\n")) + "</code></pre>\n")
		case headingRE.MatchString(trimmed):
			flush()
			m := headingRE.FindStringSubmatch(trimmed)
			n := string(rune('0' + len(m[1])))
			b.WriteString("<h" + n + ">" + inline(m[2]) + "</h" + n + ">\n")
		case isTableRow(trimmed) && i+1 < len(lines) && tableSepRE.MatchString(strings.TrimSpace(lines[i+1])):
			flush()
			header := splitRow(trimmed)
			var rows [][]string
			for i += 2; i < len(lines) && isTableRow(strings.TrimSpace(lines[i])); i++ {
				rows = append(rows, splitRow(strings.TrimSpace(lines[i])))
			}
			i--
			b.WriteString(markdownTable(header, rows))
		case ulRE.MatchString(line) || olRE.MatchString(line):
			flush()
			re, tag := ulRE, "ul"
			if olRE.MatchString(line) {
				re, tag = olRE, "ol"
			}
			b.WriteString("<" + tag + ">\n")
			for ; i < len(lines) && re.MatchString(lines[i]); i++ {
				b.WriteString("<li>" + inline(re.ReplaceAllString(lines[i], "")) + "</li>\n")
			}
			i--
			b.WriteString("</" + tag + ">\n")
		default:
			para = append(para, trimmed)
		}
	}
	flush()
	return b.String()
}

var (
	headingRE  = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*$`)
	ulRE       = regexp.MustCompile(`^\s*[-*]\s+`)
	olRE       = regexp.MustCompile(`^\s*\d+[.)]\s+`)
	tableSepRE = regexp.MustCompile(`^\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?$`)
	codeRE     = regexp.MustCompile("`([^`]+)`")
	boldRE     = regexp.MustCompile(`\*\*([^*]+)\*\*`)
	italicRE   = regexp.MustCompile(`\*([^*\s][^*]*)\*`)
	linkRE     = regexp.MustCompile(`\[([^\]]+)\]\(([^)\s]+)\)`)
)

func isTableRow(s string) bool { return strings.HasPrefix(s, "|") && strings.Count(s, "|") >= 2 }

func splitRow(s string) []string {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "|"), "|")
	cells := strings.Split(s, "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}

func markdownTable(header []string, rows [][]string) string {
	var b strings.Builder
	b.WriteString("<table class=\"viz-table\">\n<thead><tr>")
	for _, h := range header {
		b.WriteString("<th>" + inline(h) + "</th>")
	}
	b.WriteString("</tr></thead>\n<tbody>\n")
	for _, r := range rows {
		b.WriteString("<tr>")
		for j := range header {
			cell := ""
			if j < len(r) {
				cell = r[j]
			}
			if isNumber(cell) {
				b.WriteString("<td class=\"num\">" + inline(cell) + "</td>")
			} else {
				b.WriteString("<td>" + inline(cell) + "</td>")
			}
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</tbody>\n</table>\n")
	return b.String()
}

// inline escapes s and applies the inline rules. Code spans are protected from the other rules.
func inline(s string) string {
	var codes []string
	s = codeRE.ReplaceAllStringFunc(s, func(m string) string {
		codes = append(codes, "<code>"+html.EscapeString(m[1:len(m)-1])+"</code>")
		return "\x00" + strconv.Itoa(len(codes)-1) + "\x00"
	})
	s = html.EscapeString(s)
	s = linkRE.ReplaceAllStringFunc(s, func(m string) string {
		sm := linkRE.FindStringSubmatch(m)
		href := sm[2]
		if strings.HasPrefix(strings.ToLower(html.UnescapeString(href)), "javascript:") {
			return sm[1]
		}
		return `<a href="` + href + `">` + sm[1] + `</a>`
	})
	s = boldRE.ReplaceAllString(s, "<strong>$1</strong>")
	s = italicRE.ReplaceAllString(s, "<em>$1</em>")
	for i, c := range codes {
		s = strings.Replace(s, "\x00"+strconv.Itoa(i)+"\x00", c, 1)
	}
	return s
}
