package datasets

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// GenOptions configures Generate. The zero value of every optional field
// has a documented default.
type GenOptions struct {
	// Rows is the number of events to write. Required, ≥ 0.
	Rows int
	// Users is the number of distinct accounts. Required, ≥ 1.
	Users int
	// Days is the number of UTC days the events span, starting at Start.
	// Default 1.
	Days int
	// Start is the first UTC day (truncated to midnight UTC).
	// Default 2026-11-01.
	Start time.Time
	// Seed makes the output deterministic: the same options give the same
	// rows, byte for byte, for a given arrow-go version.
	Seed int64
	// Format of both exports: FormatParquet (default, also for the zero
	// value FormatUnknown) or
	// FormatArrowFile (Arrow IPC file). FormatArrowStream writes Arrow IPC
	// streams.
	Format Format
	// IntUserIDs writes user_id as int64 (u+1) instead of strings like
	// "u0000123".
	IntUserIDs bool
	// PlainStrings writes the categorical columns as plain strings instead of
	// dictionary-encoded ones.
	PlainStrings bool
	// NullUsers is the fraction of events whose user_id is null (broken
	// clients do that in real exports). Default 0; must be in [0, 1).
	NullUsers float64
	// BatchRows is the number of rows per record batch / row group.
	// Default 1<<18 (262,144).
	BatchRows int
	// MediaTypeWeights are the relative weights of the media types movie,
	// episode, track, photo and clip: five non-negative numbers with a
	// positive sum. Default 0.30, 0.45, 0.13, 0.05, 0.07. Codecs,
	// resolutions, bitrates and durations follow the media type, so
	// changing the mix changes them too (the demo uses it for a weekly
	// pattern: more movies on Friday and Saturday).
	MediaTypeWeights []float64
}

// DefaultMediaTypeWeights are the media type weights Generate uses by
// default: movie, episode, track, photo, clip.
var DefaultMediaTypeWeights = []float64{0.30, 0.45, 0.13, 0.05, 0.07}

// DefaultGenStart is the first day Generate uses when GenOptions.Start is zero.
var DefaultGenStart = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// Consent categories written by the generator.
const (
	CategoryPlayback = "playback_stats"
	CategoryProduct  = "product_usage"
)

const defaultBatchRows = 1 << 18

func (opt GenOptions) withDefaults() (GenOptions, error) {
	if opt.Rows < 0 {
		return opt, fmt.Errorf("Rows = %d, must be ≥ 0", opt.Rows)
	}
	if opt.Users < 1 {
		return opt, fmt.Errorf("Users = %d, must be ≥ 1", opt.Users)
	}
	if opt.Days == 0 {
		opt.Days = 1
	}
	if opt.Days < 1 || opt.Days > 3660 {
		return opt, fmt.Errorf("Days = %d, must be in [1, 3660]", opt.Days)
	}
	if opt.Start.IsZero() {
		opt.Start = DefaultGenStart
	}
	opt.Start = opt.Start.UTC().Truncate(24 * time.Hour)
	if opt.NullUsers < 0 || opt.NullUsers >= 1 || math.IsNaN(opt.NullUsers) {
		return opt, fmt.Errorf("NullUsers = %v, must be in [0, 1)", opt.NullUsers)
	}
	if opt.BatchRows == 0 {
		opt.BatchRows = defaultBatchRows
	}
	if opt.BatchRows < 1 {
		return opt, fmt.Errorf("BatchRows = %d, must be ≥ 1", opt.BatchRows)
	}
	if opt.MediaTypeWeights == nil {
		opt.MediaTypeWeights = DefaultMediaTypeWeights
	}
	var sum float64
	for _, w := range opt.MediaTypeWeights {
		if !(w >= 0) || math.IsInf(w, 0) {
			sum = math.NaN()
			break
		}
		sum += w
	}
	if len(opt.MediaTypeWeights) != len(mediaTypes) || !(sum > 0) {
		return opt, fmt.Errorf("Generate: MediaTypeWeights = %v, want %d finite non-negative weights with a positive sum", opt.MediaTypeWeights, len(mediaTypes))
	}
	switch opt.Format {
	case FormatUnknown:
		opt.Format = FormatParquet
	case FormatParquet, FormatArrowFile, FormatArrowStream:
	default:
		return opt, fmt.Errorf("unknown Format %d", opt.Format)
	}
	return opt, nil
}

