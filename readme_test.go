package levee_test

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"levee/internal/config"
)

// TestREADMEConfigExamplesValidate checks that every complete YAML config in
// the README (one with listeners: and sites:) passes `levee validate`.
func TestREADMEConfigExamplesValidate(t *testing.T) {
	src, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(src), -1)
	checked := 0
	for _, b := range blocks {
		if !strings.Contains(b[1], "listeners:") || !strings.Contains(b[1], "sites:") {
			continue
		}
		checked++
		if _, err := config.Load("README.md", []byte(b[1])); err != nil {
			t.Errorf("README example does not validate: %v\n%s", err, b[1])
		}
	}
	if checked == 0 {
		t.Fatal("no complete config example found in the README")
	}
}

// TestREADMECoversEveryConfigKey walks the config schema and checks that
// every YAML key is documented in the README: in a table (as `key`, or as
// the last part of a dotted `a.b.key`), or as a key of a commented YAML
// example.
func TestREADMECoversEveryConfigKey(t *testing.T) {
	src, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(src)
	var missing []string
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] {
			return
		}
		seen[typ] = true
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			tag := f.Tag.Get("yaml")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			if strings.Contains(opts, "inline") {
				walk(f.Type, path)
				continue
			}
			if name == "" || !f.IsExported() {
				continue
			}
			inTable := regexp.MustCompile("`([a-z0-9_.\\[\\]]*\\.)?" + regexp.QuoteMeta(name) + "[`\\[.:]")
			inYAML := regexp.MustCompile(`(?m)^\s*(- )?` + regexp.QuoteMeta(name) + `:`)
			if !inTable.MatchString(doc) && !inYAML.MatchString(doc) {
				missing = append(missing, path+name)
			}
			walk(f.Type, path+name+".")
		}
	}
	walk(reflect.TypeOf(config.Config{}), "")
	if len(missing) > 0 {
		t.Errorf("%d config keys are not in the README's config reference:\n%s", len(missing), strings.Join(missing, "\n"))
	}
}
