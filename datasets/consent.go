package datasets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Input is one input file: on disk (Data == nil: Name is its path) or in
// memory (Data and Size given; Name is used in errors only), e.g. the
// embedded sample.
type Input struct {
	Name string
	Data io.ReaderAt
	Size int64
}

// BytesInput returns an in-memory Input over b.
func BytesInput(name string, b []byte) Input {
	return Input{Name: name, Data: bytes.NewReader(b), Size: int64(len(b))}
}

// FileInputs expands files, directories and globs (see ExpandInputs) into
// Inputs.
func FileInputs(paths []string) ([]Input, error) {
	files, err := ExpandInputs(paths)
	if err != nil {
		return nil, err
	}
	in := make([]Input, len(files))
	for i, f := range files {
		in[i] = Input{Name: f}
	}
	return in, nil
}

func (in Input) open(opt ScanOptions) (*Scanner, error) {
	if in.Data == nil {
		return Open(in.Name, opt)
	}
	return OpenReaderAt(in.Name, in.Data, in.Size, opt)
}

// ConsentColumns names the columns of a consent export. Empty fields take
// the defaults of DefaultConsentColumns.
type ConsentColumns struct {
	User      string // string or integer user id; default "user_id"
	Category  string // string; default "category"
	Granted   string // bool (or integer: 1 = grant, else withdrawal); default "granted"
	UpdatedAt string // timestamp of the record; default "updated_at"
}

// DefaultConsentColumns are the column names the generator writes.
var DefaultConsentColumns = ConsentColumns{User: "user_id", Category: "category", Granted: "granted", UpdatedAt: "updated_at"}

func (c ConsentColumns) withDefaults() ConsentColumns {
	d := DefaultConsentColumns
	if c.User == "" {
		c.User = d.User
	}
	if c.Category == "" {
		c.Category = d.Category
	}
	if c.Granted == "" {
		c.Granted = d.Granted
	}
	if c.UpdatedAt == "" {
		c.UpdatedAt = d.UpdatedAt
	}
	return c
}

// Consent is the consent state of every user as of one instant, per
// category. Consent is opt-in:
//
//   - for each (user, category), the record with the latest updated_at at or
//     before the as-of instant decides; records dated after it are ignored
//     (a later withdrawal applies to later runs, a later grant too);
//   - if two such records share the latest instant and disagree, the
//     withdrawal wins;
//   - no record, a withdrawal, a record whose granted is null (unknown is
//     not a yes), or any record whose updated_at is null (its place in the
//     history is unknown, so no grant can be trusted to supersede it) all
//     mean excluded;
//   - rows with a null or empty user id or a null category are ignored: they
//     cannot grant anything to anyone.
type Consent struct {
	asOf  time.Time
	users *UserIndex
	cats  map[string]*consentState
}

type consentState struct {
	at     []int64 // unix nanos of the deciding record, per user
	st     []uint8 // per user
	grants *Grants // built on first use
}

const (
	stNone uint8 = iota
	stGrant
	stWithdraw
	stPoisoned // a record with a null timestamp: excluded whatever else
)

func (s *consentState) grow(u uint32) {
	if int(u) < len(s.st) {
		return
	}
	n := max(int(u)+1, 2*len(s.st))
	at := make([]int64, n)
	copy(at, s.at)
	st := make([]uint8, n)
	copy(st, s.st)
	s.at, s.st = at, st
}

func (s *consentState) add(u uint32, at int64, haveAt, granted bool) {
	s.grow(u)
	cur := s.st[u]
	switch {
	case cur == stPoisoned:
	case !haveAt:
		s.st[u] = stPoisoned
	case cur == stNone || at > s.at[u]:
		s.at[u] = at
		s.st[u] = stWithdraw
		if granted {
			s.st[u] = stGrant
		}
	case at == s.at[u] && !granted:
		s.st[u] = stWithdraw
	}
}

// LoadConsent reads consent exports (files, directories or globs) and
// returns the consent state as of asOf. User ids are interned in users, the
// same index the event reader uses, so that Grants(c).Allowed(user) can be
// asked with the ids events carry. Errors are *InputError naming the file
// and column.
func LoadConsent(paths []string, users *UserIndex, asOf time.Time, cols ConsentColumns) (*Consent, error) {
	in, err := FileInputs(paths)
	if err != nil {
		return nil, err
	}
	return LoadConsentFrom(in, users, asOf, cols)
}

