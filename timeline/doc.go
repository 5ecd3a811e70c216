// Package timeline keeps a per-machine boot timeline: the recent DHCP
// messages, transfers, logins, script renders and refusals of each
// machine, in order, with a summary and boot-loop detection, so that an
// admin whose machine does not boot reads one timeline instead of four
// services' interleaved logs.
//
// # Feeding it
//
// Services report through the leaf package timeline/event and never import
// this one: each takes an event.Sink (event.Discard when given none) and
// calls Record once per fact. A *Recorder is that Sink. cmd/bootsrv builds
// one and hands it to every service:
//
//	rec, err := timeline.New(cfg.Timeline, log, reg) // cfg.Timeline.Resolve = leases, then neighbours
//	tftpSrv := tftp.New(..., rec) // or a Config field: whatever the service takes
//	for pattern, h := range rec.Handlers() { mux.Handle(pattern, h) }
//
// # Keying events by machine
//
// A machine is its MAC. An event that carries only an IP (TFTP, HTTP, FTP
// peers) is keyed, at record time, by the MAC that Config.Resolve gives
// (cmd/bootsrv: the DHCP lease, then the kernel neighbour table), else by
// the machine last recorded with that IP. When neither knows the address,
// the event is kept under the IP in a separate bounded area
// (Config.UnresolvedIPs addresses) and listed by IP, with unresolved set.
// The first later event that carries both that IP and a MAC (a DHCPACK, a
// render with ?mac=, a transfer the resolver now knows) moves the IP's
// events from the last Config.AttachWindow into the MAC's timeline, merged
// in time order; older ones stay under the IP, because the address may
// have belonged to another machine then.
//
// # Bounds and cost
//
// The recorder keeps the Config.Machines machines seen most recently (LRU;
// the least recent one is dropped, and its memory reused, for a new one)
// and the last Config.EventsPerMachine events of each, in a ring that grows
// to that size as events come. Everything is under one mutex held for a
// map lookup, a list move and a copy into the ring; the resolver, the
// clock and logging run outside it. Measured on a shared 2-core AMD EPYC
// (go test -bench . -benchmem):
//
//	Record, known machine               ~125 ns, 0 allocs
//	Record, IP-only, resolved, loops on ~190 ns, 0 allocs
//	Record, 64 goroutines, 500 machines 200-500 ns, 0 allocs (lock contention)
//	Record, a new machine evicting one  ~290 ns, 1 alloc (its MAC string)
//
// An event is kept in 88 bytes (see entry) plus the strings it brings
// that its machine has not brought before: the strings describing the
// machine (architecture, classes, host name, rule) are shared between its
// events. Full to the defaults, 10,000 machines × 64 events of a realistic
// mix take about 70 MiB of heap (7.3 KB a machine, 113 bytes an event;
// TestMemoryFull, BenchmarkMemoryFull). The memory grows linearly with
// both bounds; a machine seen once costs under 1 KB.
//
// # Boot loops
//
// A machine that completes LoopFetches fetches (TFTP or HTTP, result ok)
// of the first-stage loader its last DHCP reply named within LoopWindow is
// in a boot loop: it is logged as a warning and counted in
// bootsrv_boot_loops_total once per machine per window, a boot_loop event
// is added to its timeline, and its summary shows boot_loop true for as
// long as a loop was seen within the last window. See loop.go for what
// counts as a fetch of the loader.
//
// # API
//
// Handlers serves GET /api/machines (summaries, most recently seen first;
// ?q= searches MAC, IP and host name; ?offset= and ?limit= page) and GET
// /api/machines/{mac} (summary and timeline, oldest first; {mac} may be an
// IP). Client and PrintList/PrintMachine are the other end, for `bootsrv
// machines`.
//
// The recorder lives in memory only: a restart starts an empty timeline,
// and a config reload that changes the timeline section takes effect only
// with a new Recorder.
package timeline
