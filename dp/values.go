package dp

import "math"

// valueStore holds the sampled, clamped values of mean and quantiles
// metrics, in the narrowest of three exact representations:
//
//   - w16: v − lower as a uint16, while lower is a whole number, upper −
//     lower ≤ 65535 and every value stored so far is a whole number (the
//     event reader hands over int64 columns, so a duration in seconds
//     between 0 and 14400 stays here: 2 bytes a value);
//   - w32: a float32, while every value stored so far is exactly one (see
//     exact32);
//   - w64: a float64.
//
// The first value that the current representation cannot hold exactly
// moves every value to a wider one, for good (widen). Either way get
// returns exactly the float64 that set was given: nothing is rounded, so
// the values handed to the library, and with them the sensitivity
// argument (every value was clamped to [lower, upper] before it was
// stored), are those of a float64 store.
type valueStore struct {
	lower float64
	width uint8 // w16, w32 or w64
	v16   []uint16
	v32   []float32
	v64   []float64
}

const (
	w16 = 16
	w32 = 32
	w64 = 64
)

// fits16 reports whether [lower, upper] starts the store at w16: lower is
// a whole number (so lower + a uint16 is exact) and the range has at most
// 65536 whole numbers.
func fits16(lower, upper float64) bool {
	return lower == math.Trunc(lower) && math.Abs(lower) < 1<<52 && upper-lower <= math.MaxUint16
}

func newValueStore(lower, upper float64) valueStore {
	s := valueStore{lower: lower, width: w64}
	switch {
	case fits16(lower, upper):
		s.width = w16
	case exact32(lower, upper):
		s.width = w32
	}
	return s
}

// len is the number of value cells.
func (s *valueStore) len() int {
	switch s.width {
	case w16:
		return len(s.v16)
	case w32:
		return len(s.v32)
	}
	return len(s.v64)
}

// grow makes the store n cells long (new cells are zero).
func (s *valueStore) grow(m *mappings, n int) {
	switch s.width {
	case w16:
		s.v16 = growSlice(m, s.v16, max(n, len(s.v16)))
	case w32:
		s.v32 = growSlice(m, s.v32, max(n, len(s.v32)))
	default:
		s.v64 = growSlice(m, s.v64, max(n, len(s.v64)))
	}
}

// maxReserve is the most bytes of address space reserve takes.
const maxReserve = 1 << 30

// reserve makes room for n cells without changing the length, in a memory
// map only (where the room costs nothing until it is written), and only up
// to maxReserve bytes: growing up to n then copies nothing. Without a
// memory map, or for more, it does nothing: the store grows as cells are
// handed out. Cells are written in order, so those past the length are
// still zero.
func (s *valueStore) reserve(m *mappings, n int) {
	switch s.width {
	case w16:
		s.v16 = reserveMapped(m, s.v16, n, maxReserve)
	case w32:
		s.v32 = reserveMapped(m, s.v32, n, maxReserve)
	default:
		s.v64 = reserveMapped(m, s.v64, n, maxReserve)
	}
}

// set stores x (already clamped to [lower, upper]) in cell i, widening the
// store first if it cannot hold x exactly.
func (s *valueStore) set(m *mappings, i int, x float64) {
	if s.width == w16 {
		if d := x - s.lower; d >= 0 && d <= math.MaxUint16 {
			// in range: the conversion is defined; exact if x is lower
			// plus a whole number
			if u := uint16(d); float64(u) == d && float64(u)+s.lower == x {
				s.v16[i] = u
				return
			}
		}
		s.widen(m, x)
	}
	if s.width == w32 {
		if float64(float32(x)) == x {
			s.v32[i] = float32(x)
			return
		}
		s.widen(m, x)
	}
	s.v64[i] = x
}

// get returns cell i's value.
func (s *valueStore) get(i int) float64 {
	switch s.width {
	case w16:
		return float64(s.v16[i]) + s.lower
	case w32:
		return float64(s.v32[i])
	}
	return s.v64[i]
}

// widen moves every cell to the narrowest wider representation that holds
// x exactly, for good.
func (s *valueStore) widen(m *mappings, x float64) {
	n := s.len()
	to := w64
	if s.width == w16 && float64(float32(x)) == x && exact32(s.lower, s.lower+math.MaxUint16) {
		to = w32 // every w16 cell is a whole number of magnitude < 2²⁴
	}
	switch to {
	case w32:
		s.v32 = growSlice(m, s.v32, n)
		for i := range n {
			s.v32[i] = float32(s.get(i))
		}
	default:
		s.v64 = growSlice(m, s.v64, n)
		for i := range n {
			s.v64[i] = s.get(i)
		}
	}
	switch s.width {
	case w16:
		m.release(s.v16)
		s.v16 = nil
	case w32:
		m.release(s.v32)
		s.v32 = nil
	}
	s.width = uint8(to)
}

// copyCells copies k cells from o (starting at src) to s (at dst), making
// both stores the same width first.
func (s *valueStore) copyCells(m, om *mappings, o *valueStore, dst, src, k int) {
	for s.width != o.width {
		if s.width < o.width {
			s.widenTo(m, o.width)
		} else {
			o.widenTo(om, s.width)
		}
	}
	switch s.width {
	case w16:
		copy(s.v16[dst:dst+k], o.v16[src:src+k])
	case w32:
		copy(s.v32[dst:dst+k], o.v32[src:src+k])
	default:
		copy(s.v64[dst:dst+k], o.v64[src:src+k])
	}
}

// widenTo widens the store to at least width w.
func (s *valueStore) widenTo(m *mappings, w uint8) {
	for s.width < w {
		// widen with a value only the target (or a wider) width holds
		switch {
		case w == w32 && s.width == w16:
			s.widen(m, 0.5)
		default:
			s.widen(m, math.Pi)
		}
	}
}
