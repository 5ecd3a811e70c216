// Package images is the image store that every bootsrv service serves from.
//
// All access to the file system goes through a Store, which confines every
// path to one directory with os.Root: ".." components, absolute paths and
// symbolic links that leave the root are refused by the kernel-backed root,
// not by string checks alone. Client-supplied names are normalised in exactly
// one place, Clean, before they reach the file system.
//
// Uploads are written to a hidden temporary name in the target directory,
// fsynced, and then linked into place with link(2), which fails rather than
// replace an existing file. A reader therefore never sees a half-written
// file, and an upload never overwrites what is already there. Temporary
// names start with TempPrefix; Clean refuses such names and List hides them,
// so partial uploads are never served by any protocol.
package images