// RunDate returns the instant the generated consent export is meant to be
// read "as of": the end of the generated period (Start + Days). About 23% of
// users have no playback_stats grant as of that instant. Records dated after
// it exist: a reader must ignore the grants among them and honour the
// withdrawals (see Consent).
func (opt GenOptions) RunDate() time.Time {
	o, err := opt.withDefaults()
	if err != nil {
		return time.Time{}
	}
	return o.Start.AddDate(0, 0, o.Days)
}

// Generate writes a synthetic events export to events and the matching
// consent export to consent (either may be nil to skip it). The output is
// deterministic for the options (Seed included). Rows are produced in record
// batches (one Parquet row group each) of opt.BatchRows rows, so memory does
// not grow with opt.Rows; only per-user state (a few dozen bytes a user) is
// held. Generate does not close events or consent.
//
// The events schema is the one DESIGN.md documents: user_id, event_time
// (timestamp[us, UTC]), device_type, platform, video_codec, audio_codec,
// container, media_type, resolution, decision (dictionary-encoded strings
// unless PlainStrings), bitrate_kbps and duration_s (int64, null for photos),
// plus two columns a real export carries and dpstats must never read: title
// and client_ip.
//
// The consent schema is (user_id, category, granted bool, updated_at
// timestamp[us, UTC]).
func Generate(opt GenOptions, events io.Writer, consent io.Writer) error {
	opt, err := opt.withDefaults()
	if err != nil {
		return err
	}
	pop := newPopulation(opt)
	if events != nil {
		if err := generateEvents(opt, pop, events); err != nil {
			return fmt.Errorf("events: %w", err)
		}
	}
	if consent != nil {
		if err := generateConsent(opt, pop, consent); err != nil {
			return fmt.Errorf("consent: %w", err)
		}
	}
	return nil
}

// ---- vocabularies ----

// Categorical columns, in schema order after event_time.
const (
	colDevice = iota
	colPlatform
	colVideoCodec
	colAudioCodec
	colContainer
	colMediaType
	colResolution
	colDecision
	numDims
)

var dimNames = [numDims]string{"device_type", "platform", "video_codec", "audio_codec", "container", "media_type", "resolution", "decision"}

var (
	devices    = []string{"android_tv", "roku", "apple_tv", "web", "fire_tv", "ios", "android", "smart_tv", "xbox", "ps5", "chromecast", "windows", "macos"}
	platforms  = []string{"android", "roku_os", "tvos", "browser", "fire_os", "ios", "tizen", "webos", "xbox", "playstation", "google_tv", "windows", "macos"}
	vcodecs    = []string{"h264", "hevc", "av1", "vp9", "mpeg2", "mpeg4"}
	acodecs    = []string{"aac", "eac3", "ac3", "dts", "truehd", "opus", "flac", "mp3", "alac"}
	containers = []string{"mkv", "mp4", "ts", "avi", "webm", "mp3", "flac", "m4a", "jpeg", "heic"}
	mediaTypes = []string{"movie", "episode", "track", "photo", "clip"}
	resolution = []string{"sd", "720p", "1080p", "4k"}
	decisions  = []string{"direct_play", "direct_stream", "transcode"}

	dimValues = [numDims][]string{devices, platforms, vcodecs, acodecs, containers, mediaTypes, resolution, decisions}
)

// indices into the vocabularies above
const (
	vH264, vHEVC, vAV1, vVP9, vMPEG2, vMPEG4 = 0, 1, 2, 3, 4, 5
	rSD, r720, r1080, r4K                    = 0, 1, 2, 3
	mMovie, mEpisode, mTrack, mPhoto, mClip  = 0, 1, 2, 3, 4
	dPlay, dStream, dTranscode               = 0, 1, 2
)

// deviceCaps describes what a device plays natively.
type deviceCaps struct {
	platforms  []int8 // candidates, chosen per user
	maxRes     int8
	codecs     uint8  // bitset over vcodecs
	containers uint16 // bitset over containers (video ones)
}

func bits(xs ...int) uint16 {
	var b uint16
	for _, x := range xs {
		b |= 1 << x
	}
	return b
}

// container indices
const (
	cMKV, cMP4, cTS, cAVI, cWEBM, cMP3, cFLAC, cM4A, cJPEG, cHEIC = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9
)

