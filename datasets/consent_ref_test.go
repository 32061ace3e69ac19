package datasets

// The consent loader as it was before it was pipelined (commit 5740511),
// kept verbatim but for its names as the reference the new one must agree
// with exactly: same user numbering, same grants.

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"
)

type refConsent struct {
	asOf  time.Time
	users *UserIndex
	cats  map[string]*refState
	pool  *bufPool
}

// refState is one category's state, per user (UserIndex number).
type refState struct {
	lastW  []int64 // latest withdrawal (refNoEarlier: none; math.MaxInt64: null time)
	firstG []int64 // earliest counted grant after lastW (refNoGrant: none)
	lastG  []int64 // latest counted grant (refNoEarlier: none)
	// replay: a withdrawal arrived that revoked firstG while a later grant
	// was known, but not which grant after it is the earliest: the
	// category's grants are read again once lastW is final.
	replay bool
	// maps are the memory maps behind lastW, firstG and lastG (nil: on
	// the heap; see growInt64s), unmapped when the state is garbage.
	maps *[3][]byte
}

const (
	refNoEarlier = math.MinInt64 // lastW, lastG: no such record
	refNoGrant   = math.MaxInt64 // firstG: not granted
)

func (s *refState) grow(u uint32) {
	if int(u) < len(s.lastW) {
		return
	}
	n := max(int(u)+1, 2*len(s.lastW))
	old := len(s.lastW)
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
	s.lastW = growInt64s(s.lastW, &s.maps[0], n)
	s.firstG = growInt64s(s.firstG, &s.maps[1], n)
	s.lastG = growInt64s(s.lastG, &s.maps[2], n)
	for i := old; i < n; i++ {
		s.lastW[i], s.firstG[i], s.lastG[i] = refNoEarlier, refNoGrant, refNoEarlier
	}
}

// add applies one record. Every field is order-independent (a maximum, a
// minimum over a final lastW) except firstG when a withdrawal arrives after
// grants later than it: replay marks that case.
func (s *refState) add(u uint32, at int64, haveAt, granted bool, asOf int64) {
	s.grow(u)
	if !haveAt {
		at, granted = math.MaxInt64, false
	}
	if !granted {
		if at <= s.lastW[u] {
			return
		}
		s.lastW[u] = at
		if s.firstG[u] <= at { // the current grant is revoked
			s.firstG[u] = refNoGrant
			if s.lastG[u] > at { // a later grant exists; which is earliest is unknown here
				s.replay = true
			}
		}
		return
	}
	if at > asOf { // a grant dated in the future does not count yet
		return
	}
	if at > s.lastG[u] {
		s.lastG[u] = at
	}
	if at > s.lastW[u] && at < s.firstG[u] {
		s.firstG[u] = at
	}
}

// LoadConsentFrom is LoadConsent over Inputs (e.g. an embedded sample).
func refLoadConsentFrom(inputs []Input, users *UserIndex, asOf time.Time, cols ConsentColumns) (*refConsent, error) {
	if users == nil {
		return nil, errors.New("load consent: nil UserIndex")
	}
	if asOf.IsZero() {
		return nil, errors.New("load consent: the instant is the zero time; consent must be evaluated as of the run")
	}
	if len(inputs) == 0 {
		return nil, fmt.Errorf("consent: %w: no consent inputs", ErrInputMissing)
	}
	c := &refConsent{asOf: asOf, users: users, cats: make(map[string]*refState), pool: newBufPool()}
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
	replay := map[string]*refState{}
	for name, st := range c.cats {
		if st.replay {
			for u := range st.firstG {
				st.firstG[u] = refNoGrant
			}
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
	return c, nil
}

// load reads one export into c. With replay set, it only sets firstG from
// the grants of the categories in replay, whose lastW are final.
func (c *refConsent) load(in Input, cols ConsentColumns, replay map[string]*refState) error {
	sc, err := in.open(ScanOptions{Columns: []string{cols.User, cols.Category, cols.Granted, cols.UpdatedAt}, pool: c.pool})
	if err != nil {
		return err
	}
	if rows := sc.footerRows(); replay == nil && rows > 0 {
		// A consent export holds a record or more per user and category:
		// sizing the user index for half its rows up front saves moving
		// every key at each doubling (2M users: 0.2 s of 1 s).
		c.users.reserve(c.users.Len() + int(min(rows/2, 1<<30)))
	}
	// Decode the next batch on a goroutine of its own while this one
	// interns and applies the current one.
	s := newReadAhead(sc)
	defer s.Close()
	users := c.users
	asOf := c.asOf.UnixNano()
	var (
		lastName string
		last     *refState
		rowBuf   []int32
		uidBuf   []uint32
		strBuf   []string
	)
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
		// The rows with a category and a user, and their users: plain
		// string ids are interned a batch at a time (internStrings, as the
		// events' are), in row order, so users are numbered as one at a
		// time would number them.
		n := int(rec.NumRows())
		rows, uids := rowBuf[:0], uidBuf[:0]
		if ids.plainStrings() {
			strs := strBuf[:0]
			for i := 0; i < n; i++ {
				if cat.IsNull(i) || ids.str.IsNull(i) {
					continue
				}
				if v := ids.str.Value(i); v != "" {
					strs = append(strs, v)
					rows = append(rows, int32(i))
				}
			}
			uids = resize(uids, len(strs))
			users.internStrings(strs, uids)
			clear(strs) // they point into the record's buffers
			strBuf = strs[:0]
		} else {
			for i := 0; i < n; i++ {
				if cat.IsNull(i) {
					continue
				}
				if u, ok := ids.id(users, i); ok {
					rows = append(rows, int32(i))
					uids = append(uids, u)
				}
			}
		}
		rowBuf, uidBuf = rows, uids
		for k, row := range rows {
			i, u := int(row), uids[k]
			haveAt := !at.IsNull(i)
			t := at.Value(i)
			g := granted.granted(i)
			name := cat.Value(i)
			if last == nil || name != lastName {
				if replay != nil {
					last = replay[name]
				} else if last = c.cats[name]; last == nil {
					last = &refState{}
					c.cats[strings.Clone(name)] = last
				}
				lastName = name
			}
			if last == nil {
				continue // replaying other categories
			}
			if replay == nil {
				last.add(u, t, haveAt, g, asOf)
				continue
			}
			if haveAt && g && t <= asOf && int(u) < len(last.lastW) && t > last.lastW[u] && t < last.firstG[u] {
				last.firstG[u] = t
			}
		}
		lastName, last = "", nil // name points into the record's buffers
	}
	return s.Err()
}

// GrantsDuring returns the grants of category for the events of the period
// [start, end): users granted at or before start may count every event of
// the period (Grants.Allowed); users whose current grant began during it
// may count only their events from that instant on (Grants.AllowedAt,
// Grants.From); users granted at or after end, none. An unknown category
// grants nothing.
func (c *refConsent) GrantsDuring(category string, start, end time.Time) Grants {
	st := c.cats[category]
	if st == nil {
		return Grants{}
	}
	from, to := start.UnixNano(), end.UnixNano()
	words := (len(st.firstG) + 63) / 64
	g := Grants{bits: make([]uint64, words)}
	for u, since := range st.firstG {
		switch {
		case since == refNoGrant:
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
