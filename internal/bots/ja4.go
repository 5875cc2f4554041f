package bots

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
)

// JA4 is the JA4 fingerprint (FoxIO's JA4 technical details, TLS client
// part) of a ClientHello, written from the spec:
//
//	a: protocol ('t' for TCP), the highest TLS version offered ("13",
//	   "12", ...), 'd' with SNI or 'i' without, the cipher and extension
//	   counts (two digits each, at most 99) and the first and last
//	   character of the first ALPN value ("00" without ALPN)
//	b: the first 12 hex digits of SHA-256 over the sorted cipher suites
//	   (four hex digits each, comma-separated)
//	c: the same over the sorted extensions without SNI and ALPN, then '_'
//	   and the signature algorithms in the order sent
//
// GREASE values are left out everywhere. Go's ClientHelloInfo carries
// every field JA4 reads (extension order does not matter: JA4 sorts
// them), so no raw bytes are needed.
func JA4(h *tls.ClientHelloInfo) string {
	ciphers := nonGREASE(h.CipherSuites)
	exts := nonGREASE(h.Extensions)
	var b strings.Builder
	b.Grow(36)
	b.WriteByte('t')
	b.WriteString(ja4Version(h.SupportedVersions))
	if slices.Contains(exts, 0x0000) || (len(h.Extensions) == 0 && h.ServerName != "") {
		b.WriteByte('d')
	} else {
		b.WriteByte('i')
	}
	b.WriteString(twoDigits(len(ciphers)))
	b.WriteString(twoDigits(len(exts)))
	b.WriteString(ja4ALPN(h.SupportedProtos))
	b.WriteByte('_')
	slices.Sort(ciphers)
	b.WriteString(hash12(hexList(ciphers), len(ciphers) == 0))
	b.WriteByte('_')
	rest := exts[:0:0]
	for _, e := range exts {
		if e != 0x0000 && e != 0x0010 {
			rest = append(rest, e)
		}
	}
	slices.Sort(rest)
	c := hexList(rest)
	var sigs []uint16
	for _, s := range h.SignatureSchemes {
		if !isGREASE(uint16(s)) {
			sigs = append(sigs, uint16(s))
		}
	}
	if len(sigs) > 0 {
		c += "_" + hexList(sigs)
	}
	b.WriteString(hash12(c, len(exts) == 0))
	return b.String()
}

func isGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

func nonGREASE(in []uint16) []uint16 {
	out := make([]uint16, 0, len(in))
	for _, v := range in {
		if !isGREASE(v) {
			out = append(out, v)
		}
	}
	return out
}

func ja4Version(versions []uint16) string {
	var hi uint16
	for _, v := range versions {
		if !isGREASE(v) && v > hi && v < 0xfe00 {
			hi = v
		}
	}
	switch hi {
	case tls.VersionTLS13:
		return "13"
	case tls.VersionTLS12:
		return "12"
	case tls.VersionTLS11:
		return "11"
	case tls.VersionTLS10:
		return "10"
	case 0x0300:
		return "s3"
	}
	return "00"
}

func twoDigits(n int) string {
	n = min(n, 99)
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

func ja4ALPN(protos []string) string {
	if len(protos) == 0 || protos[0] == "" {
		return "00"
	}
	p := protos[0]
	first, last := p[0], p[len(p)-1]
	if alnum(first) && alnum(last) {
		return string([]byte{first, last})
	}
	h := hex.EncodeToString([]byte(p))
	return string([]byte{h[0], h[len(h)-1]})
}

func alnum(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func hexList(vs []uint16) string {
	var b strings.Builder
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		var x [2]byte
		x[0], x[1] = byte(v>>8), byte(v)
		b.WriteString(hex.EncodeToString(x[:]))
	}
	return b.String()
}

func hash12(s string, none bool) string {
	if none {
		return "000000000000"
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}
