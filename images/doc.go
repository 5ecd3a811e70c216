// Package images is the image store that every bootsrv service serves from.
//
// All access to the file system goes through a Store, which confines every
// path to one directory with os.Root: ".." components, absolute paths and
// symbolic links that leave the root are refused by the kernel-backed root,
// not by string checks alone. Client-supplied names are normalised in exactly
// one place, Clean, before they reach the file system.
//
// Uploads are written to a hidden temporary name in the target directory,
// written back while they arrive (writebehind.go), fsynced, and then linked
// into place with link(2), which fails rather than replace an existing file. A reader therefore never sees a half-written
// file, and an upload never overwrites what is already there. Temporary
// names start with TempPrefix; Clean refuses such names and List hides them,
// so partial uploads are never served by any protocol.
//
// The upload area (Options.Uploads) is write-only unless
// Options.UploadsReadable: what clients upload there (switch config
// backups with password hashes, say) is not served back by Open, Stat or
// List, which every protocol's read path goes through, so TFTP, HTTP and
// FTP refuse it alike, as a missing name (ErrWriteOnly wraps
// ErrNotFound). Only a Trusted view, given to FTP users with write
// permission who collect the backups, reads there.
//
// A crash or a killed client leaves hidden files behind. The store knows
// which hidden files its own uploads are writing (they register the name
// before creating the file), so Sweep can remove the others: temporary
// files, and partial uploads past Options.PartialTTL. RemoveDir removes
// them before rmdir, so they never keep a folder from being deleted.
package images
