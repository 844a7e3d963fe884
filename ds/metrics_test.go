package ds_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ds"
)

// parseExposition parses the Prometheus text format strictly enough to
// catch mistakes: every sample belongs to a family declared by a TYPE line
// before it, label values are quoted, values parse, and each histogram's
// buckets are cumulative up to +Inf, which equals its _count. It returns
// the samples by name{labels} as written.
func parseExposition(r io.Reader) (map[string]float64, error) {
	types := map[string]string{}
	out := map[string]float64{}
	buckets := map[string][]float64{} // histogram series (labels without le) -> bucket values
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# TYPE ") {
			f := strings.Fields(line)
			if len(f) != 4 {
				return nil, fmt.Errorf("bad TYPE line %q", line)
			}
			types[f[2]] = f[3]
			continue
		}
		if strings.HasPrefix(line, "# HELP ") || line == "" {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			return nil, fmt.Errorf("bad sample line %q", line)
		}
		key, val := line[:sp], line[sp+1:]
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return nil, fmt.Errorf("bad value in %q", line)
		}
		name, labels := key, ""
		if i := strings.IndexByte(key, '{'); i >= 0 {
			if !strings.HasSuffix(key, "}") {
				return nil, fmt.Errorf("unclosed labels in %q", line)
			}
			name, labels = key[:i], key[i+1:len(key)-1]
			for _, l := range splitLabels(labels) {
				k, v, ok := strings.Cut(l, "=")
				if !ok || k == "" || len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
					return nil, fmt.Errorf("bad label %q in %q", l, line)
				}
			}
		}
		family := name
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suf); ok && types[base] == "histogram" {
				family = base
			}
		}
		if types[family] == "" {
			return nil, fmt.Errorf("sample %q before its TYPE line", line)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("sample %q twice", key)
		}
		out[key] = v
		if family != name && strings.HasSuffix(name, "_bucket") {
			series := family
			if l := withoutLE(labels); l != "" {
				series += "{" + l + "}"
			}
			buckets[series] = append(buckets[series], v)
			if strings.Contains(labels, `le="+Inf"`) {
				out[series+"+Inf"] = v
			}
		}
	}
	for series, bs := range buckets {
		for i := 1; i < len(bs); i++ {
			if bs[i] < bs[i-1] {
				return nil, fmt.Errorf("%s: buckets not cumulative: %v", series, bs)
			}
		}
		name, labels, hasLabels := strings.Cut(series, "{")
		countKey := name + "_count"
		if hasLabels {
			countKey += "{" + labels
		}
		if count := out[countKey]; count != bs[len(bs)-1] || out[series+"+Inf"] != count {
			return nil, fmt.Errorf("%s: +Inf bucket %v, count %v", series, bs[len(bs)-1], count)
		}
	}
	return out, nil
}

