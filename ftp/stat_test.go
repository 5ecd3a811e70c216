package ftp

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestSTATDuringTransfer: STAT without an argument during a RETR answers
// 211 with the transfer's status at once (RFC 959 §4.1.3), and the
// session keeps reading commands: an ABOR right after it ends the stalled
// transfer (426, then 226 for the ABOR) well before any timeout. The
// client never reads the data connection, so the transfer cannot finish
// by itself.
func TestSTATDuringTransfer(t *testing.T) {
	big := strings.Repeat("x", 16<<20)
	ts := newTestServer(t, Config{}, map[string]string{"big.bin": big})
	c := ts.dial(t)
	c.login("anonymous", "x")
	d := c.pasv()
	defer d.Close()
	c.cmd(150, "RETR big.bin")
	c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if text := c.cmd(211, "STAT"); !strings.Contains(text, "Transfer connection open") {
		t.Errorf("STAT during transfer: %q", text)
	}
	c.send("ABOR")
	code, text := c.read()
	if code == 426 {
		code, text = c.read()
	}
	if code != 226 && code != 225 {
		t.Fatalf("ABOR after STAT: %d %q", code, text)
	}
	c.cmd(200, "NOOP") // replies are in step again
	c.cmd(213, "SIZE big.bin")
	// And a STAT that is not during a transfer still answers 211 in turn.
	c.cmd(211, "STAT")
	c.cmd(200, "NOOP")
	io.Copy(io.Discard, d)
}
