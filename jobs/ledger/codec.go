package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"time"
	"unicode/utf8"
)

// validate checks an entry about to be appended. e.Time must be set.
func validate(e Entry) error {
	switch {
	case e.Job == "" || !utf8.ValidString(e.Job):
		return fmt.Errorf("job must be a non-empty UTF-8 string, got %q", e.Job)
	case e.Period == "" || !utf8.ValidString(e.Period):
		return fmt.Errorf("period must be a non-empty UTF-8 string, got %q", e.Period)
	case !utf8.ValidString(e.RunID):
		return fmt.Errorf("run id must be UTF-8, got %q", e.RunID)
	case !(e.Epsilon >= 0) || isInf(e.Epsilon):
		return fmt.Errorf("epsilon must be finite and ≥ 0, got %v", e.Epsilon)
	case !(e.Rho >= 0) || isInf(e.Rho):
		return fmt.Errorf("rho must be finite and ≥ 0, got %v", e.Rho)
	case e.Rho > 0 && e.Epsilon != 0:
		return fmt.Errorf("a release spends epsilon (pure) or rho (zCDP), not both: got epsilon %v and rho %v", e.Epsilon, e.Rho)
	case !(e.Delta >= 0 && e.Delta <= 1):
		return fmt.Errorf("delta must be in [0, 1], got %v", e.Delta)
	case e.Time.Year() < 1 || e.Time.Year() > 9999:
		return fmt.Errorf("time must be in years 1 to 9999, got %v", e.Time)
	case !utf8.ValidString(e.Engine):
		return fmt.Errorf("engine must be UTF-8, got %q", e.Engine)
	case e.Outcome && (e.Epsilon != 0 || e.Rho != 0 || e.Delta != 0):
		return fmt.Errorf("an outcome record charges nothing, got epsilon %v, rho %v, delta %v", e.Epsilon, e.Rho, e.Delta)
	case e.Outcome && e.Submitted:
		return errors.New("a record is a submitted spend or an outcome, not both")
	}
	for _, m := range e.Metrics {
		if !utf8.ValidString(m) {
			return fmt.Errorf("metric name must be UTF-8, got %q", m)
		}
	}
	return nil
}

// appendRecord appends e as one ledger line, newline included, to buf. Keys
// come in a fixed order, floats are printed exactly ('g', -1) and the time is
// RFC 3339 in UTC.
func appendRecord(buf []byte, e Entry) []byte {
	buf = append(buf, `{"time":`...)
	buf = appendString(buf, e.Time.UTC().Format(time.RFC3339Nano))
	buf = append(buf, `,"job":`...)
	buf = appendString(buf, e.Job)
	buf = append(buf, `,"period":`...)
	buf = appendString(buf, e.Period)
	if e.Rho > 0 {
		buf = append(buf, `,"rho":`...)
		buf = strconv.AppendFloat(buf, e.Rho, 'g', -1, 64)
	} else {
		buf = append(buf, `,"epsilon":`...)
		buf = strconv.AppendFloat(buf, e.Epsilon+0, 'g', -1, 64) // +0 turns -0 into 0
	}
	buf = append(buf, `,"delta":`...)
	buf = strconv.AppendFloat(buf, e.Delta+0, 'g', -1, 64)
	buf = append(buf, `,"run_id":`...)
	buf = appendString(buf, e.RunID)
	buf = append(buf, `,"rerun":`...)
	buf = strconv.AppendBool(buf, e.Rerun)
	if e.Withheld {
		buf = append(buf, `,"withheld":true`...)
	}
	if e.Engine != "" {
		buf = append(buf, `,"engine":`...)
		buf = appendString(buf, e.Engine)
	}
	if e.Submitted {
		buf = append(buf, `,"submitted":true`...)
	}
	if e.Outcome {
		buf = append(buf, `,"outcome":true`...)
	}
	buf = append(buf, `,"metrics":[`...)
	for i, m := range e.Metrics {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, m)
	}
	return append(buf, "]}\n"...)
}

// appendString appends s as a JSON string without HTML escaping, so that
// names stay readable.
func appendString(buf []byte, s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return append(buf, bytes.TrimSuffix(b.Bytes(), []byte("\n"))...)
}

// record is the on-disk form. Pointers tell missing fields from zero ones.
type record struct {
	Time      *string      `json:"time"`
	Job       *string      `json:"job"`
	Period    *string      `json:"period"`
	Epsilon   *json.Number `json:"epsilon"`
	Rho       *json.Number `json:"rho"`
	Delta     *json.Number `json:"delta"`
	RunID     *string      `json:"run_id"`
	Rerun     *bool        `json:"rerun"`
	Withheld  *bool        `json:"withheld"`
	Engine    *string      `json:"engine"`
	Submitted *bool        `json:"submitted"`
	Outcome   *bool        `json:"outcome"`
	Metrics   []string     `json:"metrics"`
}

