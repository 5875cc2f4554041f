package shield

import (
	"levee/internal/config/schema"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The README's config example is valid (its deny_file pointed at a
// temporary file) and builds.
func TestReadmeExample(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), "```yaml\n")
	example, _, _ := strings.Cut(rest, "```")
	deny := filepath.Join(t.TempDir(), "deny.txt")
	os.WriteFile(deny, []byte("198.51.100.0/24\n"), 0o600)
	example = strings.Replace(example, "/etc/levee/deny.txt", deny, 1)
	sc := loadSection(t, example, schema.Sites{"shop": {"/"}})
	_, st := testShield(t, "")
	if _, err := Build(sc, st, Env{Pools: map[string]string{"shop/": "shop/"}}); err != nil {
		t.Fatalf("README example does not build: %v", err)
	}
}
