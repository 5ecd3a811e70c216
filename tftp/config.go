package tftp

import (
	"time"

	"github.com/bootsrv/bootsrv/internal/cfgerr"
	"github.com/bootsrv/bootsrv/internal/inflight"
	"github.com/bootsrv/bootsrv/timeline/event"
)

// Config is the tftp: section of the configuration file, without listen,
// which cmd/bootsrv owns. The zero value is usable: WithDefaults fills it.
type Config struct {
	// MaxBlockSize caps the block size a client may negotiate with the
	// blksize option (RFC 2348). Default (zero) 65464, the RFC maximum;
	// at least 513 (a cap of 512 would just refuse the option). The server
	// further clamps to the receiving interface's MTU minus IP, UDP and
	// TFTP headers, so a client never gets fragmented datagrams.
	MaxBlockSize int `yaml:"max_block_size"`
	// Timeout is how long the server waits for an ACK (or DATA, on writes)
	// before it retransmits, until the peer has answered; on reads the wait
	// then follows the measured round trip (RFC 6298 style, see rtoTimer),
	// never above Timeout and never below MinTimeout. A client's timeout
	// option (RFC 2349) replaces Timeout as the longest wait once the
	// client has answered; before that Timeout applies whatever it asked,
	// so a forged request cannot hold a slot for minutes. Default (zero)
	// 2s.
	Timeout time.Duration `yaml:"timeout"`
	// MinTimeout is the floor of the adaptive retransmission wait on
	// reads: a lost block on a LAN is resent after about this long instead
	// of a full Timeout. Default (zero) 50ms; set it to Timeout for a timer
	// that never goes below Timeout.
	MinTimeout time.Duration `yaml:"min_timeout"`
	// Retries is how many times a packet is retransmitted before the
	// transfer is given up, once the peer has answered (before that,
	// UnverifiedRetries). Default (zero) 5.
	Retries int `yaml:"retries"`
	// MaxTransfers caps concurrent transfers; requests beyond it get an
	// ERROR "server busy". Default (zero) 2000: boot storms of hundreds of
	// machines are normal and each transfer costs one socket.
	MaxTransfers int `yaml:"max_transfers"`
	// MaxTransfersPerIP caps the concurrent transfers of one client
	// address, so one host (or one spoofed address) cannot take every slot
	// of MaxTransfers; beyond it the client gets ERROR "server busy".
	// Default (zero) 32; -1 means no cap (many clients behind one NAT).
	MaxTransfersPerIP int `yaml:"max_transfers_per_ip"`
	// MaxUnverifiedPerIP caps, per client address, the transfers whose
	// peer has not answered yet (no ACK of the OACK or of block 1, no DATA
	// of an upload). Request source addresses are not verified, so this is
	// what bounds the packets a forged request can aim at one victim.
	// Beyond it the request gets ERROR "server busy". Default (zero) 4: a
	// firmware that probes tsize before its real request and a client that
	// resends its request (busybox) need two or three; -1 means no cap.
	MaxUnverifiedPerIP int `yaml:"max_unverified_per_ip"`
	// UnverifiedRetries is how many times the first packet of a transfer
	// (DATA 1, the OACK, or an upload's ACK 0) is retransmitted to a peer
	// that has never answered, each after Timeout; a client's timeout
	// option only counts once the peer has answered. One request then
	// costs at most 1+UnverifiedRetries packets and Timeout x (1 +
	// UnverifiedRetries) of a slot. Default (zero) 1; -1 means none (a
	// lost first packet is then left to the client's own retry).
	UnverifiedRetries int `yaml:"unverified_retries"`
	// AllowWrite accepts write requests (WRQ); the Handler decides where
	// they land (bootsrv: images.uploads only).
	// Default (zero) false: writes are refused.
	AllowWrite bool `yaml:"allow_write"`
	// MaxUploadSize caps one upload, in bytes. Default (zero) 256 MiB;
	// -1 means no cap.
	MaxUploadSize int64 `yaml:"max_upload_size"`
	// MaxWindowSize caps the windowsize a client may negotiate (RFC
	// 7440): how many DATA blocks go out before the server waits for an
	// ACK. Default (zero) 64. Whatever the cap, blksize x windowsize is
	// held to 128 KiB per transfer, so large blocks get smaller windows.
	MaxWindowSize int `yaml:"max_window_size"`
	// Anticipate is accepted for old configuration files and ignored:
	// it set pin/tftp's non-standard send-ahead, which the RFC 7440
	// windowsize negotiation replaces. 0..60 as before.
	Anticipate int `yaml:"anticipate"`

	// Events is told of every transfer and refusal, for the boot
	// timeline; fixed by New (PrepareReload keeps it). Zero: nobody is.
	Events event.Sink `yaml:"-"`
	// Transfers is told of every transfer while it runs, with its
	// progress, and of every upload stored, for the web console; fixed by
	// New (PrepareReload keeps it). Nil: nobody is.
	Transfers *inflight.Registry `yaml:"-"`
}

