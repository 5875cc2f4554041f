package compress

import (
	"strconv"
	"strings"

	"levee/internal/config/schema"
)

// Config is the top-level compress: section: on-the-fly response
// compression for every site.
type Config struct {
	// Enabled turns compression on. Default off.
	Enabled bool `yaml:"enabled,omitempty"`
	// Encodings levee may use, in its order of preference when a client
	// rates several equally: br, zstd, gzip. Default all three in that
	// order.
	Encodings []string `yaml:"encodings,omitempty"`
	// MinSize: smaller bodies are sent as they are, as compressing them
	// saves less than it costs. Default 1KiB.
	MinSize schema.Size `yaml:"min_size,omitempty"`
	// Types are the compressible media types: "text/html" exactly,
	// "text/*" by prefix, "*+json" by suffix. Default: text, JSON,
	// JavaScript, XML, SVG, WebAssembly and uncompressed fonts.
	Types []string `yaml:"types,omitempty"`
	// StoreMemory is no longer used: the encoded variants of cached
	// responses live in the cache, counted in cache.memory. Still
	// accepted, so configs that set it keep loading.
	StoreMemory *schema.Size `yaml:"store_memory,omitempty"`
}

// Defaults and bounds.
const (
	DefaultMinSize = 1 << 10
	maxStoreMemory = 16 << 30
	maxMinSize     = 1 << 20
	maxTypes       = 256
)

// DefaultTypes are the compressible media types used when Types is empty.
var DefaultTypes = []string{
	"text/*", "application/json", "*+json", "application/javascript",
	"application/x-javascript", "application/xml", "*+xml", "image/svg+xml",
	"application/wasm", "font/ttf", "font/otf", "application/vnd.ms-fontobject",
	"image/x-icon", "image/bmp", "application/x-ndjson", "application/graphql-response+json",
}

// DefaultEncodings are the encodings in levee's order of preference.
var DefaultEncodings = []string{Brotli, Zstd, Gzip}

// SetDefaults fills unset keys.
func (c *Config) SetDefaults() {
	if len(c.Encodings) == 0 {
		c.Encodings = append([]string(nil), DefaultEncodings...)
	}
	if c.MinSize == 0 {
		c.MinSize = DefaultMinSize
	}
	if len(c.Types) == 0 {
		c.Types = append([]string(nil), DefaultTypes...)
	}
}

// Validate adds the section's errors to l.
func (c *Config) Validate(l *schema.List) {
	seen := map[string]bool{}
	for i, e := range c.Encodings {
		if !schema.OneOf(e, Brotli, Zstd, Gzip) {
			l.Add(pathf("compress.encodings", i), "unknown encoding %q; want br, zstd or gzip", e)
		}
		if seen[e] {
			l.Add(pathf("compress.encodings", i), "encoding %q is listed twice", e)
		}
		seen[e] = true
	}
	if c.MinSize < 0 || c.MinSize > maxMinSize {
		l.Add("compress.min_size", "must be between 0 and 1MiB, got %d", int64(c.MinSize))
	}
	if c.StoreMemory != nil && (*c.StoreMemory < 0 || *c.StoreMemory > maxStoreMemory) {
		l.Add("compress.store_memory", "must be between 0 (off) and 16GiB, got %d", int64(*c.StoreMemory))
	}
	if len(c.Types) > maxTypes {
		l.Add("compress.types", "%d types, over the limit of %d", len(c.Types), maxTypes)
	}
	for i, t := range c.Types {
		if !validTypePattern(t) {
			l.Add(pathf("compress.types", i), "bad media type %q; want type/subtype, type/* or *+suffix", t)
		}
	}
}

func validTypePattern(t string) bool {
	if strings.HasPrefix(t, "*+") {
		return len(t) > 2 && !strings.ContainsAny(t[2:], "/*; ")
	}
	typ, sub, ok := strings.Cut(t, "/")
	if !ok || typ == "" || sub == "" || strings.ContainsAny(t, "; ") || strings.Contains(typ, "*") {
		return false
	}
	return sub == "*" || !strings.Contains(sub, "*")
}

func pathf(p string, i int) string { return p + "[" + strconv.Itoa(i) + "]" }
