package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// levee purge posts the flags as the admin API's JSON body and prints the
// count it answers; a 400 is a usage error with the node's words.
func TestPurgeSendsTheAdminBody(t *testing.T) {
	var got map[string]any
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = nil
		_ = json.Unmarshal(b, &got)
		if r.Method != http.MethodPost || r.URL.Path != "/purge" {
			http.Error(w, "wrong endpoint", http.StatusNotFound)
			return
		}
		if _, ok := got["prefix"]; ok {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"prefix is bad"}`)
			return
		}
		_, _ = io.WriteString(w, `{"purged":3,"soft":true}`)
	}))
	defer admin.Close()

	code, out, errOut := run("purge", "--admin", admin.URL, "--tag", "product-42", "--soft")
	if code != 0 || !strings.Contains(out, "purged 3 objects") {
		t.Fatalf("exit %d, out %q, err %q", code, out, errOut)
	}
	if len(got) != 2 || got["tag"] != "product-42" || got["soft"] != true {
		t.Fatalf("body sent %v, want only tag and soft", got)
	}
	code, _, errOut = run("purge", "--admin", strings.TrimPrefix(admin.URL, "http://"), "--prefix", "x")
	if code != ExitUsage || !strings.Contains(errOut, "purge: prefix is bad") {
		t.Fatalf("exit %d, err %q", code, errOut)
	}
}

func TestPluralObjects(t *testing.T) {
	if plural(1, "object") != "1 object" || plural(0, "object") != "0 objects" || plural(3, "object") != "3 objects" {
		t.Fatal(plural(1, "object"), plural(0, "object"))
	}
}
