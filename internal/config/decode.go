package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Parsed is a decoded config with the YAML tree it came from, so that
// validation errors can name the line of the value they are about.
type Parsed struct {
	Config *Config
	Source []byte
	root   *yaml.Node
}

// Load decodes, defaults and validates src. name labels errors (a file name).
// On error the result is nil and err is an Errors listing every problem found.
func Load(name string, src []byte) (*Parsed, error) {
	p, err := Decode(name, src)
	if err != nil {
		return nil, err
	}
	SetDefaults(p.Config)
	if errs := Validate(p.Config); len(errs) > 0 {
		return nil, p.locate(name, errs)
	}
	return p, nil
}

// Decode strictly decodes src: unknown keys, duplicate keys, a second YAML
// document, an empty file or one over MaxFileBytes are errors.
func Decode(name string, src []byte) (*Parsed, error) {
	if len(src) > MaxFileBytes {
		return nil, Errors{{File: name, Path: "", Msg: fmt.Sprintf("config is %d bytes, over the limit of %d", len(src), MaxFileBytes)}}
	}
	if len(bytes.TrimSpace(src)) == 0 {
		return nil, Errors{{File: name, Msg: "config is empty"}}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, yamlErrors(name, err)
	}
	if len(root.Content) == 0 || root.Content[0].Tag == "!!null" {
		return nil, Errors{{File: name, Msg: "config is empty"}}
	}
	if root.Content[0].Kind != yaml.MappingNode {
		return nil, Errors{{File: name, Line: firstLine(&root), Msg: "config must be a mapping of keys such as listeners: and sites:"}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	cfg := new(Config)
	if err := dec.Decode(cfg); err != nil {
		return nil, explain(&root, yamlErrors(name, err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, Errors{{File: name, Msg: "config holds more than one YAML document"}}
	}
	return &Parsed{Config: cfg, Source: src, root: &root}, nil
}

func firstLine(n *yaml.Node) int {
	if len(n.Content) > 0 {
		return n.Content[0].Line
	}
	return n.Line
}

var (
	yamlLine     = regexp.MustCompile(`^line (\d+): (.*)$`)
	unknownField = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
)

// userWords rewrites the decoder's messages that name Go types into the
// config's own words.
func userWords(msg string) string {
	if m := unknownField.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("unknown key %q", m[1])
	}
	return msg
}

// yamlErrors turns the decoder's error (which may list several problems,
// each "line N: ...") into Errors.
func yamlErrors(name string, err error) Errors {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	out := make(Errors, 0, len(msgs))
	for _, m := range msgs {
		e := FieldError{File: name, Msg: m}
		if sub := yamlLine.FindStringSubmatch(m); sub != nil {
			e.Line, _ = strconv.Atoi(sub[1])
			e.Msg = sub[2]
		} else if len(m) > 6 && m[:6] == "yaml: " {
			e.Msg = m[6:]
			if sub := yamlLine.FindStringSubmatch(e.Msg); sub != nil {
				e.Line, _ = strconv.Atoi(sub[1])
				e.Msg = sub[2]
			}
		}
		e.Msg = userWords(e.Msg)
		out = append(out, e)
	}
	return out
}
