package leveetest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// NeedBrowser returns the path of Debian's chromium (or chromium-browser).
// It skips the test when neither is installed, unless the environment
// demands integration tests (LEVEE_REQUIRE_INTEGRATION=1): then it fails.
func NeedBrowser(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if strings.TrimSpace(os.Getenv("LEVEE_REQUIRE_INTEGRATION")) == "1" {
		t.Fatal("chromium is required (LEVEE_REQUIRE_INTEGRATION=1)")
	}
	t.Skip("chromium not installed")
	return ""
}

// StartBrowser starts a headless chromium with a fresh user data directory
// and returns a chromedp context on one tab. The browser starts within a
// bounded time; when the test ends it is stopped and reaped, and the test
// fails if any of its processes is still alive.
func StartBrowser(t *testing.T) context.Context {
	t.Helper()
	path := NeedBrowser(t)
	var cmd *exec.Cmd
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1200, 900),
		chromedp.ModifyCmdFunc(func(c *exec.Cmd) {
			c.SysProcAttr = dieWithParent()
			cmd = c
		}),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		acancel()
		if cmd == nil {
			return
		}
		if cmd.ProcessState == nil {
			t.Errorf("chromium (pid %d) was not reaped", cmd.Process.Pid)
		}
		if pids := browserProcesses(cmd.Args); len(pids) > 0 {
			t.Errorf("chromium processes %v outlived the test", pids)
		}
	})
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start chromium: %v", err)
		}
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("chromium did not start within 20s")
	}
	return ctx
}

func browserProcesses(args []string) []int {
	var dir []byte
	for _, a := range args {
		if strings.HasPrefix(a, "--user-data-dir=") {
			dir = []byte(a)
		}
	}
	if dir == nil {
		return nil
	}
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		for arg := range bytes.SplitSeq(b, []byte{0}) {
			if bytes.Equal(arg, dir) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// BrowserRun runs one chromedp action with a bounded wait.
func BrowserRun[T any](t *testing.T, ctx context.Context, d time.Duration, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

// BrowserDo runs steps with a bounded wait.
func BrowserDo(t *testing.T, ctx context.Context, d time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}
