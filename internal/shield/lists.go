package shield

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"levee/internal/config/schema"
	"net/netip"
	"os"
	"sort"
	"strings"
)

// IPSet is an immutable set of addresses and CIDRs, looked up by masking
// the address once per distinct prefix length it holds.
type IPSet struct {
	lens []int // distinct prefix lengths, longest first
	m    map[netip.Prefix]struct{}
}

// Len returns the number of entries.
func (s *IPSet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.m)
}

// Contains reports whether a is in the set. A nil set holds nothing.
func (s *IPSet) Contains(a netip.Addr) bool {
	if s == nil || len(s.m) == 0 || !a.IsValid() {
		return false
	}
	for _, l := range s.lens {
		if l > a.BitLen() {
			continue
		}
		p, err := a.Prefix(l)
		if err != nil {
			continue
		}
		if _, ok := s.m[p]; ok {
			return true
		}
	}
	return false
}

// NewIPSet builds a set from inline entries plus, if path is not empty, a
// file of one address or CIDR per line ('#' starts a comment). A file over
// maxBytes, a set over maxEntries or a malformed line is an error: the
// caller keeps its old set. Nothing is ever truncated.
func NewIPSet(inline []string, path string, maxEntries int, maxBytes int64) (*IPSet, error) {
	s := &IPSet{m: map[netip.Prefix]struct{}{}}
	for i, e := range inline {
		if err := s.add(e, maxEntries); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
	}
	if path != "" {
		if err := s.addFile(path, maxEntries, maxBytes); err != nil {
			return nil, err
		}
	}
	seen := map[int]bool{}
	for p := range s.m {
		if !seen[p.Bits()] {
			seen[p.Bits()] = true
			s.lens = append(s.lens, p.Bits())
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(s.lens)))
	return s, nil
}

func (s *IPSet) add(e string, maxEntries int) error {
	p, err := schema.ParsePrefix(strings.TrimSpace(e))
	if err != nil {
		return err
	}
	s.m[p] = struct{}{}
	if len(s.m) > maxEntries {
		return fmt.Errorf("over the limit of %d entries", maxEntries)
	}
	return nil
}

func (s *IPSet) addFile(path string, maxEntries int, maxBytes int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxBytes+1))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(data)) > maxBytes {
		return fmt.Errorf("%s: over the limit of %d bytes", path, maxBytes)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 4096)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		if text = strings.TrimSpace(text); text == "" {
			continue
		}
		if err := s.add(text, maxEntries); err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
