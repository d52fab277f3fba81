package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/mattn/go-runewidth"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// The progress rows are drawn in place on a terminal (mpb) or printed as
// lines.

// discardRows shows nothing (--quiet).
type discardRows struct{}

func (discardRows) set(string, string) {}
func (discardRows) drop(string)        {}
func (discardRows) close()             {}

// plainRows prints "ID: text" each time a row's text changes; rows with
// no text yet are not printed.
type plainRows struct {
	w    io.Writer
	last map[string]string
}

func newPlainRows(w io.Writer) *plainRows { return &plainRows{w: w, last: map[string]string{}} }

func (p *plainRows) set(id, text string) {
	if text == "" || p.last[id] == text {
		return
	}
	p.last[id] = text
	fmt.Fprintf(p.w, "%s: %s\n", id, text)
}

func (p *plainRows) drop(id string) { delete(p.last, id) }
func (p *plainRows) close()         {}

// ttyRows draws the rows in place with mpb: each row is an mpb bar whose
// filler prints the row's text.
type ttyRows struct {
	p    *mpb.Progress
	mu   sync.Mutex
	rows map[string]*ttyRow
	bars []*mpb.Bar
}

type ttyRow struct {
	bar  *mpb.Bar
	text string
}

func newTTYRows(w io.Writer) *ttyRows {
	return &ttyRows{
		p:    mpb.New(mpb.WithOutput(w), mpb.WithAutoRefresh(), mpb.WithRefreshRate(100*time.Millisecond)),
		rows: map[string]*ttyRow{},
	}
}

func (r *ttyRows) set(id, text string) {
	r.mu.Lock()
	if row := r.rows[id]; row != nil {
		row.text = text
		r.mu.Unlock()
		return
	}
	row := &ttyRow{text: text}
	r.rows[id] = row
	r.mu.Unlock()
	fill := mpb.BarFillerFunc(func(w io.Writer, st decor.Statistics) error {
		r.mu.Lock()
		line := id + ": " + row.text
		r.mu.Unlock()
		if st.AvailableWidth > 0 {
			line = runewidth.Truncate(line, st.AvailableWidth, "")
		}
		_, err := io.WriteString(w, line)
		return err
	})
	// Add fails only after the container is done, which close does last.
	bar, err := r.p.Add(0, fill, mpb.BarFillerTrim())
	if err != nil {
		return
	}
	r.mu.Lock()
	row.bar = bar
	r.bars = append(r.bars, bar)
	r.mu.Unlock()
}

func (r *ttyRows) drop(id string) {
	r.mu.Lock()
	row := r.rows[id]
	delete(r.rows, id)
	r.mu.Unlock()
	if row != nil && row.bar != nil {
		row.bar.Abort(true)
	}
}

// close draws the rows a last time and stops drawing.
func (r *ttyRows) close() {
	r.mu.Lock()
	bars := r.bars
	r.mu.Unlock()
	for _, b := range bars {
		b.SetTotal(-1, true)
	}
	r.p.Wait()
}