// splitLabels splits a{...} contents at the commas between labels (label
// values here hold no commas or escaped quotes).
func splitLabels(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func withoutLE(labels string) string {
	var keep []string
	for _, l := range splitLabels(labels) {
		if !strings.HasPrefix(l, "le=") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, ",")
}

func scrape(t *testing.T, e *env) map[string]float64 {
	t.Helper()
	resp, err := http.Get(e.ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	v, err := parseExposition(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// waitGauge waits until the metric reaches want.
func waitGauge(t *testing.T, e *env, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := scrape(t, e)[name]
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", name, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMetrics makes requests of known outcomes and reads them back from
// /metrics.
func TestMetrics(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.client("alice-1", "alice"), e.client("bob-1", "bob")
	bob.publish(1, false)
	ga, _ := mls.CreateGroup(alice.ident, nil, nil)
	pc, err := ga.Commit(mls.CommitOptions{Add: []*mls.KeyPackage{parseKP(t, alice.claim("bob")[0].KeyPackage)}})
	if err != nil {
		t.Fatal(err)
	}
	bundle := ds.CommitBundle{Commit: marshal(t, pc.Commit), Welcome: marshal(t, pc.Welcome)}
	if st, _ := alice.do("POST", gpath(ga)+"/commit", bundle); st != 200 {
		t.Fatal("commit refused")
	}
	if st, _ := alice.do("POST", gpath(ga)+"/commit", bundle); st != http.StatusConflict {
		t.Fatal("replayed commit not a conflict")
	}
	ga.MergePendingCommit()

	// A long poll is counted while it waits.
	done := make(chan []ds.InboxMessage)
	go func() { done <- bob.inbox(1, "5s") }()
	waitGauge(t, e, "mlsd_open_long_polls", 1)
	time.Sleep(200 * time.Millisecond)
	m, _ := ga.Send([]byte("hi"))
	if st, _ := alice.do("POST", gpath(ga)+"/messages", marshal(t, m)); st != 200 {
		t.Fatal("send refused")
	}
	if got := <-done; len(got) != 1 {
		t.Fatalf("long poll got %d messages", len(got))
	}
	if st, _ := alice.request("GET", "/v1/inbox", nil, func(r *http.Request) { r.Header.Del(ds.HeaderSignature) }); st != 401 {
		t.Fatal("unsigned request not refused")
	}
	if resp, err := http.Get(e.ts.URL + "/nowhere"); err != nil || resp.StatusCode != 404 {
		t.Fatal("unknown path not 404")
	} else {
		resp.Body.Close()
	}

	v := scrape(t, e)
	want := map[string]float64{
		`mlsd_http_requests_total{route="POST /v1/clients",code="201"}`:                 2,
		`mlsd_http_requests_total{route="POST /v1/groups/{group}/commit",code="200"}`:   1,
		`mlsd_http_requests_total{route="POST /v1/groups/{group}/commit",code="409"}`:   1,
		`mlsd_http_requests_total{route="POST /v1/groups/{group}/messages",code="200"}`: 1,
		`mlsd_http_requests_total{route="GET /v1/inbox",code="200"}`:                    1,
		`mlsd_http_requests_total{route="GET /v1/inbox",code="401"}`:                    1,
		`mlsd_http_requests_total{route="unmatched",code="404"}`:                        1,
		`mlsd_http_request_duration_seconds_count{route="POST /v1/clients"}`:            2,
		`mlsd_http_request_duration_seconds_count{route="GET /v1/inbox"}`:               2,
		`mlsd_commits_total{result="accepted"}`:                                         1,
		`mlsd_commits_total{result="conflict"}`:                                         1,
		`mlsd_messages_accepted_total`:                                                  1,
		`mlsd_messages_delivered_total`:                                                 1,
		`mlsd_open_long_polls`:                                                          0,
		`mlsd_open_websockets`:                                                          0,
		`mlsd_store_errors_total`:                                                       0,
	}
	for k, w := range want {
		if got, ok := v[k]; !ok || got != w {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, w)
		}
	}
	// The long poll waited over 0.2 s: it is above the 0.1 s bucket (which
	// holds the quick 401), and in the sum.
	if b := v[`mlsd_http_request_duration_seconds_bucket{route="GET /v1/inbox",le="0.1"}`]; b != 1 {
		t.Errorf("inbox requests within 0.1 s: %v, want 1", b)
	}
	if sum := v[`mlsd_http_request_duration_seconds_sum{route="GET /v1/inbox"}`]; sum < 0.2 {
		t.Errorf("inbox duration sum %v, want at least the 0.2 s waited", sum)
	}

	// A failing store is counted and answered 500, without its error.
	e.store.Close()
	if st, out := alice.do("GET", "/v1/keypackages/count", nil); st != 500 || bytes.Contains(out, []byte("sql")) {
		t.Fatalf("request on a closed store: %d %s", st, out)
	}
	if got := scrape(t, e)["mlsd_store_errors_total"]; got != 1 {
		t.Fatalf("store errors = %v, want 1", got)
	}

	// HideMetrics moves them off the main handler.
	e.srv.HideMetrics = true
	if resp, _ := http.Get(e.ts.URL + "/metrics"); resp.StatusCode != 404 {
		t.Fatalf("hidden metrics: %d", resp.StatusCode)
	}
	rec := &bytes.Buffer{}
	w := &bufWriter{h: http.Header{}, b: rec}
	e.srv.MetricsHandler().ServeHTTP(w, nil)
	if !strings.Contains(rec.String(), `mlsd_commits_total{result="accepted"} 1`) {
		t.Fatal("MetricsHandler does not serve the metrics")
	}
}

type bufWriter struct {
	h http.Header
	b *bytes.Buffer
}

func (w *bufWriter) Header() http.Header         { return w.h }
func (w *bufWriter) Write(p []byte) (int, error) { return w.b.Write(p) }
func (w *bufWriter) WriteHeader(int)             {}

// TestExpositionParser checks the test's parser rejects what it must, so
// the checks above mean something.
func TestExpositionParser(t *testing.T) {
	good := "# HELP x_seconds h\n# TYPE x_seconds histogram\n" +
		"x_seconds_bucket{le=\"1\"} 1\nx_seconds_bucket{le=\"+Inf\"} 2\nx_seconds_sum 1.5\nx_seconds_count 2\n"
	if v, err := parseExposition(strings.NewReader(good)); err != nil || v[`x_seconds_count`] != 2 || v[`x_seconds_bucket{le="1"}`] != 1 {
		t.Fatalf("good exposition misread: %v %v", v, err)
	}
	for _, bad := range []string{
		"y 1\n",
		"# TYPE x_seconds histogram\nx_seconds_bucket{le=\"1\"} 2\nx_seconds_bucket{le=\"+Inf\"} 1\nx_seconds_count 1\n",
		"# TYPE x_seconds histogram\nx_seconds_bucket{le=\"+Inf\"} 2\nx_seconds_count 3\n",
		"# TYPE y counter\ny{a=b} 1\n",
		"# TYPE y counter\ny one\n",
	} {
		if _, err := parseExposition(strings.NewReader(bad)); err == nil {
			t.Errorf("parser accepted %q", bad)
		}
	}
}
