package reports

import "math"

// capsCutText says, for index.html, how much the per-user caps (contribution
// bounds) cut from metric m, from the DP estimate the report carries
// (Metric.CapsCut): one sentence with its intervals, shown next to the
// metric's bounds and in "What an interval covers". It is "" when the
// report has no such estimate.
func capsCutText(m *Metric) string {
	c := m.CapsCut
	if c == nil {
		return ""
	}
	return fmtPct(c.Share) + " (" + fmtPct(c.ShareLower) + " – " + fmtPct(c.ShareUpper) + ") of the about " +
		fmtInt(c.Contributing) + " users who contributed gave more than the per-user caps let through (about " +
		fmtInt(c.Users) + " users, " + fmtInt(math.Max(0, c.UsersLower)) + " – " + fmtInt(c.UsersUpper) +
		"); the rest of their contributions is not counted."
}
