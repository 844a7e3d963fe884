package ds

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Drain ends the Server's waiting: long polls answer at once with what
// they have (nothing), WebSockets are closed with status 1001 (going
// away), and new WebSockets are refused with 503. Ordinary requests go on
// being served. It returns at once; Shutdown waits.
func (s *Server) Drain() {
	s.drainOnce.Do(func() {
		s.sockMu.Lock()
		s.drained = true
		s.sockMu.Unlock()
		close(s.draining)
	})
}

// Shutdown stops hs without losing an accepted request: it drains the
// Server (so long polls and WebSockets do not hold the shutdown for
// MaxWait), then has hs stop listening and wait for the requests in
// flight to finish (a commit or message is answered 2xx only after its
// transaction committed, so a request cut off by ctx was not accepted),
// then waits for the WebSockets to close. The caller closes the Store
// after it returns.
func (s *Server) Shutdown(ctx context.Context, hs *http.Server) error {
	s.Drain()
	err := hs.Shutdown(ctx)
	// Hijacked connections are not tracked by hs.
	done := make(chan struct{})
	go func() { s.sockets.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.Join(err, ctx.Err())
	}
	return err
}

// Maintenance is what RunMaintenance does and how often.
type Maintenance struct {
	// Every is the time between two rounds; zero means one minute.
	Every time.Duration
	// GC says what the store's garbage collection deletes (Now is set
	// at each round). Without a Collector store only the in-memory
	// tables are swept.
	GC GCOptions
}

// RunMaintenance runs rounds of maintenance until ctx ends: garbage
// collection of the store (when it is a Collector) and the sweep of the
// in-memory rate limit tables. Errors are logged and counted, not fatal:
// the next round tries again.
func (s *Server) RunMaintenance(ctx context.Context, m Maintenance) {
	every := m.Every
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.MaintainOnce(ctx, m.GC)
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// MaintainOnce runs one round of maintenance with the options o (o.Now is
// set to the current time when zero); it returns what the collection
// deleted.
func (s *Server) MaintainOnce(ctx context.Context, o GCOptions) (GCResult, error) {
	now := time.Now()
	s.ipLimits.sweep(now)
	s.clientLimits.sweep(now)
	s.claimLimits.sweep(now)
	c, ok := s.Store.(Collector)
	if !ok {
		return GCResult{}, nil
	}
	if o.Now.IsZero() {
		o.Now = now
	}
	r, err := c.Collect(ctx, o)
	s.metrics.gcNonces.Add(uint64(r.Nonces))
	s.metrics.gcInbox.Add(uint64(r.Inbox))
	s.metrics.gcKeyPackages.Add(uint64(r.KeyPackages))
	s.metrics.gcLog.Add(uint64(r.Log))
	if err != nil && ctx.Err() == nil {
		s.metrics.storeErrors.Add(1)
		s.Log.Error("garbage collection failed", "err", err)
	} else if r != (GCResult{}) {
		s.Log.Info("garbage collected", "nonces", r.Nonces, "inbox", r.Inbox, "group_log", r.Log, "key_packages", r.KeyPackages)
	}
	return r, err
}
