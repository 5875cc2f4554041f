package autotls_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"levee/internal/config"
)

// The README's config examples validate.
func TestREADMEExamples(t *testing.T) {
	src, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(src), -1) {
		if !strings.Contains(b[1], "sites:") {
			continue
		}
		n++
		if _, err := config.Load("README.md", []byte(b[1])); err != nil {
			t.Errorf("README example: %v", err)
		}
	}
	if n == 0 {
		t.Fatal("no example")
	}
}
