package proxy

import (
	"sync"
	"testing"
)

func TestBudgetRatio(t *testing.T) {
	b := NewBudget(0.2, 0)
	allowed := 0
	for range 1000 {
		b.Deposit()
		if b.Withdraw() {
			allowed++
		}
	}
	if allowed != 200 {
		t.Fatalf("%d retries for 1000 requests at 20%%, want 200", allowed)
	}
}

func TestBudgetCapAndFloor(t *testing.T) {
	b := NewBudget(1, 0)
	for range 10 * budgetCap {
		b.Deposit()
	}
	n := 0
	for b.Withdraw() {
		n++
	}
	if n != budgetCap {
		t.Fatalf("saved %d retries, cap is %d", n, budgetCap)
	}
	b.Set(0, 3)
	n = 0
	for range 10 {
		if b.Withdraw() {
			n++
		}
	}
	if n != 3 && n != 6 { // 6 only if the second turned over mid-loop
		t.Fatalf("floor of 3/s allowed %d", n)
	}
}

func TestBudgetConcurrent(t *testing.T) {
	b := NewBudget(0.5, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := 0
			for range 1000 {
				b.Deposit()
				if b.Withdraw() {
					k++
				}
			}
			mu.Lock()
			allowed += k
			mu.Unlock()
		}()
	}
	wg.Wait()
	if allowed > 2000 {
		t.Fatalf("%d retries for 4000 requests at 50%%", allowed)
	}
}

func BenchmarkBudget(b *testing.B) {
	bg := NewBudget(0.2, 10)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			bg.Deposit()
			bg.Withdraw()
		}
	})
}
