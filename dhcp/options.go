package dhcp

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/bootsrv/bootsrv/internal/cfgerr"
)

// Options are DHCP options by code, as written in the config file:
//
//	options:
//	  42: 10.0.0.1                  # an IP (list) option: one address or a list
//	  6: [10.0.0.1, 10.0.0.2]
//	  66: tftp.example.net          # text
//	  26: 1400                      # integer, sized by the option's RFC 2132 type
//	  43: "hex:01:04:de:ad:be:ef"   # raw bytes
//	  224: "u16:8080"               # explicit type for codes bootsrv does not know
//
// Known RFC 2132 codes get their type from a table; other codes take IPv4
// addresses and text by their form, and integers only with an explicit
// prefix (u8:, u16:, u32:, i32:). Prefixes ip:, text: and hex: work for
// any code.
type Options map[int]any

type optType int

const (
	tText optType = iota
	tIP
	tIPs
	tU8
	tU16
	tU32
	tI32
)

var knownOptions = func() map[int]optType {
	m := map[int]optType{}
	set := func(t optType, codes ...int) {
		for _, c := range codes {
			m[c] = t
		}
	}
	set(tIP, 1, 16, 28, 32, 50)
	set(tIPs, 3, 4, 5, 6, 7, 8, 9, 10, 11, 41, 42, 44, 45, 48, 49, 65, 68, 69, 70, 71, 72, 73, 74, 75, 76, 150)
	set(tText, 12, 14, 15, 17, 18, 40, 43, 47, 56, 60, 64, 66, 67)
	set(tU8, 19, 20, 23, 27, 29, 30, 31, 34, 36, 39, 46)
	set(tU16, 13, 22, 26, 57)
	set(tU32, 24, 35, 38, 51, 58, 59)
	set(tI32, 2)
	return m
}()

// managedOptions are set by the server itself and cannot be configured.
var managedOptions = map[int]string{
	0: "pad", 255: "end", 52: "option overload", 53: "message type",
	54: "server identifier", 61: "client identifier", 82: "relay agent information",
}

// option is one encoded option.
type option struct {
	code uint8
	data []byte
}

// compileOptions encodes opts in code order; key is the config key for errors.
func compileOptions(key string, opts Options) ([]option, error) {
	codes := make([]int, 0, len(opts))
	for c := range opts {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	out := make([]option, 0, len(codes))
	for _, c := range codes {
		k := fmt.Sprintf("%s.%d", key, c)
		if c < 1 || c > 254 {
			return nil, cfgerr.Errorf(k, "option code must be 1-254")
		}
		if what, ok := managedOptions[c]; ok {
			return nil, cfgerr.Errorf(k, "option %d (%s) is set by the server", c, what)
		}
		data, err := encodeOption(c, opts[c])
		if err != nil {
			return nil, cfgerr.New(k, err)
		}
		if len(data) > 255 {
			return nil, cfgerr.Errorf(k, "encoded value is %d bytes, more than 255", len(data))
		}
		out = append(out, option{code: uint8(c), data: data})
	}
	return out, nil
}

// encodeOption turns one config value into option bytes.
func encodeOption(code int, v any) ([]byte, error) {
	t, known := knownOptions[code]
	if s, ok := v.(string); ok {
		if typ, rest, ok := explicitType(s); ok {
			if typ == "hex" {
				return parseHex(rest)
			}
			return encodeAs(typeNames[typ], rest)
		}
		if !known {
			if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
				t = tIPs
			} else {
				t = tText
			}
		}
		return encodeAs(t, s)
	}
	if list, ok := v.([]any); ok {
		if known && t != tIPs {
			return nil, fmt.Errorf("option %d takes one value, not a list", code)
		}
		var out []byte
		for i, e := range list {
			s := fmt.Sprint(e)
			if typ, rest, ok := explicitType(s); ok && typ == "ip" {
				s = rest
			}
			b, err := encodeAs(tIP, s)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			out = append(out, b...)
		}
		return out, nil
	}
	if n, ok := toInt(v); ok {
		if !known {
			return nil, fmt.Errorf("option %d is not known to bootsrv: write the integer with its type, e.g. \"u32:%d\"", code, n)
		}
		return encodeAs(t, strconv.FormatInt(n, 10))
	}
	if v == nil {
		return nil, fmt.Errorf("empty value")
	}
	return nil, fmt.Errorf("unsupported value %v (%T)", v, v)
}

var typeNames = map[string]optType{"ip": tIPs, "text": tText, "u8": tU8, "u16": tU16, "u32": tU32, "i32": tI32}

func explicitType(s string) (typ, rest string, ok bool) {
	typ, rest, ok = strings.Cut(s, ":")
	if !ok {
		return "", "", false
	}
	if _, known := typeNames[typ]; !known && typ != "hex" {
		return "", "", false
	}
	return typ, rest, true
}

func encodeAs(t optType, s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	switch t {
	case tText:
		if s == "" {
			return nil, fmt.Errorf("empty text")
		}
		return []byte(s), nil
	case tIP, tIPs:
		var out []byte
		for _, f := range strings.Split(s, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(f))
			if err != nil || !a.Is4() {
				return nil, fmt.Errorf("%q is not an IPv4 address", f)
			}
			b := a.As4()
			out = append(out, b[:]...)
			if t == tIP && len(out) > 4 {
				return nil, fmt.Errorf("takes one address")
			}
		}
		return out, nil
	}
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		return nil, fmt.Errorf("%q is not an integer", s)
	}
	limits := map[optType][2]int64{tU8: {0, math.MaxUint8}, tU16: {0, math.MaxUint16}, tU32: {0, math.MaxUint32}, tI32: {math.MinInt32, math.MaxInt32}}
	lim := limits[t]
	if n < lim[0] || n > lim[1] {
		return nil, fmt.Errorf("%d out of range %d..%d", n, lim[0], lim[1])
	}
	switch t {
	case tU8:
		return []byte{byte(n)}, nil
	case tU16:
		return binary.BigEndian.AppendUint16(nil, uint16(n)), nil
	default:
		return binary.BigEndian.AppendUint32(nil, uint32(n)), nil
	}
}

func parseHex(s string) ([]byte, error) {
	s = strings.NewReplacer(":", "", " ", "", "-", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%q is not hex bytes", s)
	}
	return b, nil
}

func toInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case uint64:
		if n > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case int32:
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case float64:
		if n == math.Trunc(n) {
			return int64(n), true
		}
	}
	return 0, false
}
