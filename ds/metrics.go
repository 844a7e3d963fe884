package ds

import (
	"bufio"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// latencyBuckets are the upper bounds, in seconds, of the request latency
// histogram. The long ones are for long polls, which last up to MaxWait;
// a WebSocket's request lasts as long as the socket and lands in +Inf.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// metrics are the Server's counters, written out in the Prometheus text
// exposition format (version 0.0.4) by ServeHTTP. The label values are
// routes (the mux patterns) and status codes, so their number is bounded.
type metrics struct {
	mu       sync.Mutex
	requests map[[2]string]uint64 // route, status code
	latency  map[string]*histogram

	commitsAccepted   atomic.Uint64
	commitsConflicted atomic.Uint64
	messagesAccepted  atomic.Uint64
	delivered         atomic.Uint64 // recipients of accepted group messages
	pushed            atomic.Uint64 // inbox entries sent on WebSockets
	longPolls         atomic.Int64
	websockets        atomic.Int64
	storeErrors       atomic.Uint64
	limitedIP         atomic.Uint64
	limitedClient     atomic.Uint64
	limitedStreams    atomic.Uint64
	limitedClaims     atomic.Uint64
	gcLog             atomic.Uint64
	gcNonces          atomic.Uint64
	gcInbox           atomic.Uint64
	gcKeyPackages     atomic.Uint64
}

type histogram struct {
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	sum    float64
	n      uint64
}

func newMetrics() *metrics {
	return &metrics{requests: map[[2]string]uint64{}, latency: map[string]*histogram{}}
}

// observe counts one finished request.
func (m *metrics) observe(route string, status int, seconds float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[[2]string{route, strconv.Itoa(status)}]++
	h, ok := m.latency[route]
	if !ok {
		h = &histogram{counts: make([]uint64, len(latencyBuckets)+1)}
		m.latency[route] = h
	}
	i := sort.SearchFloat64s(latencyBuckets, seconds) // first bound >= seconds
	h.counts[i]++
	h.sum += seconds
	h.n++
}

// escapeLabel escapes a label value as the exposition format requires.
var escapeLabel = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace

func formatFloat(v float64) string {
	if math.IsInf(v, +1) {
		return "+Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if s.HideMetrics {
		http.NotFound(w, r)
		return
	}
	s.writeMetrics(w)
}

func (s *Server) writeMetrics(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	b := bufio.NewWriter(w)
	defer b.Flush()
	m := s.metrics
	family := func(name, typ, help string) {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	one := func(name, typ, help string, v float64) {
		family(name, typ, help)
		fmt.Fprintf(b, "%s %s\n", name, formatFloat(v))
	}

	m.mu.Lock()
	keys := make([][2]string, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	family("mlsd_http_requests_total", "counter", "HTTP requests answered, by route and status code.")
	for _, k := range keys {
		fmt.Fprintf(b, "mlsd_http_requests_total{route=\"%s\",code=\"%s\"} %d\n", escapeLabel(k[0]), k[1], m.requests[k])
	}
	routes := make([]string, 0, len(m.latency))
	for r := range m.latency {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	family("mlsd_http_request_duration_seconds", "histogram", "Time from a request's arrival to the end of its answer, by route (long polls include their wait, WebSockets their whole life).")
	for _, r := range routes {
		h := m.latency[r]
		route := escapeLabel(r)
		var cum uint64
		for i, c := range h.counts {
			cum += c
			le := math.Inf(+1)
			if i < len(latencyBuckets) {
				le = latencyBuckets[i]
			}
			fmt.Fprintf(b, "mlsd_http_request_duration_seconds_bucket{route=\"%s\",le=\"%s\"} %d\n", route, formatFloat(le), cum)
		}
		fmt.Fprintf(b, "mlsd_http_request_duration_seconds_sum{route=\"%s\"} %s\n", route, formatFloat(h.sum))
		fmt.Fprintf(b, "mlsd_http_request_duration_seconds_count{route=\"%s\"} %d\n", route, h.n)
	}
	m.mu.Unlock()

	family("mlsd_commits_total", "counter", "Commits answered, by result: accepted, or conflict (another commit had the epoch).")
	fmt.Fprintf(b, "mlsd_commits_total{result=\"accepted\"} %d\n", m.commitsAccepted.Load())
	fmt.Fprintf(b, "mlsd_commits_total{result=\"conflict\"} %d\n", m.commitsConflicted.Load())
	one("mlsd_messages_accepted_total", "counter", "Application messages and proposals accepted.", float64(m.messagesAccepted.Load()))
	one("mlsd_messages_delivered_total", "counter", "Recipients of accepted application messages and proposals (each message is stored once, in its group's log).", float64(m.delivered.Load()))
	one("mlsd_websocket_messages_pushed_total", "counter", "Inbox entries sent to clients on WebSockets.", float64(m.pushed.Load()))
	one("mlsd_open_long_polls", "gauge", "Inbox long polls waiting now.", float64(m.longPolls.Load()))
	one("mlsd_open_websockets", "gauge", "Inbox WebSockets open now.", float64(m.websockets.Load()))
	one("mlsd_store_errors_total", "counter", "Store operations that failed (answered 500, or ended a WebSocket or a garbage collection).", float64(m.storeErrors.Load()))
	family("mlsd_rate_limited_total", "counter", "Requests refused with 429, by the limit hit.")
	fmt.Fprintf(b, "mlsd_rate_limited_total{limit=\"claim\"} %d\n", m.limitedClaims.Load())
	fmt.Fprintf(b, "mlsd_rate_limited_total{limit=\"client\"} %d\n", m.limitedClient.Load())
	fmt.Fprintf(b, "mlsd_rate_limited_total{limit=\"ip\"} %d\n", m.limitedIP.Load())
	fmt.Fprintf(b, "mlsd_rate_limited_total{limit=\"streams\"} %d\n", m.limitedStreams.Load())
	family("mlsd_gc_deleted_total", "counter", "Rows deleted by garbage collection, by kind.")
	fmt.Fprintf(b, "mlsd_gc_deleted_total{kind=\"inbox\"} %d\n", m.gcInbox.Load())
	fmt.Fprintf(b, "mlsd_gc_deleted_total{kind=\"group_log\"} %d\n", m.gcLog.Load())
	fmt.Fprintf(b, "mlsd_gc_deleted_total{kind=\"key_package\"} %d\n", m.gcKeyPackages.Load())
	fmt.Fprintf(b, "mlsd_gc_deleted_total{kind=\"nonce\"} %d\n", m.gcNonces.Load())
	if q, ok := s.Store.(interface{ Queries() uint64 }); ok {
		one("mlsd_store_queries_total", "counter", "Statements, begins and commits sent to the database by this process.", float64(q.Queries()))
	}
}