// LoadConsentFrom is LoadConsent over Inputs (e.g. an embedded sample).
func LoadConsentFrom(inputs []Input, users *UserIndex, asOf time.Time, cols ConsentColumns) (*Consent, error) {
	cs, err := LoadConsentsFrom(inputs, users, cols, asOf)
	if err != nil {
		return nil, err
	}
	return cs[0], nil
}

// LoadConsentsFrom is LoadConsentFrom for several instants at once, in one
// pass over the exports: cs[i] is the consent state as of asOf[i].
func LoadConsentsFrom(inputs []Input, users *UserIndex, cols ConsentColumns, asOf ...time.Time) ([]*Consent, error) {
	if users == nil {
		return nil, errors.New("nil UserIndex")
	}
	if len(asOf) == 0 {
		return nil, errors.New("no instant to evaluate consent as of")
	}
	cs := make([]*Consent, len(asOf))
	for i, t := range asOf {
		if t.IsZero() {
			return nil, errors.New("asOf is the zero time; consent must be evaluated as of the run")
		}
		cs[i] = &Consent{asOf: t, users: users, cats: make(map[string]*consentState)}
	}
	if len(inputs) == 0 {
		return nil, fmt.Errorf("%w: no consent inputs", ErrInputMissing)
	}
	cols = cols.withDefaults()
	for _, in := range inputs {
		if err := load(cs, in, cols); err != nil {
			return nil, err
		}
	}
	return cs, nil
}

func load(cs []*Consent, in Input, cols ConsentColumns) error {
	s, err := in.open(ScanOptions{Columns: []string{cols.User, cols.Category, cols.Granted, cols.UpdatedAt}})
	if err != nil {
		return err
	}
	defer s.Close()
	users := cs[0].users
	for s.Scan() {
		rec := s.Record()
		ids, err := newUserColumn(rec.Column(0))
		if err != nil {
			return inputErr(in.Name, cols.User, -1, err)
		}
		cat, err := NewStringColumn(rec.Column(1))
		if err != nil {
			return inputErr(in.Name, cols.Category, -1, err)
		}
		granted, err := newBoolColumn(rec.Column(2))
		if err != nil {
			return inputErr(in.Name, cols.Granted, -1, err)
		}
		at, err := NewTimeColumn(rec.Column(3))
		if err != nil {
			return inputErr(in.Name, cols.UpdatedAt, -1, err)
		}
		for i, n := 0, int(rec.NumRows()); i < n; i++ {
			if cat.IsNull(i) {
				continue
			}
			u, ok := ids.id(users, i)
			if !ok {
				continue
			}
			haveAt := !at.IsNull(i)
			t := at.Value(i)
			name := cat.Value(i)
			g := granted.granted(i)
			for _, c := range cs {
				if haveAt && t > c.asOf.UnixNano() {
					continue
				}
				st := c.cats[name]
				if st == nil {
					st = &consentState{}
					c.cats[strings.Clone(name)] = st
				}
				st.add(u, t, haveAt, g)
			}
		}
	}
	return s.Err()
}

// AsOf is the instant the consent state was evaluated at.
func (c *Consent) AsOf() time.Time { return c.asOf }