// Documented defaults.
const (
	DefaultMaxBlockSize      = 65464
	DefaultTimeout           = 2 * time.Second
	DefaultMinTimeout        = 50 * time.Millisecond
	DefaultRetries           = 5
	DefaultMaxTransfers      = 2000
	DefaultMaxPerIP          = 32
	DefaultMaxUnverified     = 4
	DefaultUnverifiedRetries = 1
	DefaultMaxUploadSize     = 256 << 20
	DefaultMaxWindowSize     = 64

	maxAnticipate = 60 // the old key's range, still checked
)

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.MaxBlockSize == 0 {
		c.MaxBlockSize = DefaultMaxBlockSize
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MinTimeout == 0 {
		c.MinTimeout = min(DefaultMinTimeout, c.Timeout)
	}
	if c.Retries == 0 {
		c.Retries = DefaultRetries
	}
	if c.MaxTransfers == 0 {
		c.MaxTransfers = DefaultMaxTransfers
	}
	if c.MaxTransfersPerIP == 0 {
		c.MaxTransfersPerIP = DefaultMaxPerIP
	}
	if c.MaxUnverifiedPerIP == 0 {
		c.MaxUnverifiedPerIP = DefaultMaxUnverified
	}
	if c.UnverifiedRetries == 0 {
		c.UnverifiedRetries = DefaultUnverifiedRetries
	}
	if c.MaxUploadSize == 0 {
		c.MaxUploadSize = DefaultMaxUploadSize
	}
	if c.MaxWindowSize == 0 {
		c.MaxWindowSize = DefaultMaxWindowSize
	}
	return c
}

// Validate checks c after filling defaults, so a zero field is valid.
// Errors are *cfgerr.Error with the YAML key relative to the tftp section.
func (c Config) Validate() error {
	c = c.WithDefaults()
	switch {
	case c.MaxBlockSize < 513 || c.MaxBlockSize > 65464:
		return cfgerr.Errorf("max_block_size", "must be between 513 and 65464, got %d", c.MaxBlockSize)
	case c.Timeout < 10*time.Millisecond || c.Timeout > 5*time.Minute:
		return cfgerr.Errorf("timeout", "must be between 10ms and 5m, got %s", c.Timeout)
	case c.MinTimeout < time.Millisecond || c.MinTimeout > c.Timeout:
		return cfgerr.Errorf("min_timeout", "must be between 1ms and timeout (%s), got %s", c.Timeout, c.MinTimeout)
	case c.Retries < 1 || c.Retries > 100:
		return cfgerr.Errorf("retries", "must be between 1 and 100, got %d", c.Retries)
	case c.MaxTransfers < 1:
		return cfgerr.Errorf("max_transfers", "must be at least 1, got %d", c.MaxTransfers)
	case c.MaxTransfersPerIP < -1:
		return cfgerr.Errorf("max_transfers_per_ip", "must be at least 1, or -1 for no cap, got %d", c.MaxTransfersPerIP)
	case c.MaxUnverifiedPerIP < -1:
		return cfgerr.Errorf("max_unverified_per_ip", "must be at least 1, or -1 for no cap, got %d", c.MaxUnverifiedPerIP)
	case c.UnverifiedRetries < -1 || c.UnverifiedRetries > c.Retries:
		return cfgerr.Errorf("unverified_retries", "must be between 1 and retries (%d), or -1 for none, got %d", c.Retries, c.UnverifiedRetries)
	case c.MaxUploadSize < -1:
		return cfgerr.Errorf("max_upload_size", "must be a byte count, or -1 for no cap, got %d", c.MaxUploadSize)
	case c.MaxWindowSize < 1 || c.MaxWindowSize > maxWindowSize:
		return cfgerr.Errorf("max_window_size", "must be between 1 and %d blocks, got %d", maxWindowSize, c.MaxWindowSize)
	case c.Anticipate < 0 || c.Anticipate > maxAnticipate:
		return cfgerr.Errorf("anticipate", "must be between 0 and %d packets, got %d", maxAnticipate, c.Anticipate)
	}
	return nil
}
