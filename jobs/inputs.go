package jobs

import (
	"fmt"
	"log/slog"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/dpstats/dpstats/datasets"
)

// uniqueInputs keeps every input file once, however often and however it is
// named (datasets.UniqueInputs: by device and inode; a URI by its spelling), so that no event and
// no consent record is read twice, and logs each spelling dropped: paths
// only, which the operator gave.
func uniqueInputs(cfg *Config, log *slog.Logger) error {
	for _, side := range []struct {
		kind string
		in   *[]datasets.Input
	}{{"events", &cfg.Events}, {"consent", &cfg.Consent}} {
		kept, dups, err := datasets.UniqueInputs(*side.in)
		if err != nil {
			return fmt.Errorf("%s: %w", side.kind, err)
		}
		for _, d := range dups {
			log.Warn("input named more than once: reading it once", "inputs", side.kind, "path", d.Path, "same_file_as", d.SameAs)
		}
		*side.in = kept
	}
	return nil
}

// refuseRemote refuses remote inputs (URIs, datasets.IsRemote) for the
// local engine, which reads local files only, before anything is locked,
// read or charged. An engine gets them as they are: it reads them through
// its own filesystems and checks them in its Check.
func refuseRemote(c *Config) error {
	if c.Engine != nil {
		return nil
	}
	for _, side := range []struct {
		kind string
		in   []datasets.Input
	}{{"events", c.Events}, {"consent", c.Consent}} {
		for _, x := range side.in {
			if x.IsRemote() {
				return fmt.Errorf("%w: %s input %s: %w", ErrConfig, side.kind, x.Name, datasets.ErrRemoteInput)
			}
		}
	}
	return nil
}

// checkUserIDTypes refuses, from the schemas alone (no rows read, nothing
// spent), events and consent whose user-id columns hold different kinds of
// value (string and integer): their ids would not join as the exporter
// meant, and the run would release noise over the few or no users that
// happen to match. Remote inputs (URIs, which only an engine reads) are
// not opened here: the engine reads their schemas in the pipeline. The error is a *datasets.InputError naming an events
// file and a consent file, both columns and both types.
func checkUserIDTypes(spec *Spec, events, consent []datasets.Input) error {
	type seen struct {
		file string
		typ  arrow.DataType
	}
	classes := func(in []datasets.Input, column string) (map[string]seen, error) {
		out := map[string]seen{}
		for _, x := range in {
			if x.IsRemote() {
				continue
			}
			t, err := datasets.ColumnType(x, column)
			if err != nil {
				return nil, err
			}
			c := datasets.UserIDClass(t)
			if _, ok := out[c]; !ok && c != "" { // other types: the reader says what is wrong
				out[c] = seen{x.Name, t}
			}
		}
		return out, nil
	}
	ev, err := classes(events, spec.Input.User)
	if err != nil {
		return fmt.Errorf("read events schema: %w", err)
	}
	co, err := classes(consent, spec.Consent.User)
	if err != nil {
		return fmt.Errorf("read consent schema: %w", err)
	}
	for _, ec := range []string{"integer", "string"} {
		e, ok := ev[ec]
		if !ok {
			continue
		}
		for cc, c := range co {
			if cc == ec {
				continue
			}
			return &datasets.InputError{File: e.file, Column: spec.Input.User, RowGroup: -1, Err: fmt.Errorf(
				"%w: user ids are %s (%s) in this events export but %s (%s) in the consent export %s, column %s: "+
					"ids of different types do not join, so events would be matched to the wrong consent or to none; "+
					"nothing was read or spent: export both with the same user-id type",
				datasets.ErrColumnType, ec, e.typ, cc, c.typ, c.file, spec.Consent.User)}
		}
	}
	return nil
}
