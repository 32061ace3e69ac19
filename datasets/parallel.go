package datasets

import (
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
)

// Parallel decoding. Decoding Parquet (arrow-go's work) is the largest
// single stage of a run; one goroutine for it is the run's critical path.
// A file's row groups are independent, so several Scanners over the same
// file, each reading every n-th row group, decode them at once, and a
// parallelReadAhead hands their records over in the file's order: the
// consumer sees exactly the batches, in exactly the order, that one Scanner
// would give, so what is computed from them does not depend on how many
// goroutines decoded them.

// rowGroups returns the number of row groups of a Parquet file, 0 for
// other formats.
func (s *Scanner) rowGroups() int {
	if p, ok := s.src.(*parquetSource); ok {
		return p.pf.NumRowGroups()
	}
	return 0
}

// splitRowGroups makes s read only the row groups rg with rg % stride ==
// offset; call it before the first Scan. The row counts are still checked
// against the footer: each row group's, and their sum against the sum of
// the footer's counts of the row groups read.
func (s *Scanner) splitRowGroups(stride, offset int) {
	p := s.src.(*parquetSource)
	p.stride, p.offset, p.want = stride, offset, 0
	for rg := offset; rg < p.pf.NumRowGroups(); rg += stride {
		p.want += p.pf.MetaData().RowGroups[rg].GetNumRows()
	}
}

// recordSource is a Scanner read ahead on other goroutines.
type recordSource interface {
	Scan() bool
	Record() arrow.RecordBatch
	Err() error
	Close() error
}

type rgRecord struct {
	rec arrow.RecordBatch
	rg  int
}

// rgWorker decodes every stride-th row group of a file on a goroutine.
type rgWorker struct {
	s    *Scanner
	recs chan rgRecord
	stop chan struct{}
	done chan struct{}
}

func (w *rgWorker) loop() {
	defer close(w.done)
	defer close(w.recs)
	for w.s.Scan() {
		rec := w.s.Record()
		rec.Retain() // past the Scanner's next Scan
		select {
		case w.recs <- rgRecord{rec, w.s.src.rowGroup()}:
		case <-w.stop:
			rec.Release()
			return
		}
	}
}

// decodeAheadRows is about how many rows each decoder may hold decoded
// ahead of the reader. The records come out in row-group order, so while
// the reader takes one decoder's row group batch by batch, the others wait
// for their turn: with room for one record only, a decoder sat idle for
// all but one batch of every row group of another's (three quarters of the
// time with 256k-row row groups read 64k rows at a time, and the run's
// cores with it). Room for a row group's worth of batches lets it decode
// its next row group meanwhile.
const decodeAheadRows = 256 << 10

// parallelReadAhead merges the workers' records in row-group order.
type parallelReadAhead struct {
	ws      []*rgWorker
	pending []*rgRecord // per worker: a record of a later row group, held back
	next    int         // the row group due next
	nrg     int
	cur     arrow.RecordBatch
	err     error
	once    sync.Once
	closeE  error
}

// newParallelReadAhead decodes s's file on n goroutines: s and n-1 more
// Scanners from open, row group rg on Scanner rg % n. s must not have been
// scanned yet. If a Scanner cannot be opened, the error is returned and s
// is left as it was.
func newParallelReadAhead(s *Scanner, n int, open func() (*Scanner, error)) (*parallelReadAhead, error) {
	scanners := []*Scanner{s}
	for len(scanners) < n {
		o, err := open()
		if err != nil {
			for _, o := range scanners[1:] {
				_ = o.Close()
			}
			return nil, err
		}
		scanners = append(scanners, o)
	}
	p := &parallelReadAhead{nrg: s.rowGroups(), pending: make([]*rgRecord, n)}
	batch := s.opt.BatchSize
	if batch <= 0 {
		batch = DefaultBatchSize
	}
	depth := max(1, decodeAheadRows/batch)
	for i, sc := range scanners {
		sc.splitRowGroups(n, i)
		w := &rgWorker{s: sc, recs: make(chan rgRecord, depth), stop: make(chan struct{}), done: make(chan struct{})}
		p.ws = append(p.ws, w)
		go w.loop()
	}
	return p, nil
}

// Scan is Scanner.Scan.
func (p *parallelReadAhead) Scan() bool {
	if p.cur != nil {
		p.cur.Release()
		p.cur = nil
	}
	for p.err == nil && p.next < p.nrg {
		w := p.next % len(p.ws)
		it := p.pending[w]
		p.pending[w] = nil
		if it == nil {
			r, ok := <-p.ws[w].recs
			if !ok {
				// The worker is done: at the end of its row groups, or at
				// an error (which comes no later than in a single read).
				<-p.ws[w].done
				if err := p.ws[w].s.Err(); err != nil {
					p.err = err
					return false
				}
				p.next++
				continue
			}
			it = &r
		}
		if it.rg == p.next {
			p.cur = it.rec
			return true
		}
		// The worker has moved on to its next row group: this one is done.
		p.pending[w] = it
		p.next++
	}
	return false
}

// Record is Scanner.Record: valid until the next Scan or Close.
func (p *parallelReadAhead) Record() arrow.RecordBatch { return p.cur }

// Err is Scanner.Err.
func (p *parallelReadAhead) Err() error { return p.err }

// Close stops the workers, releases what they read ahead and closes their
// Scanners. It is safe to call more than once.
func (p *parallelReadAhead) Close() error {
	p.once.Do(func() {
		if p.cur != nil {
			p.cur.Release()
			p.cur = nil
		}
		for i, it := range p.pending {
			if it != nil {
				it.rec.Release()
				p.pending[i] = nil
			}
		}
		for _, w := range p.ws {
			close(w.stop)
			for r := range w.recs {
				r.rec.Release()
			}
			<-w.done
			if err := w.s.Close(); err != nil && p.closeE == nil {
				p.closeE = err
			}
		}
	})
	return p.closeE
}
