package timeline

import (
	"strings"

	"github.com/bootsrv/bootsrv/timeline/event"
)

// A boot loop is a machine that completes fetching its first-stage loader
// (the bootfile its last DHCP reply named) LoopFetches times within
// LoopWindow: it never gets past that loader, or keeps being handed it
// again (iPXE given undionly.kpxe instead of a script chainloads itself
// forever). Only complete, successful TFTP and HTTP reads count, because
// PXE ROMs open every file twice (once to learn its size) and a failed
// fetch is already the machine's last step.
//
// Counts are kept per loader name, for the last few names, so a machine
// that alternates between two loaders (PXE ROM -> undionly.kpxe, iPXE ->
// boot.ipxe, reboot) is caught too.

// loopState is a machine's loader fetch history; it exists once the
// machine has fetched a loader.
type loopState struct {
	loaders [4]loaderFetches
	seen    int64 // the last time the loop condition held
	warned  int64 // the last time it was logged and counted
}

// loaderFetches are the times of the last LoopFetches fetches of one
// loader, a ring.
type loaderFetches struct {
	name  string
	times []int64
	next  int
	last  int64
}

// loopWarning is what Record logs after the lock is released; fetches is
// zero when there is nothing to log.
type loopWarning struct {
	fetches                 int
	file, mac, ip, hostname string
}

// isLoaderFetch reports whether en is a complete TFTP or HTTP read of the
// bootfile m's last DHCP reply named.
func isLoaderFetch(m *entity, en entry) bool {
	return m.bootfile != "" && en.kind == event.Transfer && en.result == event.OK &&
		(en.svc == event.TFTP || en.svc == event.HTTP) && sameLoader(loaderName(m.bootfile), loaderName(en.file))
}

// fetched notes a fetch of loader at at. It reports how many fetches fell
// within the window when they make a loop, and whether to warn: once per
// window per machine.
func (m *entity) fetched(loader string, at int64, cfg Config) (fetches int, warn bool) {
	if m.loop == nil {
		m.loop = &loopState{}
	}
	s := m.loop
	f := &s.loaders[0]
	for i := range s.loaders {
		l := &s.loaders[i]
		if l.name == loader {
			f = l
			break
		}
		if l.last < f.last {
			f = l
		}
	}
	if f.name != loader {
		f.name, f.times, f.next = loader, f.times[:0], 0
	}
	f.last = at
	if len(f.times) < cfg.LoopFetches {
		f.times = append(f.times, at)
	} else {
		f.times[f.next] = at
		f.next = (f.next + 1) % len(f.times)
	}
	if len(f.times) < cfg.LoopFetches {
		return 0, false
	}
	oldest := f.times[f.next] // the ring is full: next is the oldest
	if at-oldest > int64(cfg.LoopWindow) {
		return 0, false
	}
	s.seen = at
	if s.warned != 0 && at-s.warned < int64(cfg.LoopWindow) {
		return len(f.times), false
	}
	s.warned = at
	return len(f.times), true
}

// looping reports whether m is flagged at now: a loop was seen within the
// last window.
func (m *entity) looping(now int64, cfg Config) bool {
	return m.loop != nil && m.loop.seen != 0 && now-m.loop.seen < int64(cfg.LoopWindow)
}

// loaderName is a bootfile or fetched file name reduced to what TFTP and
// HTTP requests for it have in common: the path of a URL, without leading
// slashes.
func loaderName(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
		j := strings.IndexByte(s, '/')
		if j < 0 {
			return ""
		}
		s = s[j:]
		if k := strings.IndexAny(s, "?#"); k >= 0 {
			s = s[:k]
		}
	}
	return strings.TrimLeft(s, "/")
}

// sameLoader matches a bootfile against a fetched name: equal, or one ends
// with the other after a slash, since an HTTP server mounts the store under
// a prefix (http://host/images/ipxe.efi is fetched as ipxe.efi) and a TFTP
// client may ask for a name relative to a prefix of its own.
func sameLoader(bootfile, fetched string) bool {
	if bootfile == "" || fetched == "" {
		return false
	}
	if bootfile == fetched {
		return true
	}
	return endsWithPath(bootfile, fetched) || endsWithPath(fetched, bootfile)
}

// endsWithPath reports whether s ends with "/"+tail.
func endsWithPath(s, tail string) bool {
	n := len(s) - len(tail)
	return n > 0 && s[n-1] == '/' && s[n:] == tail
}
