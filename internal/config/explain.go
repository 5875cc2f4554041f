package config

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The decoder reports a line and its own words; explain finds the node it
// means by walking the YAML tree alongside the Go types, and adds the
// column, the YAML path, what the key expects and, for a typo, the nearest
// valid key.

var (
	unknownKeyMsg = regexp.MustCompile(`^unknown key "(.*)"$`)
	wrongTypeMsg  = regexp.MustCompile("^cannot unmarshal (!!\\w+) `(.*)` into (.+)$")
	duplicateMsg  = regexp.MustCompile(`^mapping key "(.*)" already defined at line (\d+)$`)
)

// typedNode is one key/value pair of the tree with its path and the Go
// type of the mapping that holds it.
type typedNode struct {
	key, val *yaml.Node
	path     string
	parent   reflect.Type // the struct or map holding the key
	typ      reflect.Type // the value's type; nil for an unknown key
}

// explain rewrites decode errors that carry a line. root is the document.
func explain(root *yaml.Node, errs Errors) Errors {
	if root == nil || len(root.Content) == 0 {
		return errs
	}
	var nodes []typedNode
	walkTyped(root.Content[0], reflect.TypeOf(Config{}), "", &nodes)
	for i := range errs {
		if errs[i].Line > 0 {
			explainOne(&errs[i], nodes)
		}
	}
	return errs
}

func explainOne(e *FieldError, nodes []typedNode) {
	onLine := func(match func(typedNode) bool) *typedNode {
		for i := range nodes {
			if (nodes[i].key.Line == e.Line || nodes[i].val.Line == e.Line) && match(nodes[i]) {
				return &nodes[i]
			}
		}
		return nil
	}
	if m := unknownKeyMsg.FindStringSubmatch(e.Msg); m != nil {
		n := onLine(func(t typedNode) bool { return t.typ == nil && t.key.Value == m[1] && t.key.Line == e.Line })
		if n == nil {
			return
		}
		e.Path, e.Column = n.path, n.key.Column
		e.Msg = "unknown key" + suggestKey(m[1], keysOf(n.parent))
		return
	}
	if m := wrongTypeMsg.FindStringSubmatch(e.Msg); m != nil {
		n := onLine(func(t typedNode) bool {
			return t.typ != nil && t.val.Line == e.Line && t.val.ShortTag() == m[1] && strings.HasPrefix(t.val.Value, strings.TrimSuffix(m[2], "..."))
		})
		if n == nil {
			return
		}
		e.Path, e.Column = n.path, n.val.Column
		e.Msg = fmt.Sprintf("want %s, got %s", expected(n.typ), describe(n.val))
		return
	}
	if m := duplicateMsg.FindStringSubmatch(e.Msg); m != nil {
		defer func() { e.Msg = "key given twice; the first is at line " + m[2] + ", and a key may appear once" }()
	}
	// A custom type's own message (a bad size, duration, rate) quotes the
	// value: find it on the line.
	n := onLine(func(t typedNode) bool {
		return t.typ != nil && t.val.Line == e.Line && t.val.Kind == yaml.ScalarNode && strings.Contains(e.Msg, strconv.Quote(t.val.Value))
	})
	if n == nil {
		n = onLine(func(t typedNode) bool {
			return t.key.Line == e.Line && strings.Contains(e.Msg, strconv.Quote(t.key.Value))
		})
		if n == nil {
			return
		}
		e.Path, e.Column = n.path, n.key.Column
		return
	}
	e.Path, e.Column = n.path, n.val.Column
}

// walkTyped records every key/value pair under n, which decodes into t.
func walkTyped(n *yaml.Node, t reflect.Type, path string, out *[]typedNode) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode || n.Kind == yaml.DocumentNode {
		return
	}
	switch {
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, c := range n.Content {
			walkTyped(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), out)
		}
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Map:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			*out = append(*out, typedNode{key: k, val: v, path: p, parent: t, typ: t.Elem()})
			walkTyped(v, t.Elem(), p, out)
		}
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := fieldsOf(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			f, ok := fields[k.Value]
			if !ok {
				*out = append(*out, typedNode{key: k, val: v, path: p, parent: t})
				continue
			}
			*out = append(*out, typedNode{key: k, val: v, path: p, parent: t, typ: f})
			walkTyped(v, f, p, out)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fieldsOf maps the YAML keys of struct t (inlined structs included) to
// their types.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range fieldsOf(ft) {
					out[k] = v
				}
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// keysOf lists the valid keys of a struct type, sorted; none for a map.
func keysOf(t reflect.Type) []string {
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for k := range fieldsOf(t) {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// suggestKey names the nearest valid key when the typo is close enough,
// else lists the valid keys.
func suggestKey(got string, valid []string) string {
	if len(valid) == 0 {
		return ""
	}
	// At most one edit for short keys, one more per four letters: "hostz"
	// finds "hosts", "lsiteners" finds "listeners", "bogus" finds nothing.
	best, bestD := "", len(got)/4+1
	for _, k := range valid {
		if d := editDistance(strings.ToLower(got), k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf(", did you mean %q?", best)
	}
	return "; valid keys here: " + strings.Join(valid, ", ")
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// expected says in the config's words what a value of type t looks like.
func expected(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case reflect.TypeOf(Duration(0)):
		return `a duration such as "10s"`
	case reflect.TypeOf(Size(0)):
		return `a size such as "64KiB"`
	}
	switch t.Kind() {
	case reflect.Slice:
		return "a list, such as [a, b] or lines starting with -"
	case reflect.Map, reflect.Struct:
		return "a mapping of keys"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	}
	return "a " + t.String()
}

// describe names what the user wrote.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	return strconv.Quote(v)
}
