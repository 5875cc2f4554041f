package pool

import (
	"net/http/httptest"
	"testing"
)

// BenchmarkPick measures each policy's pick over 100 origins under
// parallel load; every policy must pick without allocating.
func BenchmarkPick(b *testing.B) {
	os := origins(100)
	os[7].State.SetUp(false)
	r := httptest.NewRequest("GET", "http://x/some/path", nil)
	r.Header.Set("Cookie", "levee_origin="+cookieID(os[42]))
	for name, p := range pickers(os) {
		if name == "cookie" {
			p = NewSticky(os, "levee_origin", 0)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if p.Pick(r) == nil {
						b.Fatal("nil pick")
					}
				}
			})
		})
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	os := origins(100)
	r := httptest.NewRequest("GET", "http://x/some/path", nil)
	r.Header.Set("Cookie", "levee_origin="+cookieID(os[42]))
	for name, p := range pickers(os) {
		if name == "cookie" {
			p = NewSticky(os, "levee_origin", 0)
		}
		if a := testing.AllocsPerRun(200, func() { p.Pick(r) }); a != 0 {
			t.Errorf("%s: %v allocs per pick", name, a)
		}
	}
}