var caps = []deviceCaps{
	{[]int8{0}, r4K, uint8(bits(vH264, vHEVC, vAV1, vVP9, vMPEG2, vMPEG4)), bits(cMKV, cMP4, cTS, cWEBM)}, // android_tv
	{[]int8{1}, r4K, uint8(bits(vH264, vHEVC, vAV1, vVP9)), bits(cMKV, cMP4, cTS)},                        // roku
	{[]int8{2}, r4K, uint8(bits(vH264, vHEVC)), bits(cMP4, cTS)},                                          // apple_tv
	{[]int8{3}, r1080, uint8(bits(vH264, vVP9, vAV1)), bits(cMP4, cWEBM)},                                 // web
	{[]int8{4}, r4K, uint8(bits(vH264, vHEVC, vAV1, vVP9)), bits(cMKV, cMP4, cTS)},                        // fire_tv
	{[]int8{5}, r1080, uint8(bits(vH264, vHEVC)), bits(cMP4, cTS)},                                        // ios
	{[]int8{0}, r1080, uint8(bits(vH264, vHEVC, vVP9, vAV1)), bits(cMKV, cMP4, cWEBM)},                    // android
	{[]int8{6, 7}, r4K, uint8(bits(vH264, vHEVC, vAV1)), bits(cMKV, cMP4, cTS)},                           // smart_tv
	{[]int8{8}, r4K, uint8(bits(vH264, vHEVC, vVP9)), bits(cMKV, cMP4)},                                   // xbox
	{[]int8{9}, r4K, uint8(bits(vH264, vHEVC)), bits(cMP4)},                                               // ps5
	{[]int8{10}, r4K, uint8(bits(vH264, vHEVC, vAV1, vVP9)), bits(cMP4, cWEBM, cMKV)},                     // chromecast
	{[]int8{11}, r4K, uint8(bits(vH264, vHEVC, vAV1, vVP9, vMPEG2, vMPEG4)), bits(cMKV, cMP4, cTS, cAVI)}, // windows
	{[]int8{12}, r4K, uint8(bits(vH264, vHEVC, vAV1)), bits(cMP4, cTS)},                                   // macos
}

// hourly weights (UTC hour of day): an evening peak around 20:00.
var hourWeights = []float64{3, 2, 1.2, .8, .6, .6, 1, 1.5, 1.8, 2, 2.2, 2.5, 3, 3, 3, 3.2, 3.6, 4.5, 6, 8, 9, 8.5, 6.5, 4.5}

// ---- alias sampling ----

// alias is Vose's alias table: O(1) weighted sampling.
type alias struct {
	prob  []float64
	alias []int32
}

func newAlias(w []float64) alias {
	n := len(w)
	var sum float64
	for _, x := range w {
		sum += x
	}
	a := alias{prob: make([]float64, n), alias: make([]int32, n)}
	scaled := make([]float64, n)
	small := make([]int32, 0, n)
	large := make([]int32, 0, n)
	for i, x := range w {
		scaled[i] = x * float64(n) / sum
		if scaled[i] < 1 {
			small = append(small, int32(i))
		} else {
			large = append(large, int32(i))
		}
	}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		a.prob[s] = scaled[s]
		a.alias[s] = l
		scaled[l] = scaled[l] + scaled[s] - 1
		if scaled[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	for _, i := range large {
		a.prob[i] = 1
	}
	for _, i := range small {
		a.prob[i] = 1
	}
	return a
}

func (a alias) sample(r *rand.Rand) int {
	i := r.IntN(len(a.prob))
	if r.Float64() < a.prob[i] {
		return i
	}
	return int(a.alias[i])
}

func zipf(n int, s float64) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = 1 / math.Pow(float64(i+1), s)
	}
	return w
}

// pick returns an index drawn from the small weight table w.
func pick(r *rand.Rand, w []float64) int {
	var sum float64
	for _, x := range w {
		sum += x
	}
	u := r.Float64() * sum
	for i, x := range w {
		u -= x
		if u < 0 {
			return i
		}
	}
	return len(w) - 1
}

// ---- population ----

// population holds per-user state: a few dozen bytes a user.
type population struct {
	users    alias
	ids      []byte  // concatenated string ids
	idOff    []int32 // offsets into ids, len Users+1
	ips      []byte
	ipOff    []int32
	dev      [][2]int8 // primary and secondary device
	plat     [][2]int8
	habit    []int8 // habitual hour, or -1
	dayAlias alias
}

