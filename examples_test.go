package levee_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"levee/internal/cli"
	"levee/internal/leveetest"
)

// TestExamplesValidate runs `levee validate` on every file in examples/, as
// a reader would from the repository root. The
// TLS example names files the reader makes first; the test makes them too.
func TestExamplesValidate(t *testing.T) {
	files, err := filepath.Glob("examples/*.yaml")
	if err != nil || len(files) < 5 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			path := f
			if filepath.Base(f) == "tls.yaml" {
				path = withCertificates(t, f)
			}
			var out, errb bytes.Buffer
			if code := cli.Main([]string{"validate", path}, &out, &errb); code != cli.ExitOK {
				t.Fatalf("exit %d\n%s", code, errb.String())
			}
			if !strings.Contains(out.String(), "valid") {
				t.Fatalf("output %q", out.String())
			}
		})
	}
}

// withCertificates copies the TLS example next to a fresh self-signed pair.
func withCertificates(t *testing.T, f string) string {
	c := leveetest.SelfSigned(t, "localhost")
	src, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer("cert: localhost.crt", "cert: "+c.CertFile, "key: localhost.key", "key: "+c.KeyFile).Replace(string(src))
	path := filepath.Join(t.TempDir(), "tls.yaml")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigSchemaAcceptsEveryExample checks `levee config schema` against
// every example and every complete README config: an editor using the
// schema must not flag a config levee accepts. A typo must be flagged.
func TestConfigSchemaAcceptsEveryExample(t *testing.T) {
	var out, errb bytes.Buffer
	if code := cli.Main([]string{"config", "schema"}, &out, &errb); code != cli.ExitOK {
		t.Fatalf("config schema: exit %d %s", code, errb.String())
	}
	var schema map[string]any
	if err := json.Unmarshal(out.Bytes(), &schema); err != nil {
		t.Fatal(err)
	}
	docs := map[string][]byte{}
	files, _ := filepath.Glob("examples/*.yaml")
	// full.yaml sets every key of the config (internal/config's own test).
	files = append(files, "internal/config/testdata/full.yaml")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		docs[f] = b
	}
	readme, _ := os.ReadFile("README.md")
	for i, b := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(readme, -1) {
		if bytes.Contains(b[1], []byte("listeners:")) && bytes.Contains(b[1], []byte("sites:")) {
			docs[fmt.Sprintf("README block %d", i)] = b[1]
		}
	}
	for name, src := range docs {
		var doc any
		if err := yaml.Unmarshal(src, &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := schemaCheck(schema, doc, ""); err != nil {
			t.Errorf("%s: the schema refuses what levee accepts: %v", name, err)
		}
	}
	var typo any
	yaml.Unmarshal([]byte("sites: [{hostz: [a.example]}]"), &typo)
	if err := schemaCheck(schema, typo, ""); err == nil || !strings.Contains(err.Error(), "sites[0].hostz") {
		t.Errorf("the schema accepts a typo: %v", err)
	}
}

// schemaCheck is the subset of JSON Schema that `levee config schema`
// emits: type, properties, additionalProperties, items.
func schemaCheck(s map[string]any, v any, path string) error {
	if typ, ok := s["type"]; ok && !typeMatches(typ, v) {
		return fmt.Errorf("%s: %T is not of type %v", path, v, typ)
	}
	switch v := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for k, val := range v {
			sub, ok := props[k].(map[string]any)
			if !ok {
				switch ap := s["additionalProperties"].(type) {
				case bool:
					if !ap {
						return fmt.Errorf("%s: key not in the schema", joinPath(path, k))
					}
					continue
				case map[string]any:
					sub = ap
				default:
					continue
				}
			}
			if err := schemaCheck(sub, val, joinPath(path, k)); err != nil {
				return err
			}
		}
	case []any:
		if items, ok := s["items"].(map[string]any); ok {
			for i, e := range v {
				if err := schemaCheck(items, e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func typeMatches(typ any, v any) bool {
	var types []string
	switch t := typ.(type) {
	case string:
		types = []string{t}
	case []any:
		for _, x := range t {
			types = append(types, x.(string))
		}
	}
	for _, t := range types {
		switch v.(type) {
		case map[string]any:
			if t == "object" {
				return true
			}
		case []any:
			if t == "array" {
				return true
			}
		case string:
			if t == "string" {
				return true
			}
		case bool:
			if t == "boolean" {
				return true
			}
		case int, int64, uint64:
			if t == "integer" || t == "number" {
				return true
			}
		case float64:
			if t == "number" {
				return true
			}
		case nil:
			return true
		}
	}
	return false
}
