package agent

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

// batchSession records the batches it is sent, failing the first one.
type batchSession struct {
	Session
	failFirst bool
	batches   [][]api.TaskReport
	got       chan int
}

func (s *batchSession) Report(ctx context.Context, reps []api.TaskReport) error {
	if s.failFirst {
		s.failFirst = false
		return errors.New("connection lost")
	}
	s.batches = append(s.batches, append([]api.TaskReport(nil), reps...))
	s.got <- len(reps)
	return nil
}

// The reporter keeps within what the managers accept: batches of at most
// api.MaxReportBatch reports, texts cut to api.MaxStatusText; it still
// sends everything, in order, and a failed batch is sent again first.
func TestReporterBatchesWithinTheLimits(t *testing.T) {
	r := newReporter()
	n := 2*api.MaxReportBatch + 7
	for i := range n {
		r.add(api.TaskReport{TaskID: strings.Repeat("t", i%3+1), Status: api.TaskStatus{State: api.TaskStateRunning, Message: strings.Repeat("m", i), Err: strings.Repeat("e", 5000)}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.send(ctx, &batchSession{failFirst: true}); err == nil {
		t.Fatal("a failed batch was not reported")
	}
	s := &batchSession{got: make(chan int, n)}
	done := make(chan error, 1)
	go func() { done <- r.send(ctx, s) }()
	for sent := 0; sent < n; {
		select {
		case k := <-s.got:
			sent += k
		case <-ctx.Done():
			t.Fatal("not everything was sent")
		}
	}
	cancel()
	<-done
	i := 0
	for _, b := range s.batches {
		if len(b) > api.MaxReportBatch {
			t.Fatalf("a batch of %d reports, more than %d", len(b), api.MaxReportBatch)
		}
		for _, rep := range b {
			// Report i carries a message of i bytes (short of the limit).
			if len(rep.Status.Message) != i {
				t.Fatalf("report %d out of order or changed: message of %d bytes", i, len(rep.Status.Message))
			}
			if len(rep.Status.Err) > api.MaxStatusText {
				t.Fatalf("an error of %d bytes sent", len(rep.Status.Err))
			}
			i++
		}
	}
	if i != n {
		t.Fatalf("%d reports sent, want %d", i, n)
	}
}