// decodeRecord parses one complete ledger line strictly: known keys only,
// required keys present, valid values, nothing after the object.
func decodeRecord(line []byte) (Entry, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var r record
	if err := dec.Decode(&r); err != nil {
		return Entry{}, err
	}
	if rest := bytes.TrimSpace(line[dec.InputOffset():]); len(rest) > 0 {
		return Entry{}, errors.New("data after the record")
	}
	var e Entry
	var err error
	switch {
	case r.Time == nil:
		return Entry{}, errors.New(`missing "time"`)
	case r.Job == nil || *r.Job == "":
		return Entry{}, errors.New(`missing "job"`)
	case r.Period == nil || *r.Period == "":
		return Entry{}, errors.New(`missing "period"`)
	case r.Epsilon == nil && r.Rho == nil:
		return Entry{}, errors.New(`missing "epsilon"`)
	case r.Epsilon != nil && r.Rho != nil:
		return Entry{}, errors.New(`both "epsilon" and "rho": a release spends one or the other`)
	case r.Delta == nil:
		return Entry{}, errors.New(`missing "delta"`)
	}
	if e.Time, err = parseTime(*r.Time); err != nil {
		return Entry{}, err
	}
	if r.Rho != nil {
		if e.Rho, err = parseRho(string(*r.Rho)); err != nil {
			return Entry{}, err
		}
	} else if e.Epsilon, err = parseEpsilon(string(*r.Epsilon)); err != nil {
		return Entry{}, err
	}
	if e.Delta, err = parseDelta(string(*r.Delta)); err != nil {
		return Entry{}, err
	}
	e.Job, e.Period, e.Metrics = *r.Job, *r.Period, r.Metrics
	if r.RunID != nil {
		e.RunID = *r.RunID
	}
	if r.Rerun != nil {
		e.Rerun = *r.Rerun
	}
	if r.Withheld != nil {
		e.Withheld = *r.Withheld
	}
	if r.Engine != nil {
		e.Engine = *r.Engine
	}
	if r.Submitted != nil {
		e.Submitted = *r.Submitted
	}
	if r.Outcome != nil {
		e.Outcome = *r.Outcome
	}
	return e, nil
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad time %q: want RFC 3339", s)
	}
	return t.UTC(), nil
}

func parseEpsilon(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f >= 0) || isInf(f) {
		return 0, fmt.Errorf("bad epsilon %s: want a finite number ≥ 0", s)
	}
	return f + 0, nil
}

func parseRho(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0) || isInf(f) {
		return 0, fmt.Errorf("bad rho %s: want a finite number > 0", s)
	}
	return f, nil
}

func parseDelta(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f >= 0 && f <= 1) {
		return 0, fmt.Errorf("bad delta %s: want a number in [0, 1]", s)
	}
	return f + 0, nil
}

// tornFragment reports whether line can be what a crash during Append left
// behind: a non-empty strict prefix of a JSON object, possibly followed by NUL
// bytes (a file extended but never written).
func tornFragment(line []byte) bool {
	if len(line) == 0 {
		return false
	}
	p := bytes.TrimRight(line, "\x00")
	if len(p) == 0 {
		return true
	}
	if p[0] != '{' {
		return false
	}
	var v json.RawMessage
	return errors.Is(json.NewDecoder(bytes.NewReader(p)).Decode(&v), io.ErrUnexpectedEOF)
}

// salvage reads what was completely written of a torn record. Fields that
// were not are left at their "unknown" values: ε and δ +Inf, zero Time, empty
// job and period.
func salvage(line []byte) Entry {
	e := Entry{Torn: true, Epsilon: math.Inf(1), Delta: math.Inf(1)}
	p := bytes.TrimRight(line, "\x00")
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return e
	}
	// complete reports whether the value just read is followed by its
	// delimiter, which proves it was not cut.
	complete := func() bool {
		rest := bytes.TrimLeft(p[dec.InputOffset():], " \t\r\n")
		return len(rest) > 0 && (rest[0] == ',' || rest[0] == '}')
	}
	for {
		k, err := dec.Token()
		key, ok := k.(string)
		if err != nil || !ok {
			return e
		}
		v, err := dec.Token()
		if err != nil || !complete() {
			return e
		}
		switch v := v.(type) {
		case json.Delim:
			return e // metrics come last; nothing after them matters
		case string:
			switch key {
			case "time":
				if t, err := parseTime(v); err == nil {
					e.Time = t
				}
			case "job":
				e.Job = v
			case "period":
				e.Period = v
			case "run_id":
				e.RunID = v
			case "engine":
				e.Engine = v
			}
		case json.Number:
			switch key {
			case "epsilon":
				if f, err := parseEpsilon(string(v)); err == nil {
					e.Epsilon = f
				}
			case "rho":
				if f, err := parseRho(string(v)); err == nil {
					e.Rho, e.Epsilon = f, 0
				}
			case "delta":
				if f, err := parseDelta(string(v)); err == nil {
					e.Delta = f
				}
			}
		case bool:
			switch key {
			case "rerun":
				e.Rerun = v
			case "withheld":
				e.Withheld = v
			case "submitted":
				e.Submitted = v
			case "outcome":
				e.Outcome = v
			}
		}
	}
}

