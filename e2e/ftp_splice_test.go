package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestFTPZeroCopy attaches strace to bootsrv during a curl -T upload and a
// curl download of 32 MiB as a named user, then an anonymous curl -T into
// the upload folder: uploads must move with splice(2) (socket -> pipe ->
// file) and the download with sendfile(2), not through read/write in user
// space, and uploads must be written back while they arrive
// (sync_file_range(2) every 8 MiB), not only by the fsync at their end.
func TestFTPZeroCopy(t *testing.T) {
	requireTool(t, "curl")
	p := startBootsrv(t, bootsrvOpts{Config: ftpConfig(t) + "  anonymous: {upload: true}\n",
		Files: map[string][]byte{"incoming/.keep": nil}})
	url := "ftp://" + p.Addr("ftp")
	src := filepath.Join(t.TempDir(), "src.bin")
	data := randomBytes(32 << 20)
	os.WriteFile(src, data, 0o644)

	strace := countSyscalls(t, p, "splice", "sendfile", "copy_file_range", "sync_file_range")
	if o, err := runTool(t, time.Minute, "curl", "-sS", "-u", "netops:secret", "-T", src, url+"/up.bin"); err != nil {
		t.Fatalf("curl -T: %v %s", err, o)
	}
	if o, err := runTool(t, time.Minute, "curl", "-sS", "-o", os.DevNull, url+"/up.bin"); err != nil {
		t.Fatalf("curl download: %v %s", err, o)
	}
	calls := strace.stop(t)
	if fileSHA256(t, filepath.Join(p.Root, "up.bin")) != sha256Hex(data) {
		t.Fatal("upload differs")
	}
	// 512 KiB chunks: at least 64 calls each for 32 MiB.
	if calls["splice"] < 64 {
		t.Errorf("upload: %d splice calls, want zero-copy receive", calls["splice"])
	}
	if calls["sendfile"] < 64 {
		t.Errorf("download: %d sendfile calls, want zero-copy send", calls["sendfile"])
	}
	// A step per 8 MiB window: start its writeback, wait for the one before.
	if calls["sync_file_range"] < 4 {
		t.Errorf("upload: %d sync_file_range calls, want write-behind every 8 MiB", calls["sync_file_range"])
	}

	strace = countSyscalls(t, p, "splice", "sync_file_range")
	if o, err := runTool(t, time.Minute, "curl", "-sS", "-T", src, url+"/incoming/anon.bin"); err != nil {
		t.Fatalf("anonymous curl -T: %v %s", err, o)
	}
	calls = strace.stop(t)
	if fileSHA256(t, filepath.Join(p.Root, "incoming", "anon.bin")) != sha256Hex(data) {
		t.Fatal("anonymous upload differs")
	}
	if calls["splice"] < 64 {
		t.Errorf("anonymous upload: %d splice calls, want zero-copy receive", calls["splice"])
	}
	if calls["sync_file_range"] < 4 {
		t.Errorf("anonymous upload: %d sync_file_range calls, want write-behind every 8 MiB", calls["sync_file_range"])
	}
}
