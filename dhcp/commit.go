package dhcp

import (
	"context"
	"errors"
	"time"
)

// commit makes changes durable, counting what fails: a *TakenError (a
// conflict: the address went to another server's client), the store
// unreachable, or another failure.
func (s *Server) commit(now time.Time, changes []Change) error {
	ctx := context.Background()
	if s.share != nil {
		// A database cut off by the network never answers; the local
		// file always does, if slowly.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, storeTimeout)
		defer cancel()
	}
	err := s.store.Commit(ctx, now, changes...)
	s.countCommit(err)
	return err
}

// countCommit counts a failed commit by what failed.
func (s *Server) countCommit(err error) {
	switch {
	case err == nil:
	case errors.Is(err, ErrAddressTaken):
		s.m.conflicts.Inc()
	case errors.Is(err, ErrStoreUnavailable), s.share != nil && errors.Is(err, context.DeadlineExceeded):
		// A database that does not answer within storeTimeout is as
		// unavailable as one that refuses the connection.
		s.m.storeError("commit")
		s.m.drop("store_unavailable")
	default:
		s.m.storeError("commit")
		s.m.drop("commit_failed")
	}
}
