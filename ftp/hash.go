package ftp

import (
	"errors"

	"golang.org/x/crypto/bcrypt"
)

// checkHash accepts only bcrypt hashes, so a plaintext password pasted into
// the config is refused at startup instead of never matching.
func checkHash(h string) error {
	if h == "" {
		return errors.New("required (bootsrv passwd prints one)")
	}
	if _, err := bcrypt.Cost([]byte(h)); err != nil {
		return errors.New("not a bcrypt hash (bootsrv passwd prints one)")
	}
	return nil
}