func newPopulation(opt GenOptions) *population {
	r := rand.New(rand.NewPCG(uint64(opt.Seed), 0x5eed0001))
	n := opt.Users
	p := &population{
		idOff: make([]int32, 0, n+1),
		ipOff: make([]int32, 0, n+1),
		dev:   make([][2]int8, n),
		plat:  make([][2]int8, n),
		habit: make([]int8, n),
	}
	width := max(7, len(strconv.Itoa(n)))
	w := make([]float64, n)
	devAlias := newAlias(zipf(len(devices), 1.1))
	p.idOff = append(p.idOff, 0)
	p.ipOff = append(p.ipOff, 0)
	var buf []byte
	for u := 0; u < n; u++ {
		// Heavy tail: lognormal activity, σ = 1.6 (top 1% of users ≈ 23% of events).
		w[u] = math.Exp(1.6 * r.NormFloat64())
		buf = append(buf[:0], 'u')
		num := strconv.AppendInt(nil, int64(u), 10)
		for i := len(num); i < width; i++ {
			buf = append(buf, '0')
		}
		buf = append(buf, num...)
		p.ids = append(p.ids, buf...)
		p.idOff = append(p.idOff, int32(len(p.ids)))
		if r.IntN(4) == 0 {
			p.ips = fmt.Appendf(p.ips, "2001:db8:%x:%x::%x", r.IntN(1<<16), r.IntN(1<<16), r.IntN(1<<16))
		} else {
			p.ips = fmt.Appendf(p.ips, "%d.%d.%d.%d", 1+r.IntN(223), r.IntN(256), r.IntN(256), 1+r.IntN(254))
		}
		p.ipOff = append(p.ipOff, int32(len(p.ips)))
		for k := 0; k < 2; k++ {
			d := devAlias.sample(r)
			p.dev[u][k] = int8(d)
			pl := caps[d].platforms
			p.plat[u][k] = pl[r.IntN(len(pl))]
		}
		p.habit[u] = -1
		if r.IntN(10) < 3 {
			p.habit[u] = int8(17 + r.IntN(6))
		}
	}
	p.users = newAlias(w)
	dw := make([]float64, opt.Days)
	for d := range dw {
		dw[d] = 1
		if wd := opt.Start.AddDate(0, 0, d).Weekday(); wd == time.Saturday || wd == time.Sunday {
			dw[d] = 1.35
		}
	}
	p.dayAlias = newAlias(dw)
	return p
}

// ---- events ----

func eventSchema(opt GenOptions) *arrow.Schema {
	var userType arrow.DataType = arrow.BinaryTypes.String
	if opt.IntUserIDs {
		userType = arrow.PrimitiveTypes.Int64
	}
	var dimType arrow.DataType = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}
	if opt.PlainStrings {
		dimType = arrow.BinaryTypes.String
	}
	fields := []arrow.Field{
		{Name: "user_id", Type: userType, Nullable: true},
		{Name: "event_time", Type: arrow.FixedWidthTypes.Timestamp_us, Nullable: true},
	}
	for _, name := range dimNames {
		fields = append(fields, arrow.Field{Name: name, Type: dimType, Nullable: true})
	}
	fields = append(fields,
		arrow.Field{Name: "bitrate_kbps", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "duration_s", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "title", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "client_ip", Type: arrow.BinaryTypes.String, Nullable: true},
	)
	return arrow.NewSchema(fields, nil)
}

// eventBatch is one batch of generated events in columnar form.
type eventBatch struct {
	n        int
	user     []int32 // -1 = null
	time     []int64
	dims     [numDims][]int8 // -1 = null
	bitrate  []int64
	duration []int64
	numValid []bool // bitrate and duration are null together (photos)
	title    []int32
}

const numTitles = 4000

var (
	titleA = []string{"The", "A", "Last", "Silent", "Broken", "Golden", "Hidden", "Lost", "Red", "Northern", "Little", "Dark", "Wild", "Electric", "Quiet"}
	titleB = []string{"Harbor", "Garden", "Signal", "Empire", "Winter", "River", "Kingdom", "Station", "Orchard", "Mirror", "Frontier", "Machine", "Summer", "Island", "Letters"}
)

func titleString(i int) string {
	a := titleA[i%len(titleA)]
	b := titleB[(i/len(titleA))%len(titleB)]
	return fmt.Sprintf("%s %s (%d)", a, b, 1950+i%75)
}

