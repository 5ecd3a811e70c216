package inflight

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// clock is a registry whose clock moves a second per reading.
func clocked(maxRunning, maxUploads int) *Registry {
	r := New(maxRunning, maxUploads)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	n := 0
	r.now = func() time.Time { n++; return t0.Add(time.Duration(n) * time.Second) }
	return r
}

func TestRunning(t *testing.T) {
	r := clocked(0, 0)
	a := r.Start(Info{Service: "tftp", File: "a", Peer: "10.0.0.5:1000", Size: 100})
	b := r.Start(Info{Service: "http", File: "b", Peer: "10.0.0.6:80", Size: -1})
	c := r.Start(Info{Service: "ftp", File: "c", User: "netops", Size: 10})
	a.Add(40)
	a.Add(2)
	b.SetSize(7)
	b.Add(7)
	a.Done()
	a.Done() // twice: nothing more
	got := r.Running()
	if len(got) != 2 || got[0].File != "b" || got[1].File != "c" {
		t.Fatalf("running after a is done: %+v", got)
	}
	if got[0].Bytes != 7 || got[0].Size != 7 || got[1].User != "netops" || !got[0].Started.Before(got[1].Started) {
		t.Errorf("running: %+v", got)
	}
	b.Done()
	c.Done()
	if got := r.Running(); len(got) != 0 {
		t.Errorf("all done, still running: %+v", got)
	}
}

// TestBounded: past its maximum the registry tracks nothing more, and the
// untracked transfers (nil) are safe to use.
func TestBounded(t *testing.T) {
	r := New(2, 0)
	a, b := r.Start(Info{File: "a"}), r.Start(Info{File: "b"})
	c := r.Start(Info{File: "c"})
	if a == nil || b == nil || c != nil || r.Dropped() != 1 {
		t.Fatalf("a %v b %v c %v dropped %d", a, b, c, r.Dropped())
	}
	c.Add(1)
	c.SetSize(2)
	c.Uploaded("c")
	c.Done()
	a.Done()
	if d := r.Start(Info{File: "d"}); d == nil {
		t.Error("a slot freed, but d is not tracked")
	}
}

func TestNilRegistry(t *testing.T) {
	var r *Registry
	tr := r.Start(Info{File: "x"})
	tr.Add(1)
	tr.Uploaded("x")
	if r.Running() != nil || r.Uploads() != nil || r.Dropped() != 0 {
		t.Error("a nil registry reports something")
	}
	if _, ok := r.Uploader("x"); ok {
		t.Error("a nil registry knows an uploader")
	}
}

// TestUploads: the last uploads are remembered by name, the oldest
// forgotten first; a name uploaded again names its last uploader.
func TestUploads(t *testing.T) {
	r := clocked(0, 3)
	up := func(name, user string, n int64) {
		tr := r.Start(Info{Service: "ftp", Upload: true, File: name, Peer: "10.0.0.9", User: user, Size: -1})
		tr.Add(n)
		tr.Uploaded("incoming/" + name)
	}
	up("a", "alice", 1)
	up("b", "bob", 2)
	up("c", "carol", 3)
	up("a", "dave", 4) // a again: over the oldest (a by alice)
	up("d", "erin", 5) // over b
	for name, want := range map[string]string{"incoming/a": "dave", "incoming/b": "", "incoming/c": "carol", "incoming/d": "erin"} {
		u, ok := r.Uploader(name)
		if ok != (want != "") || u.User != want {
			t.Errorf("Uploader(%s) = %+v, %v; want %q", name, u, ok, want)
		}
	}
	got := r.Uploads()
	var names []string
	for _, u := range got {
		names = append(names, u.Name+"/"+u.User)
	}
	if fmt.Sprint(names) != "[incoming/d/erin incoming/a/dave incoming/c/carol]" {
		t.Errorf("Uploads() = %v", names)
	}
	if got[0].Bytes != 5 || got[0].Service != "ftp" || got[0].Peer != "10.0.0.9" {
		t.Errorf("newest upload %+v", got[0])
	}
	if len(r.Running()) != 0 {
		t.Error("uploads still running")
	}
}

// TestConcurrent runs under -race: transfers start, count and end on many
// goroutines while the console reads.
func TestConcurrent(t *testing.T) {
	r := New(64, 16)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				r.Running()
				r.Uploads()
			}
		}
	}()
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				tr := r.Start(Info{Service: "tftp", File: fmt.Sprint(g, "-", i), Size: 10})
				for range 10 {
					tr.Add(1)
				}
				if i%2 == 0 {
					tr.Uploaded(fmt.Sprint(g, "-", i))
				} else {
					tr.Done()
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if n := len(r.Running()); n != 0 {
		t.Errorf("%d still running", n)
	}
}

// BenchmarkAdd is the per-block cost a service pays.
func BenchmarkAdd(b *testing.B) {
	r := New(0, 0)
	b.RunParallel(func(pb *testing.PB) {
		tr := r.Start(Info{Service: "tftp"})
		for pb.Next() {
			tr.Add(1428)
		}
		tr.Done()
	})
}

// BenchmarkStartDone is the per-transfer cost.
func BenchmarkStartDone(b *testing.B) {
	r := New(0, 0)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Start(Info{Service: "tftp", File: "pxelinux.0", Size: 42}).Done()
		}
	})
}
