package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"levee/internal/config"
)

func TestQuickWAFChallengeFeatureFlags(t *testing.T) {
	src, err := quickConfig(&quickOptions{from: "127.0.0.1:0", admin: "off", to: []string{"127.0.0.1:9"}, waf: true, challenge: true, botFeatures: "/etc/levee/f.csv"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := config.Load("quick", src)
	if err != nil {
		t.Fatalf("quick config does not load: %v\n%s", err, src)
	}
	r := p.Config.Sites[0].Routes[0]
	if r.WAF == nil || !*r.WAF.CRS || r.WAF.Paranoia != 1 || r.WAF.DetectionOnly {
		t.Fatalf("--waf: %+v", r.WAF)
	}
	if r.Bots == nil || r.Bots.ChallengeBelow != 100 {
		t.Fatalf("--challenge: %+v", r.Bots)
	}
	if p.Config.Bots.Features != "/etc/levee/f.csv" {
		t.Fatalf("--bot-features: %q", p.Config.Bots.Features)
	}
	plain, _ := quickConfig(&quickOptions{from: "127.0.0.1:0", admin: "off", to: []string{"127.0.0.1:9"}})
	p, _ = config.Load("quick", plain)
	if r := p.Config.Sites[0].Routes[0]; r.WAF != nil || r.Bots != nil {
		t.Fatal("WAF or bots on without their flags")
	}
}

func TestBotsFeaturesCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"bots", "features", "--example", "50"}, &out, &errb); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.HasSuffix(out.String(), "#end 50\n") {
		t.Fatalf("example output ends %q", out.String()[max(0, out.Len()-20):])
	}
	f := filepath.Join(t.TempDir(), "f.csv")
	os.WriteFile(f, out.Bytes(), 0o644)
	out.Reset()
	if code := Main([]string{"bots", "features", "--check", f}, &out, &errb); code != ExitOK || !strings.Contains(out.String(), "50 features") {
		t.Fatalf("check: exit %d %q %q", code, out.String(), errb.String())
	}
	os.WriteFile(f, []byte("#levee-bot-features schema=1\nname,signal,value,weight\n"), 0o644)
	if code := Main([]string{"bots", "features", "--check", f}, &out, &errb); code == ExitOK || !strings.Contains(errb.String(), "truncated") {
		t.Fatalf("check of a truncated file: exit %d %q", code, errb.String())
	}
}