func generateBatch(opt GenOptions, pop *population, batch, n int, b *eventBatch) {
	r := rand.New(rand.NewPCG(uint64(opt.Seed), uint64(batch)+1))
	b.n = n
	b.user = growInt32(b.user, n)
	b.time = growInt64(b.time, n)
	for k := range b.dims {
		b.dims[k] = growInt8(b.dims[k], n)
	}
	b.bitrate = growInt64(b.bitrate, n)
	b.duration = growInt64(b.duration, n)
	b.title = growInt32(b.title, n)
	if cap(b.numValid) < n {
		b.numValid = make([]bool, n)
	}
	b.numValid = b.numValid[:n]

	start := opt.Start.UnixMicro()
	const dayUS = int64(24 * time.Hour / time.Microsecond)
	const hourUS = int64(time.Hour / time.Microsecond)
	for i := 0; i < n; i++ {
		u := pop.users.sample(r)
		if opt.NullUsers > 0 && r.Float64() < opt.NullUsers {
			b.user[i] = -1
		} else {
			b.user[i] = int32(u)
		}
		// time: weekday-weighted day, evening-peaked hour, habits
		day := int64(pop.dayAlias.sample(r))
		var hour int64
		if h := pop.habit[u]; h >= 0 && r.IntN(2) == 0 {
			hour = int64(h)
		} else {
			hour = int64(pick(r, hourWeights))
		}
		b.time[i] = start + day*dayUS + hour*hourUS + r.Int64N(hourUS)

		k := 0
		if r.IntN(4) == 0 {
			k = 1
		}
		dev := int(pop.dev[u][k])
		c := &caps[dev]
		b.dims[colDevice][i] = int8(dev)
		b.dims[colPlatform][i] = pop.plat[u][k]

		mt := pick(r, opt.MediaTypeWeights)
		b.dims[colMediaType][i] = int8(mt)
		b.numValid[i] = true
		switch mt {
		case mTrack:
			b.dims[colVideoCodec][i] = -1
			b.dims[colResolution][i] = -1
			ac := 6 + pick(r, []float64{0.4, 0.45, 0.15}) // flac, mp3, alac
			b.dims[colAudioCodec][i] = int8(ac)
			cont := [...]int{cFLAC, cMP3, cM4A}[ac-6]
			b.dims[colContainer][i] = int8(cont)
			bitrate := [...]float64{900, 256, 800}[ac-6]
			dec := dPlay
			if dev == 3 && ac != 7 || r.IntN(20) == 0 { // web plays mp3 only; some remote transcodes
				dec = dTranscode
				bitrate = 192
			}
			b.dims[colDecision][i] = int8(dec)
			b.bitrate[i] = int64(bitrate * math.Exp(0.15*r.NormFloat64()))
			b.duration[i] = max(5, int64(210*math.Exp(0.4*r.NormFloat64())))
			b.title[i] = int32(r.IntN(numTitles))
			continue
		case mPhoto:
			b.dims[colVideoCodec][i] = -1
			b.dims[colAudioCodec][i] = -1
			b.dims[colResolution][i] = -1
			b.dims[colContainer][i] = int8([...]int{cJPEG, cHEIC}[pick(r, []float64{0.8, 0.2})])
			b.dims[colDecision][i] = dPlay
			b.numValid[i] = false
			b.bitrate[i], b.duration[i] = 0, 0
			b.title[i] = -1
			continue
		}
		// video: source resolution, codec, container
		var res int
		switch mt {
		case mMovie:
			res = pick(r, []float64{0.08, 0.12, 0.55, 0.25})
		case mEpisode:
			res = pick(r, []float64{0.12, 0.25, 0.55, 0.08})
		default:
			res = pick(r, []float64{0.25, 0.35, 0.35, 0.05})
		}
		var vc int
		switch res {
		case r4K:
			vc = [...]int{vHEVC, vAV1, vH264, vVP9}[pick(r, []float64{0.6, 0.25, 0.1, 0.05})]
		case r1080:
			vc = [...]int{vH264, vHEVC, vAV1, vVP9}[pick(r, []float64{0.6, 0.28, 0.08, 0.04})]
		default:
			vc = [...]int{vH264, vMPEG4, vMPEG2, vHEVC}[pick(r, []float64{0.8, 0.1, 0.05, 0.05})]
		}
		cont := [...]int{cMKV, cMP4, cTS, cAVI, cWEBM}[pick(r, []float64{0.55, 0.33, 0.06, 0.03, 0.03})]
		ac := pick(r, []float64{0.45, 0.25, 0.14, 0.06, 0.04, 0.06})
		if res == r4K && mt == mMovie && r.IntN(3) == 0 {
			ac = 4 // truehd
		}
		dec := dPlay
		outRes, outCodec := res, vc
		switch {
		case c.codecs&(1<<vc) == 0 || res > int(c.maxRes) || r.IntN(12) == 0:
			dec = dTranscode
			outRes = min(res, int(c.maxRes))
			if r.IntN(12) == 0 && outRes > r720 { // bandwidth-limited remote stream
				outRes--
			}
			outCodec = vH264
			if c.codecs&(1<<vHEVC) != 0 && r.IntN(4) == 0 {
				outCodec = vHEVC
			}
			cont = cTS
			if dev == 3 {
				cont = cMP4
			}
			ac = 0 // aac
		case c.containers&(1<<cont) == 0 || ac >= 3 && r.IntN(2) == 0:
			dec = dStream
			cont = cMP4
		}
		b.dims[colVideoCodec][i] = int8(outCodec)
		b.dims[colResolution][i] = int8(outRes)
		b.dims[colAudioCodec][i] = int8(ac)
		b.dims[colContainer][i] = int8(cont)
		b.dims[colDecision][i] = int8(dec)
		median := [...]float64{1500, 4000, 8000, 25000}[outRes]
		if outCodec == vHEVC || outCodec == vAV1 {
			median *= 0.6
		}
		sigma := 0.35
		if dec == dTranscode {
			sigma = 0.15
		}
		b.bitrate[i] = max(100, int64(median*math.Exp(sigma*r.NormFloat64())))
		dmed := [...]float64{4500, 1900, 0, 0, 240}[mt]
		// watched time: often the whole item, sometimes abandoned early
		d := dmed * math.Exp(0.35*r.NormFloat64())
		if r.IntN(5) == 0 {
			d *= r.Float64()
		}
		b.duration[i] = max(1, int64(d))
		b.title[i] = int32(r.IntN(numTitles))
	}
}

