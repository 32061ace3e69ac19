package reports

// capsCutText says, for index.html, how much the per-user caps (contribution
// bounds and clamping) cut from metric m: the place where a DP estimate of
// that cut is shown. It is "" while Metric carries no such estimate; when it
// does, format it here (one sentence, with its interval) and the report shows
// it next to the metric's bounds and in "What an interval covers".
func capsCutText(m *Metric) string {
	return ""
}
