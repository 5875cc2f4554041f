package cli

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func pushFile(t *testing.T, store, extra string) string {
	path := filepath.Join(t.TempDir(), "levee.yaml")
	src := `listeners: [{listen: "127.0.0.1:0"}]
cluster: {redis: "redis://` + store + `/0", node: a}
` + extra + `sites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: "http://127.0.0.1:9"}]
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A push with the store down exits 1 and says nothing was changed; an
// invalid file is refused before the store is asked (exit 2).
func TestClusterPushFailsClearly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	code, _, errOut := run("cluster", "push", "-c", pushFile(t, dead, ""))
	if code != 1 || !strings.Contains(errOut, "cannot reach the cluster store") || !strings.Contains(errOut, "nothing was changed") {
		t.Fatalf("store down: exit %d, %q", code, errOut)
	}
	code, _, errOut = run("cluster", "push", "-c", pushFile(t, dead, "no_such_section: 1\n"))
	if code != 2 || !strings.Contains(errOut, "nothing was pushed") {
		t.Fatalf("invalid file: exit %d, %q", code, errOut)
	}
	if code, _, _ := run("cluster", "push"); code != 2 {
		t.Fatalf("no file: exit %d", code)
	}
}
