package datasets

import "regexp"

// remoteScheme matches a URL scheme followed by "://" (RFC 3986 scheme
// syntax): gs://bucket/object, s3://…, memfs://….
var remoteScheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*://`)

// IsRemote says whether an input argument is a URI (a scheme followed by
// "://", such as gs://bucket/events/2026-11-01.parquet) rather than a local
// path. A remote input is passed through as given, unexpanded (no globs, no
// directories), and only an engine that reads its runner's filesystems (the
// beam engine) can read it.
func IsRemote(arg string) bool { return remoteScheme.MatchString(arg) }

// IsRemote says whether the input is a URI that no local reader can open
// (an Input with Data set is in memory, whatever its name).
func (in Input) IsRemote() bool { return in.Data == nil && IsRemote(in.Name) }

// RemoteInput returns the Input for a URI (see IsRemote): a name the local
// readers refuse with ErrRemoteInput and an engine reads through its own
// filesystems.
func RemoteInput(uri string) Input { return Input{Name: uri} }

// remoteErr is the error of opening a remote input locally.
func remoteErr(name string) error {
	return &InputError{File: name, RowGroup: -1, Err: ErrRemoteInput}
}