// Categories returns the categories that have at least one record, sorted.
func (c *Consent) Categories() []string {
	out := make([]string, 0, len(c.cats))
	for k := range c.cats {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Grants returns the users whose consent to category is granted as of AsOf.
// An unknown category grants nothing.
func (c *Consent) Grants(category string) Grants {
	st := c.cats[category]
	if st == nil {
		return Grants{}
	}
	if st.grants == nil {
		g := Grants{bits: make([]uint64, (len(st.st)+63)/64)}
		for u, s := range st.st {
			if s == stGrant {
				g.bits[u>>6] |= 1 << (u & 63)
			}
		}
		st.grants = &g
	}
	return *st.grants
}

// Grants is the set of users who granted one consent category: a bitset
// over UserIndex numbers. The zero value grants nothing.
type Grants struct {
	bits []uint64
}

// Allowed reports, in O(1), whether user (a UserIndex number) may count.
// Users never seen in the consent export are not allowed.
func (g Grants) Allowed(user uint32) bool {
	w := int(user >> 6)
	return w < len(g.bits) && g.bits[w]&(1<<(user&63)) != 0
}

// And returns the users granted in both g and h: for a run, a grant as of
// the end of its period that was not withdrawn by the time of the run.
func (g Grants) And(h Grants) Grants {
	n := min(len(g.bits), len(h.bits))
	bits := make([]uint64, n)
	for i := range bits {
		bits[i] = g.bits[i] & h.bits[i]
	}
	return Grants{bits: bits}
}

// Count returns the number of users granted. It is an exact count over
// private data: not for reports or logs.
func (g Grants) Count() int {
	n := 0
	for _, w := range g.bits {
		for ; w != 0; w &= w - 1 {
			n++
		}
	}
	return n
}

// userColumn reads a user id column of string or integer type.
type userColumn struct {
	str   StringColumn
	ints  IntColumn
	isInt bool
	// dictionary-encoded strings: UserIndex numbers per dictionary entry
	dictIDs []int64
}

func newUserColumn(arr arrow.Array) (userColumn, error) {
	if s, err := NewStringColumn(arr); err == nil {
		u := userColumn{str: s}
		if d, ok := s.Dictionary(); ok {
			u.dictIDs = make([]int64, d.Len())
			for i := range u.dictIDs {
				u.dictIDs[i] = -1
			}
		}
		return u, nil
	} else if !errors.Is(err, ErrColumnType) {
		return userColumn{}, err
	}
	ints, err := NewIntColumn(arr)
	if err != nil {
		if errors.Is(err, ErrColumnType) {
			return userColumn{}, fmt.Errorf("%w: user id must be a string or integer, not %s", ErrColumnType, arr.DataType())
		}
		return userColumn{}, err
	}
	return userColumn{ints: ints, isInt: true}, nil
}

// plainStrings reports whether the column holds plain (not dictionary)
// strings, which fill interns a batch at a time.
func (c *userColumn) plainStrings() bool { return !c.isInt && c.dictIDs == nil }

// id interns row i's user; ok is false for a null or empty id.
func (c *userColumn) id(x *UserIndex, i int) (uint32, bool) {
	if c.isInt {
		if c.ints.IsNull(i) {
			return 0, false
		}
		return x.IntID(c.ints.Value(i)), true
	}
	if c.str.IsNull(i) {
		return 0, false
	}
	if c.dictIDs != nil {
		k, _ := c.str.DictionaryIndex(i)
		if id := c.dictIDs[k]; id >= 0 {
			return uint32(id), true
		}
		v := c.str.Value(i)
		if v == "" {
			return 0, false
		}
		id := x.ID(v)
		c.dictIDs[k] = int64(id)
		return id, true
	}
	v := c.str.Value(i)
	if v == "" {
		return 0, false
	}
	return x.ID(v), true
}

// boolColumn reads a consent flag: bool, or integer (1 = grant). Null is
// not a grant.
type boolColumn struct {
	b     *array.Boolean
	ints  IntColumn
	isInt bool
}

func newBoolColumn(arr arrow.Array) (boolColumn, error) {
	if b, ok := arr.(*array.Boolean); ok {
		if b.Len() > 0 && len(b.Data().Buffers()) > 1 && b.Data().Buffers()[1] != nil &&
			int64(b.Data().Buffers()[1].Len())*8 < int64(b.Data().Offset()+b.Len()) {
			return boolColumn{}, fmt.Errorf("%w: boolean buffer too short", ErrCorrupt)
		}
		if b.NullN() > 0 && b.NullBitmapBytes() == nil && b.NullN() != b.Len() {
			return boolColumn{}, fmt.Errorf("%w: nulls but no validity bitmap", ErrCorrupt)
		}
		return boolColumn{b: b}, nil
	}
	ints, err := NewIntColumn(arr)
	if err != nil {
		return boolColumn{}, fmt.Errorf("%w: granted must be bool or integer, not %s", ErrColumnType, arr.DataType())
	}
	return boolColumn{ints: ints, isInt: true}, nil
}

func (c boolColumn) granted(i int) bool {
	if c.isInt {
		return !c.ints.IsNull(i) && c.ints.Value(i) == 1
	}
	if c.b.NullN() == c.b.Len() {
		return false
	}
	return !c.b.IsNull(i) && c.b.Value(i)
}
