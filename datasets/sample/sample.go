// Package sample is the small synthetic dataset embedded in the dpstats
// binary, for `make run`, demos and tests that need realistic data without
// a file on disk.
//
// Stage: input fixture. It holds only synthetic data written by
// datasets.Generate with the options below (no real user is in it), so it
// carries no privacy promise of its own; it exists so that the rest of the
// pipeline can be exercised on exactly the shapes a real export has
// (dictionary-encoded strings, null users, forbidden columns present in the
// file, consent records dated after the run).
//
// Regenerate it (only needed when the generator changes) with
//
//	go generate ./datasets/sample
//
// which runs `go test -run TestSample -update`; the test without -update
// checks that the committed files hold the same rows the generator produces
// today.
package sample

import (
	_ "embed"
	"slices"
	"time"
)

//go:generate go test -run TestSample -update

// The options the sample was generated with (datasets.GenOptions).
const (
	Rows      = 400_000
	Users     = 100_000
	Days      = 1
	Seed      = 20261101
	NullUsers = 0.001 // share of events with a null user_id
)

// Start is the first UTC day of the sample: events cover [Start, End).
var Start = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// End is the end of the sample's period (Start + Days), also the instant the
// consent export is meant to be read as of.
var End = Start.AddDate(0, 0, Days)

// File names of the embedded exports (used in error messages).
const (
	EventsName  = "sample/events.parquet"
	ConsentName = "sample/consent.parquet"
)

//go:embed events.parquet
var events []byte

//go:embed consent.parquet
var consent []byte

// Events returns a copy of the events export (Parquet).
func Events() []byte { return slices.Clone(events) }

// Consent returns a copy of the consent export (Parquet).
func Consent() []byte { return slices.Clone(consent) }
