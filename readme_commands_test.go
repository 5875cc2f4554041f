package levee_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"levee/internal/leveetest"
)

// TestREADMECommandsRun runs every README shell block made only of levee,
// curl and dig lines (plus `go build`, done once here), as a reader would
// from the repository root, on loopback: each fixed port is swapped for a
// free one, origins are started on the origin ports (9000 to 9199 but the
// admin's 9090), levee.yaml is the README's sample config, long-running
// commands start in the background and must say they serve, every other
// line must succeed, and at the end of the block every node must exit 0 on
// SIGTERM.
func TestREADMECommandsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	src, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "levee")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/levee").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var sample string
	for _, b := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(src), -1) {
		if strings.Contains(b[1], "listeners:") && strings.Contains(b[1], "sites:") {
			sample = b[1]
			break
		}
	}
	ran := 0
	for i, b := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(src), -1) {
		lines := commandLines(b[1])
		if !runnable(lines) {
			continue
		}
		ran++
		t.Run(fmt.Sprintf("block%d", i), func(t *testing.T) { runBlock(t, bin, lines, sample) })
	}
	if ran < 4 {
		t.Fatalf("only %d runnable command blocks found in the README", ran)
	}
}

// commandLines joins continuation lines and drops comments.
func commandLines(block string) []string {
	var out []string
	cur := ""
	for _, l := range strings.Split(block, "\n") {
		if i := strings.Index(l, "  #"); i >= 0 {
			l = l[:i]
		}
		l = strings.TrimSpace(l)
		if strings.HasSuffix(l, "\\") {
			cur += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		if l = strings.TrimSpace(cur + l); l != "" {
			out = append(out, l)
		}
		cur = ""
	}
	return out
}

func runnable(lines []string) bool {
	hasLevee := false
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "./levee "):
			hasLevee = true
		case strings.HasPrefix(l, "curl "), strings.HasPrefix(l, "dig "), l == "go build -o levee ./cmd/levee":
		default:
			return false
		}
	}
	return hasLevee
}

var fixedPort = regexp.MustCompile(`(?:127\.0\.0\.1|0\.0\.0\.0):(\d+)|-p (\d+)`)

func runBlock(t *testing.T, bin string, lines []string, sample string) {
	dir := t.TempDir()
	ports := map[string]string{}
	mapPorts := func(s string) string {
		return fixedPort.ReplaceAllStringFunc(s, func(m string) string {
			sub := fixedPort.FindStringSubmatch(m)
			port := sub[1] + sub[2]
			if ports[port] == "" {
				ports[port] = freePort(t)
			}
			if sub[2] != "" {
				return "-p " + ports[port]
			}
			return "127.0.0.1:" + ports[port]
		})
	}
	cfg := mapPorts("admin: {listen: 127.0.0.1:9090}\n" + sample)
	for i, l := range lines {
		lines[i] = mapPorts(l)
	}
	if err := os.WriteFile(filepath.Join(dir, "levee.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for readme, port := range ports {
		if readme >= "9000" && readme < "9200" && readme != "9090" {
			startOriginOn(t, port)
		}
	}
	var nodes []*exec.Cmd
	for _, l := range lines {
		args := strings.Fields(l)
		switch {
		case args[0] == "go":
			continue
		case args[0] == "curl":
			url := args[len(args)-1]
			if status, _, _ := leveetest.Get(t, url); status != 200 {
				t.Fatalf("%s: status %d", l, status)
			}
		case args[0] == "dig":
			checkDig(t, l, args)
		case args[1] == "demo" || args[1] == "reverse-proxy" || args[1] == "serve" || args[1] == "dns":
			if args[1] == "demo" && !strings.Contains(l, "--listen") {
				args = append(args, "--listen", "127.0.0.1:"+portFor(t, ports, "8080"), "--admin", "127.0.0.1:"+portFor(t, ports, "9090"))
			}
			nodes = append(nodes, startNode(t, bin, dir, args[1:]))
		default:
			cmd := exec.Command(bin, configArgs(args[1:], dir)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", l, err, out)
			}
		}
	}
	for _, n := range nodes {
		n.Process.Signal(syscall.SIGTERM)
		if err := n.Wait(); err != nil {
			t.Errorf("%v did not exit cleanly on SIGTERM: %v", n.Args, err)
		}
	}
}

func portFor(t *testing.T, ports map[string]string, readme string) string {
	if ports[readme] == "" {
		ports[readme] = freePort(t)
	}
	return ports[readme]
}

// configArgs points levee.yaml at the block's copy of the sample config.
func configArgs(args []string, dir string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "levee.yaml" {
			a = filepath.Join(dir, "levee.yaml")
		}
		out[i] = a
	}
	return out
}

// startNode starts a long-running command and waits (bounded) until it
// says it serves.
func startNode(t *testing.T, bin, dir string, args []string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, append(configArgs(args, dir), dataDirFlag(args, dir)...)...)
	stderr, _ := cmd.StderrPipe()
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var seen strings.Builder
		for sc.Scan() {
			seen.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), `"msg":"serving"`) || strings.HasPrefix(sc.Text(), "levee: serving") {
				ready <- ""
				io.Copy(io.Discard, stderr)
				return
			}
		}
		ready <- seen.String()
	}()
	select {
	case out := <-ready:
		if out != "" {
			t.Fatalf("levee %s exited before serving:\n%s", strings.Join(args, " "), out)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("levee %s did not serve within 30s", strings.Join(args, " "))
	}
	return cmd
}

// dataDirFlag keeps serve's last-known-good copy out of the home directory.
func dataDirFlag(args []string, dir string) []string {
	if args[0] == "serve" {
		return []string{"--data-dir", filepath.Join(dir, "data")}
	}
	return nil
}

func checkDig(t *testing.T, line string, args []string) {
	t.Helper()
	server, port, name, qtype := strings.TrimPrefix(args[1], "@"), args[3], dns.Fqdn(args[4]), dns.StringToType[args[5]]
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, net.JoinHostPort(server, port))
	if err != nil || len(r.Answer) == 0 {
		t.Fatalf("%s: %v %v", line, r, err)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	return strconv.Itoa(leveetest.FreePort(t))
}

// startOriginOn serves "ok" (and so a healthy /healthz) on a fixed port.
func startOriginOn(t *testing.T, port string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: leveetest.Text("ok"), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}
