package schema

import (
	"fmt"
	"strconv"
	"strings"
)

// FieldError is one problem in a config, at a path such as
// sites[2].routes[0].origins[1].url and, when known, a line.
type FieldError struct {
	File   string
	Line   int
	Column int // 0 when unknown
	Path   string
	Msg    string
}

func (e FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteByte(':')
		if e.Column > 0 {
			b.WriteString(strconv.Itoa(e.Column))
			b.WriteByte(':')
		}
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one config, one per line when printed.
type Errors []FieldError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// List collects validation errors. A section's Validate adds to it; the
// config package fills in file and line afterwards.
type List struct{ Errs Errors }

// Add records a problem at path, with a fmt-style message.
func (l *List) Add(path, format string, args ...any) {
	l.Errs = append(l.Errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}
