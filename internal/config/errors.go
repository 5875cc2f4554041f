package config

import (
	"cmp"
	"levee/internal/config/schema"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FieldError, Errors: see schema. They are aliased here because callers
// of Load handle config errors without caring which section made them.
type (
	FieldError = schema.FieldError
	Errors     = schema.Errors
	Duration   = schema.Duration
	Size       = schema.Size
)

// ParseSize parses a byte count; see schema.ParseSize.
var ParseSize = schema.ParseSize

// locate fills in the file name and line of each validation error by walking
// the YAML tree along the error's path.
func (p *Parsed) locate(name string, errs Errors) Errors {
	for i := range errs {
		errs[i].File = name
		if n := lookup(p.root, errs[i].Path); n != nil {
			errs[i].Line, errs[i].Column = n.Line, n.Column
		}
	}
	// In file order, so the user reads them top to bottom; ties broken by
	// path and message so the order never depends on which check ran first.
	slices.SortStableFunc(errs, func(a, b FieldError) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column), cmp.Compare(a.Path, b.Path), cmp.Compare(a.Msg, b.Msg))
	})
	return errs
}

// lookup follows a path like sites[2].routes[0].url through a YAML tree and
// returns the deepest node it reaches, so an error about a missing key points
// at its parent.
func lookup(root *yaml.Node, path string) *yaml.Node {
	if root == nil || len(root.Content) == 0 {
		return nil
	}
	n := root.Content[0]
	for _, part := range splitPath(path) {
		next := step(n, part)
		if next == nil {
			return n
		}
		n = next
	}
	return n
}

func step(n *yaml.Node, part string) *yaml.Node {
	if idx, err := strconv.Atoi(part); err == nil {
		if n.Kind == yaml.SequenceNode && idx >= 0 && idx < len(n.Content) {
			return n.Content[idx]
		}
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == part {
			return n.Content[i+1]
		}
	}
	return nil
}

// splitPath turns "sites[2].routes[0].url" into [sites 2 routes 0 url].
func splitPath(path string) []string {
	path = strings.ReplaceAll(path, "[", ".")
	path = strings.ReplaceAll(path, "]", "")
	var out []string
	for _, p := range strings.Split(path, ".") {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// stagePath matches the YAML path that starts an error of a later stage
// (a zone file, a certificate): "dns.zones[1]: ...".
var stagePath = regexp.MustCompile(`^([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])?)*): (.*)$`)

// Locate turns an error found after validation (while loading the files a
// config names) into Errors with the file, line and column of the key its
// message starts with. Each line of a joined error becomes one entry.
func (p *Parsed) Locate(name string, err error) Errors {
	var out Errors
	for _, line := range strings.Split(err.Error(), "\n") {
		e := FieldError{File: name, Msg: line}
		if m := stagePath.FindStringSubmatch(line); m != nil {
			e.Path, e.Msg = m[1], m[2]
			if n := lookup(p.root, e.Path); n != nil {
				e.Line, e.Column = n.Line, n.Column
			}
		}
		out = append(out, e)
	}
	return out
}
