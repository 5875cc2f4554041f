package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"levee/internal/leveetest"
)

// buildLevee compiles the binary once per test run.
func buildLevee(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "levee")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestREADMEDemo runs the README's first command (with free ports) and the
// curl lines it prints.
func TestREADMEDemo(t *testing.T) {
	bin := buildLevee(t)
	cmd := exec.Command(bin, "demo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stdout)
	var tries []string
	deadline := time.Now().Add(20 * time.Second)
	for sc.Scan() && time.Now().Before(deadline) {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "curl ") {
			tries = append(tries, line)
		}
		if strings.HasPrefix(line, "Access log follows") {
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	if len(tries) < 4 {
		t.Fatalf("demo printed %d curl lines", len(tries))
	}
	url := regexp.MustCompile(`http://[0-9.:]+/[a-z/]*`)
	for _, line := range tries {
		u := url.FindString(line)
		status, body, _ := leveetest.Get(t, u)
		if status != 200 || body == "" {
			t.Errorf("%s: %d %q", line, status, body)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("demo did not exit cleanly on SIGTERM: %v", err)
	}
}

func TestReverseProxyQuickMode(t *testing.T) {
	bin := buildLevee(t)
	a := leveetest.NewOrigin(t, leveetest.Text("a"))
	b := leveetest.NewOrigin(t, leveetest.Text("b"))
	addr := leveetest.FreeAddr(t)
	cmd := exec.Command(bin, "reverse-proxy", "--from", addr, "--to", a.URL, "--to", strings.TrimPrefix(b.URL, "http://"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitUp(t, addr)
	seen := map[string]int{}
	for i := 0; i < 10; i++ {
		_, body, _ := leveetest.Get(t, "http://"+addr+"/")
		seen[body]++
	}
	if seen["a"] != 5 || seen["b"] != 5 {
		t.Errorf("round robin: %v", seen)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit: %v", err)
	}
}

func TestServeExitCodes(t *testing.T) {
	bin := buildLevee(t)
	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	err := exec.Command(bin, "serve", "-c", cfg, "--strict").Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("serve on a missing config: %v, want exit 2", err)
	}
}

func waitUp(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get("http://" + addr + "/"); err == nil {
			res.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never came up", addr)
}

// startLogged starts the binary with stderr captured, and waits (bounded)
// until stderr shows ready.
func startLogged(t *testing.T, bin, ready string, args ...string) (*exec.Cmd, *leveetest.SyncBuffer) {
	t.Helper()
	logs := &leveetest.SyncBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Stderr, cmd.Stdout = logs, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	waitLog(t, logs, ready)
	return cmd, logs
}

func waitLog(t *testing.T, logs *leveetest.SyncBuffer, want string) {
	t.Helper()
	for i := 0; i < 400 && !strings.Contains(logs.String(), want); i++ {
		time.Sleep(25 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), want) {
		t.Fatalf("never logged %q:\n%s", want, logs.String())
	}
}

// Every long-running command handles SIGHUP on purpose: dns re-reads its
// zone, the quick modes say they ignore it. None dies of it (exit 129) or
// logs a reload of a file it never had.
func TestSIGHUPHandledByEveryCommand(t *testing.T) {
	bin := buildLevee(t)
	origin := leveetest.NewOrigin(t, leveetest.Text("ok"))
	zone := filepath.Join(t.TempDir(), "example.test.zone")
	soa := "$ORIGIN example.test.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ IN NS ns1\nns1 IN A 192.0.2.53\n"
	os.WriteFile(zone, []byte(soa+"www IN A 192.0.2.10\n"), 0o600)
	dnsAddr := leveetest.FreeAddr(t)
	cases := []struct {
		name, ready, afterHUP string
		args                  []string
		check                 func(t *testing.T)
	}{
		{"dns", "serving example.test.", "zone reloaded", []string{"dns", "--zone", zone, "--listen", dnsAddr}, func(t *testing.T) {
			if got := lookupA(t, dnsAddr, "new.example.test."); got != "192.0.2.99" {
				t.Errorf("after SIGHUP, new.example.test. A = %q", got)
			}
		}},
		{"reverse-proxy", `"msg":"serving"`, "SIGHUP ignored", []string{"reverse-proxy", "--from", leveetest.FreeAddr(t), "--to", origin.URL}, nil},
		{"demo", `"msg":"serving"`, "SIGHUP ignored", []string{"demo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd, logs := startLogged(t, bin, tc.ready, tc.args...)
			os.WriteFile(zone, []byte(soa+"www IN A 192.0.2.10\nnew IN A 192.0.2.99\n"), 0o600)
			cmd.Process.Signal(syscall.SIGHUP)
			waitLog(t, logs, tc.afterHUP)
			if tc.check != nil {
				tc.check(t)
			}
			if strings.Contains(logs.String(), "no such file") {
				t.Errorf("SIGHUP looked for a file:\n%s", logs.String())
			}
			cmd.Process.Signal(syscall.SIGTERM)
			if err := cmd.Wait(); err != nil {
				t.Errorf("exit after SIGHUP then SIGTERM: %v\n%s", err, logs.String())
			}
		})
	}
}

func lookupA(t *testing.T, server, name string) string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, server)
	if err != nil {
		t.Fatalf("query %s: %v", name, err)
	}
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			return a.A.String()
		}
	}
	return ""
}

// TestSystemdUnit runs the commands of contrib/systemd/levee.service as
// systemd would (config and state directory moved to a temp dir): the
// validation before start and reload passes, and the node reports READY,
// RELOADING/READY around a SIGHUP and STOPPING on $NOTIFY_SOCKET.
func TestSystemdUnit(t *testing.T) {
	bin := buildLevee(t)
	unit, err := os.ReadFile("../../contrib/systemd/levee.service")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	origin := leveetest.NewOrigin(t, leveetest.Text("ok"))
	cfg := filepath.Join(dir, "levee.yaml")
	os.WriteFile(cfg, []byte("admin: {listen: \"127.0.0.1:0\"}\nlisteners: [{listen: \"127.0.0.1:0\"}]\nsites: [{hosts: [\"*\"], routes: [{origins: [{url: \""+origin.URL+"\"}]}]}]\n"), 0o600)
	sock := filepath.Join(dir, "notify.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lines := map[string][]string{}
	for _, line := range strings.Split(string(unit), "\n") {
		key, val, ok := strings.Cut(line, "=")
		if !ok || !strings.HasPrefix(key, "Exec") || !strings.HasPrefix(val, "/usr/local/bin/levee ") {
			continue
		}
		val = strings.NewReplacer("/etc/levee/levee.yaml", cfg, "${STATE_DIRECTORY}", filepath.Join(dir, "state")).Replace(val)
		lines[key] = strings.Fields(val)[1:]
	}
	if !strings.Contains(string(unit), "Type=notify") || len(lines) != 3 {
		t.Fatalf("unit: Type=notify and ExecStartPre, ExecStart, ExecReload running levee expected; found %v", lines)
	}
	for _, key := range []string{"ExecStartPre", "ExecReload"} {
		if out, err := exec.Command(bin, lines[key]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", key, err, out)
		}
	}
	cmd := exec.Command(bin, lines["ExecStart"]...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	expect := func(want string) {
		t.Helper()
		buf := make([]byte, 256)
		ln.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := ln.Read(buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("notify: got %q (%v), want %q", buf[:n], err, want)
		}
	}
	expect("READY=1")
	cmd.Process.Signal(syscall.SIGHUP)
	expect("RELOADING=1")
	expect("READY=1")
	cmd.Process.Signal(syscall.SIGTERM)
	expect("STOPPING=1")
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit: %v", err)
	}
}

// The binary builds for macOS, where developers run it, not only for
// Linux: the Linux-only parts (memfd cache bodies, h1server's ordered
// wake-ups, raw socket calls) have fallbacks that build everywhere, and
// levee uses them, logging once, where the system lacks the call.
func TestBuildsForMacOS(t *testing.T) {
	// One compile at a time: on a cold cache this compiles the standard
	// library and every dependency for darwin (about two minutes of CPU),
	// and the other package's tests that run beside it keep a core.
	cmd := exec.Command("go", "build", "-p", "1", "-o", os.DevNull, ".")
	cmd.Env = append(os.Environ(), "GOOS=darwin", "GOARCH=arm64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=darwin go build: %v\n%s", err, out)
	}
}
