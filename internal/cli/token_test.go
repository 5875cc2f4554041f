package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"levee/internal/admin"
)

// levee token create prints a token once; the data directory keeps only
// its hash, and the store accepts the printed token with its scopes.
func TestTokenCreatePrintsOnceStoresHash(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := run("token", "create", "--scope", "read,purge", "--name", "ci", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	secret := strings.TrimSpace(out)
	if !strings.HasPrefix(secret, "levee_") || strings.Contains(errOut, secret) {
		t.Fatalf("stdout %q, stderr %q", out, errOut)
	}
	file, err := os.ReadFile(filepath.Join(dir, admin.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(file), secret) {
		t.Fatal("the token file holds the secret itself")
	}
	ts, _ := admin.OpenTokens(dir)
	tok := ts.Verify(secret)
	if tok == nil || tok.Name != "ci" || !tok.Allows("purge") || tok.Allows("config") {
		t.Fatalf("stored token %+v", tok)
	}
	if ts.Verify(secret+"x") != nil {
		t.Fatal("a wrong token verified")
	}
	if code, _, errOut := run("token", "create", "--scope", "root", "--data-dir", dir); code != ExitUsage || !strings.Contains(errOut, `unknown scope "root"`) {
		t.Fatalf("bad scope: exit %d, %q", code, errOut)
	}
	code, out, _ = run("token", "list", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, tok.ID) || strings.Contains(out, secret) {
		t.Fatalf("list: %d %q", code, out)
	}
	if code, _, _ := run("token", "revoke", tok.ID, "--data-dir", dir); code != 0 {
		t.Fatal("revoke failed")
	}
	ts2, _ := admin.OpenTokens(dir)
	if ts2.Verify(secret) != nil {
		t.Fatal("a revoked token still verifies")
	}
}
