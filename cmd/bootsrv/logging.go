package main

import (
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"
)

// newLogger builds the process logger; every service gets a child of it.
// The level is zerolog's global level, so that a reload can change it for
// every logger at once (logLevelPart); the loggers themselves pass all.
func newLogger(level, format string, w io.Writer) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("log level: %w", err)
	}
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	zerolog.SetGlobalLevel(lvl)
	return zerolog.New(w).Level(zerolog.TraceLevel).With().Timestamp().Logger(), nil
}
