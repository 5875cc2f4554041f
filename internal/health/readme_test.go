package health_test

import (
	"os"
	"strings"
	"testing"

	"levee/internal/config"
)

// TestReadmeExamples validates the YAML examples of README.md's Examples
// section, completed with a listener (and a site where the example has
// none).
func TestReadmeExamples(t *testing.T) {
	src, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	start := strings.Index(text, "## Examples")
	end := strings.Index(text, "## Status")
	if start < 0 || end < start {
		t.Fatal("README.md has no Examples section before Status")
	}
	blocks := strings.Split(text[start:end], "```yaml\n")[1:]
	if len(blocks) < 2 {
		t.Fatalf("%d YAML examples, want at least 2", len(blocks))
	}
	for i, b := range blocks {
		y := "listeners: [{listen: \"127.0.0.1:8080\"}]\n" + b[:strings.Index(b, "```")]
		if !strings.Contains(y, "sites:") {
			y += "sites: [{name: s, hosts: [\"*\"], routes: [{path: /, pools: [caches]}]}]\n"
		}
		if _, err := config.Load("README example", []byte(y)); err != nil {
			t.Errorf("example %d: %v\n%s", i+1, err, y)
		}
	}
}
