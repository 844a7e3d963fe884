package ds

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits bounds what one client or one remote address may ask of a
// Server. A zero field disables its limit; NewServer leaves them all zero
// and cmd/mlsd sets its defaults from flags.
type Limits struct {
	// ClientRate is the sustained rate of requests, per second, of one
	// authenticated client, and ClientBurst the requests it may make at
	// once. Counted after authentication, so nobody can spend another
	// client's allowance by naming it in a forged request.
	ClientRate  float64
	ClientBurst int
	// IPRate and IPBurst are the same per remote IP address, counted
	// before authentication (which costs a signature check and a database
	// write). The address is the connection's: behind a reverse proxy all
	// clients share the proxy's. Health, readiness and metrics are exempt.
	IPRate  float64
	IPBurst int
	// MaxStreams bounds the long polls and WebSockets one client holds
	// open at once.
	MaxStreams int
	// ClaimRate and ClaimBurst bound the KeyPackage claims, per second,
	// of one claimed user and, separately, of one claiming client: RFC
	// 9420 section 16.8 asks a Delivery Service to rate-limit claims, so
	// that nobody drains a user's KeyPackages (leaving only the
	// last-resort one, reused by every joiner) or maps who is online.
	ClaimRate  float64
	ClaimBurst int
}

// limiterSet holds one token bucket per key (a client id or an IP).
type limiterSet struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// allow takes a token from key's bucket of rate r and burst b; when the
// bucket is empty it returns false and how long until a token is there.
func (l *limiterSet) allow(key string, r float64, b int, now time.Time) (bool, time.Duration) {
	if r <= 0 {
		return true, 0
	}
	lim := l.get(key, r, b, now)
	res := lim.ReserveN(now, 1)
	if !res.OK() {
		return false, time.Second
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (l *limiterSet) get(key string, r float64, b int, now time.Time) *rate.Limiter {
	b = max(b, 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*rate.Limiter{}
	}
	lim, ok := l.m[key]
	if !ok {
		lim = rate.NewLimiter(rate.Limit(r), b)
		l.m[key] = lim
	} else if lim.Limit() != rate.Limit(r) || lim.Burst() != b {
		lim.SetLimitAt(now, rate.Limit(r))
		lim.SetBurstAt(now, b)
	}
	return lim
}

// sweep forgets the buckets that are full again: a new bucket for the key
// would be the same, so the maps stay as small as the set of recently
// active clients and addresses.
func (l *limiterSet) sweep(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, lim := range l.m {
		if lim.TokensAt(now) >= float64(lim.Burst()) {
			delete(l.m, k)
		}
	}
}

// size returns how many buckets are held.
func (l *limiterSet) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// tooMany answers 429 with a Retry-After in whole seconds (RFC 9110
// section 10.2.3), rounded up so a client that waits that long is let in.
func tooMany(w http.ResponseWriter, retry time.Duration, msg string) {
	secs := max(1, int(math.Ceil(retry.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "mls: ds: " + msg})
}

// remoteIP returns the IP of the connection a request came on.
// An IPv6 client is keyed by its /64, the least a host is usually given,
// so that one host cannot mint a fresh bucket per request.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return host
}

// exemptFromIPLimit is true for the paths probes and scrapers poll.
func exemptFromIPLimit(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/metrics"
}

// openStream counts a long poll or WebSocket of client against
// MaxStreams; it returns false, counting nothing, when the client holds
// as many already. Every true must be followed by closeStream.
func (s *Server) openStream(client string) bool {
	s.streamMu.Lock()
	defer s.streamMu.Unlock()
	if s.Limits.MaxStreams > 0 && s.streams[client] >= s.Limits.MaxStreams {
		return false
	}
	s.streams[client]++
	return true
}

func (s *Server) closeStream(client string) {
	s.streamMu.Lock()
	defer s.streamMu.Unlock()
	if s.streams[client]--; s.streams[client] <= 0 {
		delete(s.streams, client)
	}
}
