package tftp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"time"
)

// wclient is a test client for reads with windowsize (RFC 7440) that can
// lose packets on purpose: one in dropData DATA packets it receives and
// one in dropACK ACKs it would send are dropped, at random from a fixed
// seed (a strict every-Nth pattern can line up with the retransmitted
// window and drop the same block forever, which no real link does).
type wclient struct {
	blksize, window int
	mode            string
	tsize           bool
	timeout         time.Duration
	dropData        int
	dropACK         int

	// results
	oack      map[string]string
	dataSeen  int // DATA packets received, dropped ones included
	acksSent  int
	size      int64 // from tsize, -1 if none
	lostFinal bool  // the final ACK was dropped: the server ends by timeout
	serverTID *net.UDPAddr
}

func (c *wclient) get(addr, file string) ([]byte, error) {
	srv, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	mode := c.mode
	if mode == "" {
		mode = "octet"
	}
	var opts []string
	if c.blksize > 0 {
		opts = append(opts, "blksize", strconv.Itoa(c.blksize))
	}
	if c.window > 0 {
		opts = append(opts, "windowsize", strconv.Itoa(c.window))
	}
	if c.tsize {
		opts = append(opts, "tsize", "0")
	}
	if c.timeout == 0 {
		c.timeout = time.Second
	}
	rrq := request(1, file, mode, opts...)
	blk, win := 512, 1
	c.size = -1
	var out bytes.Buffer
	buf := make([]byte, 70000)
	expect := uint16(1)
	inWin, retries := 0, 0
	gapFor := -1
	rng := rand.New(rand.NewPCG(uint64(c.dropData), uint64(c.dropACK)))
	lose := func(oneIn int) bool { return oneIn > 0 && rng.IntN(oneIn) == 0 }
	lostLast := false
	sendACK := func(n uint16) {
		c.acksSent++
		if lostLast = lose(c.dropACK); lostLast {
			return
		}
		conn.WriteToUDP(ack(n), c.serverTID)
	}
	conn.WriteToUDP(rrq, srv)
	conn.SetReadDeadline(time.Now().Add(c.timeout))
	for {
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return nil, err
			}
			if retries++; retries > 8 {
				return out.Bytes(), fmt.Errorf("timed out at block %d", expect)
			}
			if c.serverTID == nil {
				conn.WriteToUDP(rrq, srv)
			} else {
				sendACK(expect - 1)
			}
			conn.SetReadDeadline(time.Now().Add(c.timeout))
			continue
		}
		if c.serverTID == nil {
			c.serverTID = from
		} else if from.String() != c.serverTID.String() {
			continue
		}
		p := buf[:n]
		switch opcode(p) {
		case 6:
			c.oack = oackOptions(p)
			if v, ok := c.oack["blksize"]; ok {
				blk, _ = strconv.Atoi(v)
			}
			if v, ok := c.oack["windowsize"]; ok {
				win, _ = strconv.Atoi(v)
			}
			if v, ok := c.oack["tsize"]; ok {
				c.size, _ = strconv.ParseInt(v, 10, 64)
			}
			sendACK(0)
			continue
		case 5:
			code, msg, _ := errPacket(p)
			return out.Bytes(), fmt.Errorf("server error %d: %s", code, msg)
		case 3:
		default:
			return out.Bytes(), fmt.Errorf("unexpected op %d", opcode(p))
		}
		c.dataSeen++
		if lose(c.dropData) {
			continue
		}
		got := binary.BigEndian.Uint16(p[2:])
		if got != expect {
			switch {
			case got-expect >= 0x8000: // behind: our ACK was lost, say again
				sendACK(expect - 1)
			case gapFor != int(expect): // ahead: a block went missing
				gapFor = int(expect)
				sendACK(expect - 1)
				inWin = 0
			}
			continue
		}
		retries = 0
		conn.SetReadDeadline(time.Now().Add(c.timeout))
		out.Write(p[4:])
		expect++
		if len(p)-4 < blk {
			sendACK(expect - 1)
			c.lostFinal = lostLast
			return out.Bytes(), nil
		}
		if inWin++; inWin >= win {
			inWin = 0
			sendACK(expect - 1)
		}
	}
}
