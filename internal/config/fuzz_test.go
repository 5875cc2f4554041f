package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the config decoder: it must return a
// config or an error, never panic.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(""))
	f.Add([]byte("listeners: [{listen: ':0'}]\nsites: [{hosts: ['*'], routes: [{origins: [{url: 'http://a:1'}]}]}]"))
	f.Add([]byte("a: &a [*a, *a]\nb: *a\n"))
	f.Add([]byte("limits: {max_header_bytes: 1GiB}\ntimeouts: {idle: 1h}"))
	if files, err := filepath.Glob("testdata/*.yaml"); err == nil {
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		p, err := Load("fuzz.yaml", src)
		if err == nil && (p == nil || p.Config == nil) {
			t.Fatal("nil config without error")
		}
	})
}
