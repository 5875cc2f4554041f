package h2server

import (
	"encoding/xml"
	"go/build"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// h2specKnown are the h2spec cases levee's server fails on purpose, each
// with its reason. Anything else failing fails the test.
var h2specKnown = map[string]string{}

// TestH2spec runs the h2spec conformance suite (RFC 7540/9113, HPACK)
// against levee's server, and against Go's for the baseline it must match.
func TestH2spec(t *testing.T) {
	bin := h2specBinary(t)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	})
	results := map[string]int{}
	for _, server := range []string{"go", "levee"} {
		if only := os.Getenv("H2SPEC_SERVER"); only != "" && only != server {
			continue
		}
		ts := httptest.NewUnstartedServer(h)
		ts.EnableHTTP2 = true
		ts.Config.ErrorLog = log.New(io.Discard, "", 0)
		if server == "levee" {
			(&Server{}).Attach(ts.Config)
		}
		ts.StartTLS()
		u, _ := url.Parse(ts.URL)
		report := filepath.Join(t.TempDir(), "h2spec.xml")
		out, _ := exec.Command(bin, "-t", "-k", "-h", u.Hostname(), "-p", u.Port(), "-o", "1", "-j", report).CombinedOutput()
		if os.Getenv("H2SPEC_OUT") != "" {
			t.Logf("%s", out)
		}
		ts.Close()
		passed, failed := readJUnit(t, report, out)
		results[server] = passed
		t.Logf("h2spec against server=%s: %d passed, %d failed", server, passed, len(failed))
		if server != "levee" {
			continue
		}
		for _, f := range failed {
			if _, ok := h2specKnown[f]; !ok {
				t.Errorf("h2spec: %s", f)
			}
		}
	}
	if results["go"] > 0 && results["levee"] < results["go"] {
		t.Errorf("levee passes %d h2spec cases, Go's server %d", results["levee"], results["go"])
	}
}

func h2specBinary(t *testing.T) string {
	if p, err := exec.LookPath("h2spec"); err == nil {
		return p
	}
	if p := filepath.Join(build.Default.GOPATH, "bin", "h2spec"); fileExists(p) {
		return p
	}
	if os.Getenv("LEVEE_REQUIRE_INTEGRATION") == "1" {
		t.Fatal("h2spec is required (LEVEE_REQUIRE_INTEGRATION=1)")
	}
	t.Skip("h2spec not installed")
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

type junitSuites struct {
	Suites []struct {
		Name  string `xml:"name,attr"`
		Cases []struct {
			Name    string    `xml:"name,attr"`
			Package string    `xml:"package,attr"`
			Class   string    `xml:"classname,attr"`
			Failure *struct{} `xml:"failure"`
			Error   *struct{} `xml:"error"`
			Skipped *struct{} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func readJUnit(t *testing.T, path string, out []byte) (passed int, failed []string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("h2spec wrote no report: %v\n%s", err, out)
	}
	var r junitSuites
	if err := xml.Unmarshal(b, &r); err != nil {
		t.Fatalf("h2spec report: %v", err)
	}
	for _, s := range r.Suites {
		for _, c := range s.Cases {
			switch {
			case c.Failure != nil || c.Error != nil:
				failed = append(failed, strings.TrimSpace(s.Name+" "+c.Package+" "+c.Class+" "+c.Name))
			case c.Skipped == nil:
				passed++
			}
		}
	}
	return passed, failed
}
