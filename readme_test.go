package levee_test

import (
	"os"
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
