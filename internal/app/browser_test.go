package app_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// needBrowser returns the path of Debian's chromium (or chromium-browser).
// It skips the test when neither is installed, unless the environment
// demands integration tests (LEVEE_REQUIRE_INTEGRATION=1): then it fails.
func needBrowser(t testing.TB) string {
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

// startBrowser starts a headless chromium with a fresh user data directory
// (chromedp makes and removes a temporary one) and returns a chromedp context
// on one tab. The browser is started within a bounded time. When the test
// ends the allocator is cancelled, which waits for the browser to exit, and
// the test fails if any process of that browser is still alive.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path := needBrowser(t)
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
		chromedp.WindowSize(1024, 768),
		chromedp.ModifyCmdFunc(func(c *exec.Cmd) {
			// What chromedp does without this option: the browser dies with
			// the thread that started it, so a crashed test leaves nothing.
			c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			cmd = c
		}),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		acancel() // waits for the browser process and removes its data dir
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
	// The first action starts the browser; its context must outlive this
	// call, so bound it with a timer rather than a context deadline.
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

// browserProcesses lists the processes whose command line holds the
// --user-data-dir argument of args (every chromium child gets it).
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

// run runs one chromedp action with a bounded wait.
func run[T any](t *testing.T, ctx context.Context, d time.Duration, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}