// parse reads a whole ledger. mtime is the file's modification time, used as
// the time of a torn final record whose time was not salvaged.
func parse(data []byte, mtime time.Time, path string) ([]Entry, error) {
	var entries []Entry
	for n := 1; len(data) > 0; n++ {
		line, rest, whole := bytes.Cut(data, []byte("\n"))
		data = rest
		e, err := decodeRecord(line)
		switch {
		case err == nil:
			e.Torn = !whole
		case tornFragment(line):
			e = salvage(line)
		default:
			msg := err.Error()
			if len(bytes.TrimSpace(line)) == 0 {
				msg = "empty line"
			}
			return nil, &CorruptError{Path: path, Line: n, Msg: msg}
		}
		e.Line = n
		entries = append(entries, e)
	}
	// A torn record without a time is charged at the latest time of the
	// records written after it, or the file's modification time if it is
	// last: never earlier than the crash that tore it.
	later := mtime.UTC()
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].Time.IsZero() {
			entries[i].Time = later
		}
		if i == len(entries)-1 || entries[i].Time.After(later) {
			later = entries[i].Time
		}
	}
	return entries, nil
}

func isInf(f float64) bool { return math.IsInf(f, 0) || math.IsNaN(f) }

// decimal returns f as the exact rational number its shortest decimal text
// denotes, which is the number written in the ledger.
func decimal(f float64) *big.Rat {
	r, ok := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
	if !ok { // cannot happen for finite f
		return new(big.Rat)
	}
	return r
}

// floorFloat returns the largest float64 whose decimal text is ≤ r, so that
// a suggested budget never crosses the cap because of rounding.
func floorFloat(r *big.Rat) float64 {
	if r.Sign() <= 0 {
		return 0
	}
	f, _ := r.Float64()
	for f > 0 && decimal(f).Cmp(r) > 0 {
		f = math.Nextafter(f, 0)
	}
	return f
}

// sum adds ε and δ exactly; ok is false if any entry's spend is unknown.
// It also keeps what zero-concentrated accounting needs (zcdp.go): ρ of the
// zCDP entries, ε²/2 of the pure ones, and how many zCDP entries there are.
type sum struct {
	eps, delta *big.Rat
	unknown    int
	rho        *big.Rat // Σ ρ of zCDP entries
	epsSq      *big.Rat // Σ ε²/2 of pure entries
	zcdp       int      // number of zCDP entries
}

func newSum() sum {
	return sum{eps: new(big.Rat), delta: new(big.Rat), rho: new(big.Rat), epsSq: new(big.Rat)}
}

// clone returns an independent copy of s.
func (s sum) clone() sum {
	c := newSum()
	c.eps.Set(s.eps)
	c.delta.Set(s.delta)
	c.rho.Set(s.rho)
	c.epsSq.Set(s.epsSq)
	c.unknown, c.zcdp = s.unknown, s.zcdp
	return c
}

func (s *sum) add(e Entry) { s.addSign(e, 1) }

func (s *sum) sub(e Entry) { s.addSign(e, -1) }

func (s *sum) addSign(e Entry, sign int) {
	if e.Unknown() || isInf(e.Epsilon) || isInf(e.Delta) || isInf(e.Rho) {
		s.unknown += sign
		return
	}
	op := (*big.Rat).Add
	if sign < 0 {
		op = (*big.Rat).Sub
	}
	op(s.delta, s.delta, decimal(e.Delta))
	if e.ZCDP() {
		op(s.rho, s.rho, decimal(e.Rho))
		s.zcdp += sign
		return
	}
	d := decimal(e.Epsilon)
	op(s.eps, s.eps, d)
	sq := new(big.Rat).Mul(d, d)
	op(s.epsSq, s.epsSq, sq.Quo(sq, big.NewRat(2, 1)))
}

// floats returns the sums as float64, +Inf if any spend is unknown. ε is
// the sum over pure entries only: with zCDP entries in s it is +Inf too
// (there is no sum of ε to give; see guarantee).
func (s sum) floats() (eps, delta float64) {
	if s.unknown > 0 {
		return math.Inf(1), math.Inf(1)
	}
	eps, _ = s.eps.Float64()
	delta, _ = s.delta.Float64()
	if s.zcdp > 0 {
		eps = math.Inf(1)
	}
	return eps, delta
}

// inWindow reports whether an entry recorded at t counts at now: the window
// is (now-window, ∞), so entries dated in the future (a clock stepped back)
// are counted too.
func inWindow(t, now time.Time, window time.Duration) bool {
	return t.After(now.Add(-window))
}

func spent(entries []Entry, now time.Time, window time.Duration) sum {
	s := newSum()
	for _, e := range entries {
		if inWindow(e.Time, now, window) {
			s.add(e)
		}
	}
	return s
}