func growInt8(s []int8, n int) []int8 {
	if cap(s) < n {
		return make([]int8, n)
	}
	return s[:n]
}

func growInt32(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}

func growInt64(s []int64, n int) []int64 {
	if cap(s) < n {
		return make([]int64, n)
	}
	return s[:n]
}

// arrays -------------------------------------------------------------------

// validity returns a validity bitmap buffer and the null count, or nil if
// every value is valid.
func validity(n int, valid func(i int) bool) (*memory.Buffer, int) {
	bm := make([]byte, bitutil.BytesForBits(int64(n)))
	nulls := 0
	for i := 0; i < n; i++ {
		if valid(i) {
			bitutil.SetBit(bm, i)
		} else {
			nulls++
		}
	}
	if nulls == 0 {
		return nil, 0
	}
	return memory.NewBufferBytes(bm), nulls
}

func int64Array(vals []int64, valid func(int) bool) arrow.Array {
	return int64ArrayOf(arrow.PrimitiveTypes.Int64, vals, valid)
}

func int64ArrayOf(typ arrow.DataType, vals []int64, valid func(int) bool) arrow.Array {
	var vb *memory.Buffer
	var nulls int
	if valid != nil {
		vb, nulls = validity(len(vals), valid)
	}
	buf := make([]int64, len(vals))
	copy(buf, vals)
	data := array.NewData(typ, len(vals), []*memory.Buffer{vb, memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(buf))}, nil, nulls, 0)
	defer data.Release()
	return array.MakeFromData(data)
}

// stringArray builds a string array of n values; value(i) appends the i-th
// value to dst and reports whether it is valid.
func stringArray(n int, value func(dst []byte, i int) ([]byte, bool)) arrow.Array {
	offsets := make([]int32, n+1)
	bm := make([]byte, bitutil.BytesForBits(int64(n)))
	var data []byte
	nulls := 0
	for i := 0; i < n; i++ {
		var ok bool
		data, ok = value(data, i)
		if ok {
			bitutil.SetBit(bm, i)
		} else {
			nulls++
		}
		offsets[i+1] = int32(len(data))
	}
	var vb *memory.Buffer
	if nulls > 0 {
		vb = memory.NewBufferBytes(bm)
	}
	d := array.NewData(arrow.BinaryTypes.String, n, []*memory.Buffer{vb, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(offsets)), memory.NewBufferBytes(data)}, nil, nulls, 0)
	defer d.Release()
	return array.MakeFromData(d)
}

func dictValuesArray(vals []string) arrow.Array {
	return stringArray(len(vals), func(dst []byte, i int) ([]byte, bool) { return append(dst, vals[i]...), true })
}

