package compress

import "testing"

func TestNegotiate(t *testing.T) {
	offer := []string{Brotli, Zstd, Gzip}
	for _, c := range []struct {
		ae   []string
		want string
	}{
		{nil, ""},
		{[]string{""}, ""},
		{[]string{"gzip"}, Gzip},
		{[]string{"gzip, deflate, br"}, Brotli}, // tie: levee's order
		{[]string{"gzip;q=1.0, br;q=0.5"}, Gzip},
		{[]string{"br;q=0, gzip;q=0.1"}, Gzip},
		{[]string{"br;q=0", "zstd;q=0"}, ""},
		{[]string{"*"}, Brotli},
		{[]string{"*;q=0.5, br;q=0, zstd;q=0.6"}, Zstd},
		{[]string{"*;q=0.5, br;q=0"}, Zstd},
		{[]string{"identity"}, ""},
		{[]string{"GZIP"}, Gzip},
		{[]string{"gzip;q=2"}, ""}, // malformed weight: ignored
		{[]string{"gzip;q=x"}, ""}, // malformed weight: ignored
		{[]string{" zstd ; q=0.9 ,gzip;q=0.8"}, Zstd},
		{[]string{"deflate, compress"}, ""},
	} {
		if got := negotiate(c.ae, offer); got != c.want {
			t.Errorf("Accept-Encoding %q: got %q, want %q", c.ae, got, c.want)
		}
	}
	if got := negotiate([]string{"br, gzip"}, []string{Gzip}); got != Gzip {
		t.Errorf("offer gzip only: got %q", got)
	}
}

// A header of many codings costs a bounded parse: the ones past the
// bound are not seen.
func TestNegotiateBounded(t *testing.T) {
	ae := ""
	for i := 0; i < 100; i++ {
		ae += "x-unknown,"
	}
	if got := negotiate([]string{ae + "gzip"}, []string{Gzip}); got != "" {
		t.Fatalf("coding past the bound was used: %q", got)
	}
}

func TestTypes(t *testing.T) {
	c := Config{}
	c.SetDefaults()
	s := compile(&c, nil)
	for ct, want := range map[string]bool{
		"text/html; charset=utf-8": true, "application/json": true, "application/ld+json": true,
		"image/svg+xml": true, "TEXT/PLAIN": true, "image/png": false, "application/octet-stream": false,
		"": false, "garbage;;": false, "video/mp4": false, "application/zip": false,
	} {
		if got := s.compressible(ct); got != want {
			t.Errorf("%q: got %v, want %v", ct, got, want)
		}
	}
}
