package datasets

// AppendNames appends to names the ids of the users numbered len(names) to
// Len()-1, in number order, and returns the extended slice: a reader whose
// users are interned per file (a distributed engine reading one file per
// worker) needs each number's id back to join users across files. Integer
// ids come back in their canonical decimal form. It walks the whole table
// once per call: call it once per batch at most, when Len() grew.
func (x *UserIndex) AppendNames(names []string) []string {
	from := len(names)
	if from >= x.Len() {
		return names
	}
	out := append(names, make([]string, x.Len()-from)...)
	t := x.byString
	for i := range t.slots {
		sl := &t.slots[i]
		if sl.klen != 0 && int(sl.id) >= from {
			out[sl.id] = t.keyOf(sl)
		}
	}
	return out
}
