package datasets

import (
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
)

// readAhead runs a Scanner on a goroutine of its own, one record batch
// ahead of its reader, so that decoding the next batch (arrow-go's work)
// overlaps converting the current one (the EventReader's). Scanner.Scan
// recovers panics on malformed input within its own frame, so a bad file
// is still an *InputError here, never a crash.
type readAhead struct {
	s     *Scanner
	recs  chan arrow.RecordBatch
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	cur   arrow.RecordBatch
	close error
}

func newReadAhead(s *Scanner) *readAhead {
	ra := &readAhead{s: s, recs: make(chan arrow.RecordBatch, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go ra.loop()
	return ra
}

func (ra *readAhead) loop() {
	defer close(ra.done)
	defer close(ra.recs)
	for ra.s.Scan() {
		rec := ra.s.Record()
		rec.Retain() // past the Scanner's next Scan
		select {
		case ra.recs <- rec:
		case <-ra.stop:
			rec.Release()
			return
		}
	}
}

// Scan is Scanner.Scan.
func (ra *readAhead) Scan() bool {
	if ra.cur != nil {
		ra.cur.Release()
		ra.cur = nil
	}
	rec, ok := <-ra.recs
	if !ok {
		return false
	}
	ra.cur = rec
	return true
}

// Record is Scanner.Record: valid until the next Scan or Close.
func (ra *readAhead) Record() arrow.RecordBatch { return ra.cur }

// Err is Scanner.Err, once the scanning goroutine has ended.
func (ra *readAhead) Err() error {
	<-ra.done
	return ra.s.Err()
}

// Close stops the scanning goroutine, releases what it read ahead and
// closes the Scanner. It is safe to call more than once.
func (ra *readAhead) Close() error {
	ra.once.Do(func() {
		if ra.cur != nil {
			ra.cur.Release()
			ra.cur = nil
		}
		close(ra.stop)
		for rec := range ra.recs {
			rec.Release()
		}
		<-ra.done
		ra.close = ra.s.Close()
	})
	return ra.close
}
