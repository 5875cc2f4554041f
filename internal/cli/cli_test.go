package cli

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestValidatePrintsEveryErrorWithLineAndPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "levee.yaml")
	os.WriteFile(path, []byte(`listeners: [{listen: "127.0.0.1:8080"}]
sites:
  - name: a
    hosts: [a.example]
    routes:
      - path: /
        origins:
          - url: http://127.0.0.1:9000
          - url: ftp://127.0.0.1:9001
  - name: b
    hosts: [b.example]
    routes:
      - path: nope
        origins: [{url: "http://127.0.0.1:9002"}]
`), 0o600)
	code, _, stderr := run("validate", "-c", path)
	if code != ExitUsage {
		t.Fatalf("exit %d, want %d", code, ExitUsage)
	}
	for _, want := range []string{
		path + ":9:18: sites[0].routes[0].origins[1].url: scheme must be http or https",
		path + ":13:15: sites[1].routes[0].path: must start with /",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

func TestValidateAcceptsGoodAndChecksFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte(`listeners: [{listen: "127.0.0.1:8080"}]
sites: [{name: a, hosts: ["*"], routes: [{origins: [{url: "http://127.0.0.1:9000"}]}]}]
`), 0o600)
	if code, out, stderr := run("validate", "-c", good); code != ExitOK || !strings.Contains(out, "valid") {
		t.Fatalf("good config: exit %d %q %q", code, out, stderr)
	}
	missing := filepath.Join(dir, "missing-cert.yaml")
	os.WriteFile(missing, []byte(`listeners: [{listen: "127.0.0.1:8443", tls: {certificates: [{cert: /nonexistent.crt, key: /nonexistent.key}]}}]
sites: [{name: a, hosts: ["*"], routes: [{origins: [{url: "http://127.0.0.1:9000"}]}]}]
`), 0o600)
	if code, _, stderr := run("validate", "-c", missing); code != ExitUsage || !strings.Contains(stderr, "listeners[0].tls.certificates[0]: open /nonexistent.crt") {
		t.Fatalf("missing cert: exit %d %q", code, stderr)
	}
	if code, _, _ := run("validate", "-c", filepath.Join(dir, "nope.yaml")); code != ExitUsage {
		t.Fatalf("missing file: exit %d", code)
	}
}

