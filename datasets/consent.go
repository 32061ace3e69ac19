package datasets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
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
// Inputs, each file once.
func FileInputs(paths []string) ([]Input, error) {
	in, _, err := FileInputsDedup(paths)
	return in, err
}

// FileInputsDedup is FileInputs that also returns the spellings dropped
// because they name a file already listed (see ExpandInputsDedup).
func FileInputsDedup(paths []string) ([]Input, []Duplicate, error) {
	files, dups, err := ExpandInputsDedup(paths)
	if err != nil {
		return nil, nil, err
	}
	in := make([]Input, len(files))
	for i, f := range files {
		in[i] = Input{Name: f}
	}
	return in, dups, nil
}

func (in Input) open(opt ScanOptions) (*Scanner, error) {
	if in.IsRemote() {
		return nil, remoteErr(in.Name)
	}
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

// Consent is the consent of every user at one instant (the run), per
// category, and when each user's current grant began. Consent is opt-in and
// looks forward: an event counts for a category only if the category was
// granted at the event's time and is still granted at the run. Precisely,
// for each (user, category):
//
//   - a withdrawal counts whatever its updated_at, even one dated after the
//     as-of instant (a device whose clock is ahead): a user who withdrew is
//     never counted on the strength of a clock;
//   - a grant counts only if dated at or before the as-of instant: a grant
//     dated in the future does not count yet;
//   - the category is granted at the as-of instant if some counted grant is
//     later than every withdrawal (a grant and a withdrawal at the same
//     instant: the withdrawal wins), and granted since the earliest such
//     grant: the start of the current, uninterrupted grant. A grant before
//     the last withdrawal counts for nothing, not even for the events of
//     its time: the withdrawal revoked it, and the export keeps no record
//     that would tell which events were collected under it (and re-granting
//     does not restore it);
//   - no record, or a withdrawal after the last grant, means excluded; a
//     record whose granted is null (unknown is not a yes) is a withdrawal;
//     a record whose updated_at is null is a withdrawal dated after
//     everything (its place in the history is unknown, so no grant can be
//     trusted to supersede it);
//   - rows with a null or empty user id or a null category are ignored: they
//     cannot grant anything to anyone.
//
// An event then counts iff its time is at or after the start of its user's
// current grant (see GrantsDuring and Grants.AllowedAt). The outcome does not
// depend on the order of the records in the export.
type Consent struct {
	asOf  time.Time
	users *UserIndex
	cats  map[string]*consentState
	pool  *bufPool // the Scanners' recycled record buffers, while loading
	hint  int      // users to size a new category's state for, while loading
	// userRows counts the rows whose users were interned, by the form of
	// the user column (tests check which path a load took).
	userRows [numUserForms]int64
}

// consentState is one category's state, per user (UserIndex number). Each
// time is stored xor a key (wKey for lastW and lastG, gKey for firstG)
// that makes "no such record" 0, so that zeroed memory (a fresh memory
// map) is a state without records and growing needs no filling.
type consentState struct {
	lastW  []int64 // latest withdrawal ^ wKey (noEarlier: none; math.MaxInt64: null time)
	firstG []int64 // earliest counted grant after lastW ^ gKey (noGrant: none)
	lastG  []int64 // latest counted grant ^ wKey (noEarlier: none)
	// replay: a withdrawal arrived that revoked firstG while a later grant
	// was known, but not which grant after it is the earliest: the
	// category's grants are read again once lastW is final.
	replay bool
	// hint is the number of users to size the arrays for at the first
	// record: the users the export is expected to hold.
	hint int
	// maps are the memory maps behind lastW, firstG and lastG (nil: on
	// the heap; see growInt64s), unmapped when the state is garbage.
	maps *[3][]byte
}

const (
	noEarlier = math.MinInt64 // lastW, lastG: no such record
	noGrant   = math.MaxInt64 // firstG: not granted

	wKey = noEarlier // stored lastW, lastG: time ^ wKey (noEarlier: 0)
	gKey = noGrant   // stored firstG: time ^ gKey (noGrant: 0)
)

func (s *consentState) grow(u uint32) {
	if int(u) < len(s.lastW) {
		return
	}
	n := max(int(u)+1, 2*len(s.lastW), s.hint)
	if s.maps == nil {
		s.maps = new([3][]byte)
		runtime.AddCleanup(s, func(m *[3][]byte) {
			for _, mem := range m {
				if mem != nil {
					unmap(mem)
				}
			}
		}, s.maps)
	}
	// New entries are zero: no record.
	s.lastW = growInt64s(s.lastW, &s.maps[0], n)
	s.firstG = growInt64s(s.firstG, &s.maps[1], n)
	s.lastG = growInt64s(s.lastG, &s.maps[2], n)
}

// release frees lastW and lastG, which only loading needs: after it, a
// state is its firstG (2M users: 32 MB a category less).
func (s *consentState) release() {
	for _, k := range []int{0, 2} {
		if s.maps != nil && s.maps[k] != nil {
			unmap(s.maps[k])
			s.maps[k] = nil
		}
	}
	s.lastW, s.lastG = nil, nil
}

// users returns firstG up to the last user interned: the arrays are
// sized for more users than the export may hold, and their pages beyond
// are better left untouched.
func (s *consentState) users(x *UserIndex) []int64 {
	return s.firstG[:min(len(s.firstG), x.Len())]
}

// since returns user u's firstG (noGrant if none).
func (s *consentState) since(u int) int64 { return s.firstG[u] ^ gKey }

// add applies one record. Every field is order-independent (a maximum, a
// minimum over a final lastW) except firstG when a withdrawal arrives after
// grants later than it: replay marks that case.
func (s *consentState) add(u uint32, at int64, haveAt, granted bool, asOf int64) {
	if int(u) >= len(s.lastW) {
		s.grow(u)
	}
	if !haveAt {
		at, granted = math.MaxInt64, false
	}
	lastW := s.lastW[u] ^ wKey
	if !granted {
		if at <= lastW {
			return
		}
		s.lastW[u] = at ^ wKey
		if s.firstG[u]^gKey <= at { // the current grant is revoked
			s.firstG[u] = noGrant ^ gKey
			if s.lastG[u]^wKey > at { // a later grant exists; which is earliest is unknown here
				s.replay = true
			}
		}
		return
	}
	if at > asOf { // a grant dated in the future does not count yet
		return
	}
	if at > s.lastG[u]^wKey {
		s.lastG[u] = at ^ wKey
	}
	if at > lastW && at < s.firstG[u]^gKey {
		s.firstG[u] = at ^ gKey
	}
}

// regrant is add's replay: with lastW final, only the earliest counted
// grant after it is sought.
func (s *consentState) regrant(u uint32, at int64, haveAt, granted bool, asOf int64) {
	if haveAt && granted && at <= asOf && int(u) < len(s.lastW) && at > s.lastW[u]^wKey && at < s.firstG[u]^gKey {
		s.firstG[u] = at ^ gKey
	}
}

// LoadConsent reads consent exports (files, directories or globs) and
// returns the consent state as of asOf, the time of the run. User ids are
// interned in users, the same index the event reader uses, so that
// Grants(c).Allowed(user) can be asked with the ids events carry. Errors
// are *InputError naming the file and column.
func LoadConsent(paths []string, users *UserIndex, asOf time.Time, cols ConsentColumns) (*Consent, error) {
	in, err := FileInputs(paths)
	if err != nil {
		return nil, fmt.Errorf("consent: %w", err)
	}
	return LoadConsentFrom(in, users, asOf, cols)
}

// LoadConsentFrom is LoadConsent over Inputs (e.g. an embedded sample).
func LoadConsentFrom(inputs []Input, users *UserIndex, asOf time.Time, cols ConsentColumns) (*Consent, error) {
	if users == nil {
		return nil, errors.New("load consent: nil UserIndex")
	}
	if asOf.IsZero() {
		return nil, errors.New("load consent: the instant is the zero time; consent must be evaluated as of the run")
	}
	if len(inputs) == 0 {
		return nil, fmt.Errorf("consent: %w: no consent inputs", ErrInputMissing)
	}
	c := &Consent{asOf: asOf, users: users, cats: make(map[string]*consentState), pool: newBufPool()}
	defer func() { c.pool = nil }()
	cols = cols.withDefaults()
	for _, in := range inputs {
		if err := c.load(in, cols, nil); err != nil {
			return nil, fmt.Errorf("consent: %w", err)
		}
	}
	// Rare (a history of grant, withdrawal and grant again, whose records
	// are not in time order): read the grants of the categories concerned
	// again, now that every user's last withdrawal is known.
	replay := map[string]*consentState{}
	for name, st := range c.cats {
		if st.replay {
			clear(st.users(c.users)) // noGrant
			replay[name] = st
		}
	}
	if len(replay) > 0 {
		for _, in := range inputs {
			if err := c.load(in, cols, replay); err != nil {
				return nil, fmt.Errorf("consent: %w", err)
			}
		}
	}
	for _, st := range c.cats {
		st.release()
	}
	return c, nil
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

// Grants returns the users whose consent to category is granted as of
// AsOf: GrantsDuring(category, AsOf(), AsOf()), where every grant is whole.
// An unknown category grants nothing.
func (c *Consent) Grants(category string) Grants {
	return c.GrantsDuring(category, c.asOf, c.asOf)
}

// GrantsDuring returns the grants of category for the events of the period
// [start, end): users granted at or before start may count every event of
// the period (Grants.Allowed); users whose current grant began during it
// may count only their events from that instant on (Grants.AllowedAt,
// Grants.From); users granted at or after end, none. An unknown category
// grants nothing.
func (c *Consent) GrantsDuring(category string, start, end time.Time) Grants {
	st := c.cats[category]
	if st == nil {
		return Grants{}
	}
	from, to := start.UnixNano(), end.UnixNano()
	firstG := st.users(c.users)
	words := (len(firstG) + 63) / 64
	g := Grants{bits: make([]uint64, words)}
	for u := range firstG {
		switch since := st.since(u); {
		case since == noGrant:
		case since <= from:
			g.bits[u>>6] |= 1 << (u & 63)
		case since < to:
			if g.partial == nil {
				g.partial = make([]uint64, words)
				g.since = map[uint32]int64{}
			}
			g.partial[u>>6] |= 1 << (u & 63)
			g.since[uint32(u)] = since
			g.npartial++
		}
	}
	return g
}

// Grants is the set of users who granted one consent category, for a run's
// events (see Consent.GrantsDuring): bitsets over UserIndex numbers, and the
// instant from which each user whose grant began during the period may
// count. The zero value grants nothing.
type Grants struct {
	bits    []uint64 // every event of the period may count
	partial []uint64 // only events from since[user] on may count
	// since is the instant from which each partial user's events count
	// (unix nanos); nil if no user is partial. A map: few users begin a
	// grant during one period, and a dense slice would cost 8 bytes for
	// every user of the export.
	since    map[uint32]int64
	npartial int
}

// Allowed reports, in O(1), whether every event of user (a UserIndex
// number) in the period may count. Users never seen in the consent export
// are not allowed.
func (g Grants) Allowed(user uint32) bool {
	w := int(user >> 6)
	return w < len(g.bits) && g.bits[w]&(1<<(user&63)) != 0
}

// AllowedAt reports whether user's event at t (unix nanos) may count: the
// user is granted, and was already at t. O(1).
func (g Grants) AllowedAt(user uint32, t int64) bool {
	w, bit := int(user>>6), uint64(1)<<(user&63)
	if w < len(g.bits) && g.bits[w]&bit != 0 {
		return true
	}
	if w >= len(g.partial) || g.partial[w]&bit == 0 {
		return false
	}
	return t >= g.since[user]
}

// From returns the instant (unix nanos) from which user's events may count,
// and false if none may: math.MinInt64 for a user granted for the whole
// period. A caller that meets the same user many times in a row (rows
// sorted by user) asks once for all of them.
func (g Grants) From(user uint32) (int64, bool) {
	w, bit := int(user>>6), uint64(1)<<(user&63)
	if w < len(g.bits) && g.bits[w]&bit != 0 {
		return math.MinInt64, true
	}
	if w >= len(g.partial) || g.partial[w]&bit == 0 {
		return 0, false
	}
	return g.since[user], true
}

// Partial reports whether some user's grant began during the period the
// Grants were built for: only then does AllowedAt depend on t.
func (g Grants) Partial() bool { return g.npartial > 0 }

// Count returns the number of users whose grant covers some of the period
// (for Grants, all users granted at the run). It is an exact count over
// private data: not for reports or logs.
func (g Grants) Count() int {
	n := g.npartial
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
		if b.Len() > 0 && b.NullN() != b.Len() && (len(b.Data().Buffers()) < 2 || b.Data().Buffers()[1] == nil) {
			return boolColumn{}, fmt.Errorf("%w: boolean values missing", ErrCorrupt)
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
