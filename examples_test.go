package levee_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
