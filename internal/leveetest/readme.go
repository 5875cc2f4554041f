package leveetest

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"levee/internal/config"
)

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// CheckREADMEExamples checks that every YAML block of the Markdown file at
// path that holds a whole config (one with a sites: key) validates as
// `levee validate` would, and that there is at least one: a package's
// README examples must keep working as the config changes.
func CheckREADMEExamples(t testing.TB, path string) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range yamlBlock.FindAllStringSubmatch(string(src), -1) {
		if !strings.Contains(b[1], "sites:") {
			continue
		}
		n++
		if _, err := config.Load(path, []byte(b[1])); err != nil {
			t.Errorf("%s example: %v", path, err)
		}
	}
	if n == 0 {
		t.Fatalf("%s has no whole config example (a YAML block with sites:)", path)
	}
}
