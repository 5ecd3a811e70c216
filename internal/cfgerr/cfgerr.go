// Package cfgerr is the one error type for configuration problems. Every
// section's Validate returns an *Error naming the key the problem is
// about, relative to that section ("retries", "pools[0].range"), so that
// the command that read the file can point at file:line:key.
package cfgerr

import (
	"errors"
	"fmt"
)

// Error is a problem with the value of one configuration key.
type Error struct {
	// Key is the YAML key path, relative to the section that checked it,
	// e.g. "pools[0].range".
	Key string
	// Err is the reason, without the key.
	Err error
	// Line is the line inside a multi-line value (a template) the problem
	// is on, 1-based; 0 when it is about the whole value.
	Line int
}

// New is the error err about key.
func New(key string, err error) *Error { return &Error{Key: key, Err: err} }

// Errorf is New with a formatted reason.
func Errorf(key, format string, args ...any) *Error {
	return &Error{Key: key, Err: fmt.Errorf(format, args...)}
}

func (e *Error) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Within places err inside section: the key of an *Error in err's chain
// becomes section.key (section[i] keys join without a dot), and any other
// error becomes an *Error about the whole section. Nil stays nil.
func Within(section string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if !errors.As(err, &e) {
		return New(section, err)
	}
	key := section
	switch {
	case e.Key == "":
	case e.Key[0] == '[':
		key += e.Key
	default:
		key += "." + e.Key
	}
	return &Error{Key: key, Err: e.Err, Line: e.Line}
}
