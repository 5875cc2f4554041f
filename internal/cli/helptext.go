package cli

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// helpWidth is the column plain-text help is wrapped at: a terminal's 80
// less a margin.
const helpWidth = 78

// manWidth leaves room for the indent man(1) adds to a section's text.
const manWidth = 70

// renderMarkdown turns the subset of Markdown the README uses (headings,
// paragraphs, lists, tables, fenced code) into plain text for a terminal.
// It never drops a word: TestHelpTopicsKeepEveryWordOfTheREADME checks it.
func renderMarkdown(src string) string { return renderMarkdownWidth(src, helpWidth) }

// renderMarkdownWidth is renderMarkdown wrapping at width columns.
func renderMarkdownWidth(src string, width int) string {
	out := &textOut{width: width}
	lines := strings.Split(strings.TrimRight(src, "\n"), "\n")
	for i := 0; i < len(lines); {
		line := lines[i]
		switch {
		case strings.TrimSpace(line) == "":
			i++
		case strings.HasPrefix(line, "```"):
			i = renderFence(out, lines, i)
		case strings.HasPrefix(line, "#"):
			renderHeading(out, line)
			i++
		case strings.HasPrefix(line, "|"):
			i = renderTable(out, lines, i)
		case listItem.MatchString(line):
			i = renderListItem(out, lines, i)
		default:
			i = renderParagraph(out, lines, i)
		}
	}
	return strings.TrimLeft(out.String(), "\n")
}

// textOut is the text being rendered and the column it wraps at.
type textOut struct {
	strings.Builder
	width int
}

var listItem = regexp.MustCompile(`^\s*([-*]|\d+\.) `)

func renderFence(out *textOut, lines []string, i int) int {
	out.WriteString("\n")
	for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
		out.WriteString("    " + lines[i] + "\n")
	}
	return i + 1
}

func renderHeading(out *textOut, line string) {
	level := len(line) - len(strings.TrimLeft(line, "#"))
	text := inline(strings.TrimSpace(line[level:]))
	rule := "-"
	if level <= 2 {
		rule = "="
	}
	out.WriteString("\n" + text + "\n" + strings.Repeat(rule, utf8.RuneCountInString(text)) + "\n")
}

// renderTable prints each row as its first cell, the middle cells as
// "header: value" lines and the last cell as an indented paragraph: wide
// tables do not fit a terminal as a grid.
func renderTable(out *textOut, lines []string, i int) int {
	var rows [][]string
	for ; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
		rows = append(rows, tableCells(lines[i]))
	}
	if len(rows) < 2 {
		for _, r := range rows {
			writeWrapped(out, strings.Join(r, " "), "", "")
		}
		return i
	}
	header := rows[0]
	out.WriteString("\n")
	for _, row := range rows[2:] {
		writeWrapped(out, row[0], "", "  ")
		for c := 1; c < len(row); c++ {
			if row[c] == "" {
				continue
			}
			text := row[c]
			if c < len(header) && labelled(header[c], c == len(row)-1) {
				text = header[c] + ": " + text
			}
			writeWrapped(out, text, "      ", "      ")
		}
	}
	return i
}

// labelled says whether a cell is printed after its column's header: the
// last column of a "key | ... | meaning" table speaks for itself.
func labelled(header string, last bool) bool {
	if header == "" {
		return false
	}
	return !last || (header != "meaning" && header != "what")
}

// tableCells splits a Markdown table row on the pipes that are not escaped
// (`\|` stands for a literal pipe inside a cell).
func tableCells(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "|")
	line = strings.TrimSuffix(line, "|")
	var cells []string
	var cell strings.Builder
	for j := 0; j < len(line); j++ {
		switch {
		case line[j] == '\\' && j+1 < len(line) && line[j+1] == '|':
			cell.WriteString(`\|`)
			j++
		case line[j] == '|':
			cells = append(cells, inline(strings.TrimSpace(cell.String())))
			cell.Reset()
		default:
			cell.WriteByte(line[j])
		}
	}
	return append(cells, inline(strings.TrimSpace(cell.String())))
}

func renderListItem(out *textOut, lines []string, i int) int {
	first := lines[i]
	indent := len(first) - len(strings.TrimLeft(first, " "))
	marker := listItem.FindString(first)
	text := []string{strings.TrimSpace(first[len(marker):])}
	for i++; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "" || listItem.MatchString(l) || len(l)-len(strings.TrimLeft(l, " ")) <= indent {
			break
		}
		text = append(text, strings.TrimSpace(l))
	}
	lead := strings.Repeat(" ", indent) + "  " + strings.TrimSpace(marker) + " "
	writeWrapped(out, inline(strings.Join(text, " ")), lead, strings.Repeat(" ", utf8.RuneCountInString(lead)))
	return i
}

func renderParagraph(out *textOut, lines []string, i int) int {
	var text []string
	for ; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "|") ||
			strings.HasPrefix(l, "```") || (len(text) > 0 && listItem.MatchString(l)) {
			break
		}
		text = append(text, strings.TrimSpace(l))
	}
	out.WriteString("\n")
	writeWrapped(out, inline(strings.Join(text, " ")), "", "")
	return i
}

var (
	mdLink   = regexp.MustCompile(`\[([^\]]+)\]\(([^)]+)\)`)
	mdStrong = regexp.MustCompile(`\*\*([^*]+)\*\*`)
)

// inline drops Markdown's inline marks: code spans, bold and link syntax.
func inline(s string) string {
	s = mdLink.ReplaceAllString(s, "$1 ($2)")
	s = mdStrong.ReplaceAllString(s, "$1")
	s = strings.ReplaceAll(s, "`", "")
	return strings.ReplaceAll(s, `\|`, "|")
}

// writeWrapped writes text wrapped at the output's width, the first line after
// first, the others after rest. A word longer than a line stays whole.
func writeWrapped(out *textOut, text, first, rest string) {
	line := first
	empty := true
	for _, w := range strings.Fields(text) {
		if !empty && utf8.RuneCountInString(line)+1+utf8.RuneCountInString(w) > out.width {
			out.WriteString(line + "\n")
			line, empty = rest, true
		}
		if !empty {
			line += " "
		}
		line += w
		empty = false
	}
	out.WriteString(line + "\n")
}