func (b *eventBatch) record(opt GenOptions, pop *population, schema *arrow.Schema, dicts []arrow.Array, titles []string) arrow.RecordBatch {
	n := b.n
	cols := make([]arrow.Array, 0, schema.NumFields())
	userValid := func(i int) bool { return b.user[i] >= 0 }
	if opt.IntUserIDs {
		ids := make([]int64, n)
		for i, u := range b.user {
			ids[i] = int64(u) + 1
		}
		cols = append(cols, int64Array(ids, userValid))
	} else {
		cols = append(cols, stringArray(n, func(dst []byte, i int) ([]byte, bool) {
			u := b.user[i]
			if u < 0 {
				return dst, false
			}
			return append(dst, pop.ids[pop.idOff[u]:pop.idOff[u+1]]...), true
		}))
	}
	cols = append(cols, int64ArrayOf(arrow.FixedWidthTypes.Timestamp_us, b.time, nil))
	for k := 0; k < numDims; k++ {
		codes := b.dims[k]
		valid := func(i int) bool { return codes[i] >= 0 }
		if opt.PlainStrings {
			vals := dimValues[k]
			cols = append(cols, stringArray(n, func(dst []byte, i int) ([]byte, bool) {
				if codes[i] < 0 {
					return dst, false
				}
				return append(dst, vals[codes[i]]...), true
			}))
			continue
		}
		vb, nulls := validity(n, valid)
		idx := make([]int8, n)
		for i, c := range codes {
			idx[i] = max(c, 0)
		}
		d := array.NewData(arrow.PrimitiveTypes.Int8, n, []*memory.Buffer{vb, memory.NewBufferBytes(arrow.Int8Traits.CastToBytes(idx))}, nil, nulls, 0)
		ia := array.MakeFromData(d)
		d.Release()
		cols = append(cols, array.NewDictionaryArray(schema.Field(2+k).Type, ia, dicts[k]))
		ia.Release()
	}
	numValid := func(i int) bool { return b.numValid[i] }
	cols = append(cols, int64Array(b.bitrate, numValid), int64Array(b.duration, numValid))
	cols = append(cols, stringArray(n, func(dst []byte, i int) ([]byte, bool) {
		t := b.title[i]
		if t < 0 {
			return dst, false
		}
		return append(dst, titles[t]...), true
	}))
	cols = append(cols, stringArray(n, func(dst []byte, i int) ([]byte, bool) {
		u := b.user[i]
		if u < 0 {
			u = 0
		}
		return append(dst, pop.ips[pop.ipOff[u]:pop.ipOff[u+1]]...), true
	}))
	rec := array.NewRecordBatch(schema, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// batchWriter writes record batches in one of the supported formats.
type batchWriter interface {
	Write(arrow.RecordBatch) error
	Close() error
}

// writerOnly hides an io.Closer: the Parquet writer closes a sink that has
// Close, and Generate's caller owns its writers.
type writerOnly struct{ io.Writer }

func newBatchWriter(format Format, schema *arrow.Schema, w io.Writer) (batchWriter, error) {
	w = writerOnly{w}
	switch format {
	case FormatParquet:
		props := parquet.NewWriterProperties(
			parquet.WithCompression(compress.Codecs.Snappy),
			parquet.WithDictionaryDefault(true),
			// random microsecond timestamps never repeat: a dictionary
			// would only be built and thrown away
			parquet.WithDictionaryFor("event_time", false),
			parquet.WithDictionaryFor("updated_at", false),
			parquet.WithCreatedBy("dpstats gen"),
			parquet.WithMaxRowGroupLength(math.MaxInt32),
		)
		return pqarrow.NewFileWriter(schema, w, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	case FormatArrowFile:
		return ipc.NewFileWriter(w, ipc.WithSchema(schema))
	case FormatArrowStream:
		return ipc.NewWriter(w, ipc.WithSchema(schema)), nil
	}
	return nil, fmt.Errorf("unknown format %d", format)
}

func generateEvents(opt GenOptions, pop *population, w io.Writer) error {
	schema := eventSchema(opt)
	bw, err := newBatchWriter(opt.Format, schema, w)
	if err != nil {
		return err
	}
	dicts := make([]arrow.Array, numDims)
	for k := range dicts {
		dicts[k] = dictValuesArray(dimValues[k])
	}
	defer func() {
		for _, d := range dicts {
			d.Release()
		}
	}()
	titles := make([]string, numTitles)
	for i := range titles {
		titles[i] = titleString(i)
	}

	nb := (opt.Rows + opt.BatchRows - 1) / opt.BatchRows
	// Generate the next batch while the current one is encoded: each batch
	// has its own random stream, so the output does not depend on timing.
	out := make(chan arrow.RecordBatch, 1)
	done := make(chan struct{})
	go func() {
		defer close(out)
		var b eventBatch
		for k := 0; k < nb; k++ {
			n := min(opt.BatchRows, opt.Rows-k*opt.BatchRows)
			generateBatch(opt, pop, k, n, &b)
			rec := b.record(opt, pop, schema, dicts, titles)
			select {
			case out <- rec:
			case <-done:
				rec.Release()
				return
			}
		}
	}()
	var werr error
	for rec := range out {
		if werr == nil {
			werr = bw.Write(rec)
			if werr != nil {
				close(done)
			}
		}
		rec.Release()
	}
	if werr != nil {
		bw.Close()
		return werr
	}
	return bw.Close()
}

// ---- consent ----

func consentSchema(opt GenOptions) *arrow.Schema {
	var userType arrow.DataType = arrow.BinaryTypes.String
	if opt.IntUserIDs {
		userType = arrow.PrimitiveTypes.Int64
	}
	return arrow.NewSchema([]arrow.Field{
		{Name: "user_id", Type: userType, Nullable: true},
		{Name: "category", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "granted", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "updated_at", Type: arrow.FixedWidthTypes.Timestamp_us, Nullable: true},
	}, nil)
}

type consentRec struct {
	user    int32
	cat     int8
	granted bool
	at      int64 // unix micros
}

// consentFor appends the consent history of user u. Shares for
// playback_stats as of RunDate: 9% no record, 4% refused, 5% granted then
// withdrew, 2% grant dated after the run date only, 3% granted and a
// withdrawal dated after the run date (a clock ahead: honoured) — 23%
// without a grant; 3% withdrew and granted again before the period.
func consentFor(r *rand.Rand, u int32, start, run int64, dst []consentRec) []consentRec {
	const dayUS = int64(24 * time.Hour / time.Microsecond)
	before := func() int64 { return start - dayUS - r.Int64N(400*dayUS) }
	between := func(a, b int64) int64 { return a + 1 + r.Int64N(max(1, b-a-1)) }
	after := func() int64 { return run + 1 + r.Int64N(60*dayUS) }
	x := r.Float64()
	switch {
	case x < 0.09:
	case x < 0.13:
		dst = append(dst, consentRec{u, 0, false, before()})
	case x < 0.18:
		t0 := before()
		dst = append(dst, consentRec{u, 0, true, t0}, consentRec{u, 0, false, between(t0, run)})
	case x < 0.20:
		dst = append(dst, consentRec{u, 0, true, after()})
	case x < 0.23:
		dst = append(dst, consentRec{u, 0, true, before()}, consentRec{u, 0, false, after()})
	case x < 0.26:
		t0 := before()
		t1 := between(t0, start)
		dst = append(dst, consentRec{u, 0, true, t0}, consentRec{u, 0, false, t1}, consentRec{u, 0, true, between(t1, start)})
	default:
		dst = append(dst, consentRec{u, 0, true, before()})
	}
	y := r.Float64()
	switch {
	case y < 0.60:
		dst = append(dst, consentRec{u, 1, true, before()})
	case y < 0.66:
		t0 := before()
		dst = append(dst, consentRec{u, 1, true, t0}, consentRec{u, 1, false, between(t0, run)})
	}
	return dst
}

var consentCats = []string{CategoryPlayback, CategoryProduct}

func generateConsent(opt GenOptions, pop *population, w io.Writer) error {
	schema := consentSchema(opt)
	bw, err := newBatchWriter(opt.Format, schema, w)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(uint64(opt.Seed), 0xc0115e47))
	start := opt.Start.UnixMicro()
	run := opt.Start.AddDate(0, 0, opt.Days).UnixMicro()
	var recs []consentRec
	flush := func() error {
		if len(recs) == 0 {
			return nil
		}
		n := len(recs)
		cols := make([]arrow.Array, 4)
		if opt.IntUserIDs {
			ids := make([]int64, n)
			for i, c := range recs {
				ids[i] = int64(c.user) + 1
			}
			cols[0] = int64Array(ids, nil)
		} else {
			cols[0] = stringArray(n, func(dst []byte, i int) ([]byte, bool) {
				u := recs[i].user
				return append(dst, pop.ids[pop.idOff[u]:pop.idOff[u+1]]...), true
			})
		}
		cols[1] = stringArray(n, func(dst []byte, i int) ([]byte, bool) { return append(dst, consentCats[recs[i].cat]...), true })
		gb := array.NewBooleanBuilder(memory.DefaultAllocator)
		gb.Reserve(n)
		at := make([]int64, n)
		for i, c := range recs {
			gb.UnsafeAppend(c.granted)
			at[i] = c.at
		}
		cols[2] = gb.NewArray()
		gb.Release()
		cols[3] = int64ArrayOf(arrow.FixedWidthTypes.Timestamp_us, at, nil)
		rec := array.NewRecordBatch(schema, cols, int64(n))
		for _, c := range cols {
			c.Release()
		}
		err := bw.Write(rec)
		rec.Release()
		recs = recs[:0]
		return err
	}
	for u := 0; u < opt.Users; u++ {
		recs = consentFor(r, int32(u), start, run, recs)
		if len(recs) >= opt.BatchRows {
			if err := flush(); err != nil {
				bw.Close()
				return err
			}
		}
	}
	if err := flush(); err != nil {
		bw.Close()
		return err
	}
	return bw.Close()
}