func TestUsageErrorsAndHelp(t *testing.T) {
	if code, _, _ := run("no-such-command"); code != ExitUsage {
		t.Errorf("unknown command: exit %d", code)
	}
	if code, _, _ := run("serve", "--bogus"); code != ExitUsage {
		t.Errorf("unknown flag: exit %d", code)
	}
	if code, _, _ := run("serve"); code != ExitUsage {
		t.Errorf("serve without -c: exit %d", code)
	}
	if code, _, stderr := run("reverse-proxy"); code != ExitUsage || !strings.Contains(stderr, "--to") {
		t.Errorf("reverse-proxy without --to: exit %d %q", code, stderr)
	}
	for _, cmd := range []string{"serve", "validate", "reverse-proxy", "demo", "version"} {
		code, out, _ := run(cmd, "--help")
		if code != ExitOK || !strings.Contains(out, "Usage:") {
			t.Errorf("%s --help: exit %d %q", cmd, code, out)
		}
	}
	if code, out, _ := run("version"); code != ExitOK || !strings.HasPrefix(out, "levee ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestQuickConfigValidates(t *testing.T) {
	src, err := quickConfig(&quickOptions{from: ":8080", admin: "off", to: []string{"127.0.0.1:9000", "https://o.example/"}})
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	for _, want := range []string{"0.0.0.0:8080", "http://127.0.0.1:9000", "https://o.example"} {
		if !strings.Contains(s, want) {
			t.Errorf("quick config lacks %q:\n%s", want, s)
		}
	}
	if _, err := quickConfig(&quickOptions{from: "127.0.0.1:1", admin: "off", to: []string{"ftp://x"}}); err != nil {
		t.Fatal(err) // the scheme is checked by config validation, at start
	}
}

// Quick mode's errors name the flag the user typed, never a line of the
// YAML it generated; a port in use at start is a runtime failure (exit 1)
// that says what failed, for every command.
func TestQuickModeErrorsNameTheFlagAndBusyPortExits1(t *testing.T) {
	code, _, stderr := run("reverse-proxy", "--from", "127.0.0.1:0", "--to", "http://127.0.0.1:9000", "--to", "ftp://127.0.0.1:9001")
	if code != ExitUsage || !strings.Contains(stderr, `--to (the second one): scheme must be http or https, not "ftp"`) || strings.Contains(stderr, "reverse-proxy:") {
		t.Errorf("bad --to: exit %d\n%s", code, stderr)
	}
	code, _, stderr = run("reverse-proxy", "--from", "nope", "--to", "127.0.0.1:9000")
	if code != ExitUsage || !strings.Contains(stderr, "--from: ") {
		t.Errorf("bad --from: exit %d\n%s", code, stderr)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	code, _, stderr = run("reverse-proxy", "--from", addr, "--to", "127.0.0.1:9000")
	if code != ExitRuntime || !strings.Contains(stderr, "address already in use") || strings.Contains(stderr, "still serving the previous generation") {
		t.Errorf("reverse-proxy on a busy port: exit %d\n%s", code, stderr)
	}
	cfg := filepath.Join(t.TempDir(), "levee.yaml")
	os.WriteFile(cfg, []byte("admin: {listen: \"off\"}\nlisteners: [{listen: \""+addr+"\"}]\nsites: [{hosts: [\"*\"], routes: [{origins: [{url: \"127.0.0.1:9000\"}]}]}]\n"), 0o600)
	code, _, stderr = run("serve", "-c", cfg, "--strict", "--data-dir", t.TempDir())
	if code != ExitRuntime || !strings.Contains(stderr, "address already in use") || strings.Contains(stderr, "still serving the previous generation") {
		t.Errorf("serve on a busy port: exit %d\n%s", code, stderr)
	}
}

// What a new user types first.
func TestNoArgsVersionAndValidateFile(t *testing.T) {
	if code, _, stderr := run(); code != ExitUsage || !strings.Contains(stderr, "Usage:") {
		t.Errorf("levee without arguments: exit %d %q", code, stderr)
	}
	if code, out, _ := run("--version"); code != ExitOK || !strings.HasPrefix(out, "levee ") {
		t.Errorf("levee --version: exit %d %q", code, out)
	}
	good := filepath.Join(t.TempDir(), "good.yaml")
	os.WriteFile(good, []byte("listeners: [{listen: \"127.0.0.1:8080\"}]\nsites: [{hosts: [\"*\"], routes: [{origins: [{url: \"127.0.0.1:9000\"}]}]}]\n"), 0o600)
	if code, out, stderr := run("validate", good); code != ExitOK || !strings.Contains(out, "valid") {
		t.Errorf("levee validate FILE: exit %d %q %q", code, out, stderr)
	}
}

// validate reports what serve would hit or warn about: a busy port, an
// admin API open to other hosts, a steered pool without active checks;
// --strict makes those warnings errors.
func TestValidateWarnsAndStrictFails(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "levee.yaml")
	os.WriteFile(path, []byte(`admin: {listen: "0.0.0.0:0"}
listeners: [{listen: "`+busy.Addr().String()+`"}]
pools: [{name: web, origins: [{url: "http://127.0.0.1:9000"}]}]
sites: [{name: a, hosts: ["*"], routes: [{pools: [web]}]}]
dns:
  listen: ["127.0.0.1:0"]
  zones:
    - origin: example.test.
      records:
        - "@ 3600 IN SOA ns1.example.test. hostmaster.example.test. 1 7200 3600 1209600 300"
        - "@ IN NS ns1.example.test."
        - "ns1 IN A 192.0.2.53"
      steer: [{name: www, pool: web}]
`), 0o600)
	code, out, stderr := run("validate", path)
	if code != ExitOK || !strings.Contains(out, "valid, with 3 warnings") {
		t.Fatalf("validate: exit %d %q\n%s", code, out, stderr)
	}
	for _, want := range []string{
		"warning: " + path + ":2:22: listeners[0].listen: " + busy.Addr().String() + " cannot be opened on this host now",
		"admin.listen: 0.0.0.0:0 is reachable from other hosts and the admin API has no authentication",
		"uses pool web, which has no health.active checks",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if code, _, stderr := run("validate", "--strict", path); code != ExitUsage || !strings.Contains(stderr, "--strict makes them errors") {
		t.Errorf("validate --strict: exit %d\n%s", code, stderr)
	}
}
