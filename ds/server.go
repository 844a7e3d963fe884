package ds

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/dsclient"
)

// Defaults of Server.
const (
	DefaultMaxBody     = 1 << 20
	DefaultMaxWait     = 60 * time.Second
	DefaultEpochWindow = 3
	// DefaultTreeEpochs is Server.TreeEpochs in NewServer.
	DefaultTreeEpochs = 8
	// MaxBatch bounds the KeyPackages of one publish request.
	MaxBatch = 1000
	// inboxPage bounds the messages of one inbox response.
	inboxPage = 500
)

// ContentTypeMLS is the media type of a body in the MLS wire form (an
// MLSMessage), RFC 9420 section 17.10.
const ContentTypeMLS = "application/mls-message"

// Server is the HTTP Delivery Service. Build it with NewServer; it is an
// http.Handler.
type Server struct {
	Store Store
	Auth  Authenticator
	Log   *slog.Logger
	// MaxBody bounds every request body, in bytes.
	MaxBody int64
	// MaxWait bounds the long-poll wait of an inbox request.
	MaxWait time.Duration
	// EpochWindow is how many epochs back application messages and
	// proposals are still accepted (messages in flight across a commit).
	EpochWindow uint64
	// Ready, when not nil, is called by /readyz.
	Ready func(context.Context) error
	// Limits are the rate and stream limits; all off in NewServer.
	Limits Limits
	// WriteTimeout bounds the sending of one WebSocket message: a client
	// that does not read for that long is disconnected.
	WriteTimeout time.Duration
	// PingInterval is how often an idle WebSocket is pinged, so a peer
	// that vanished is noticed.
	PingInterval time.Duration
	// PollInterval is how often a waiting long poll or WebSocket reads the
	// store again, to see deliveries made by other server processes on
	// the same database, when the store does not report them
	// (Waker.WakesAcrossProcesses; PostgreSQL does, SQLite does not). A
	// negative interval never polls: the right choice for one process
	// alone on its SQLite file.
	PollInterval time.Duration
	// Quota bounds what the store keeps per group and per client, and a
	// group's size; zero fields are unbounded.
	Quota Quota
	// HideMetrics turns GET /metrics into a 404, for a deployment that
	// serves MetricsHandler on a private address instead.
	HideMetrics bool
	// AllowUnverified serves groups whose handshakes are PrivateMessages,
	// which the server cannot verify (README, "Delivery Service modes").
	// Off, every group is verified: created by a PublicMessage commit
	// with its GroupInfo, followed by an mls.PublicGroup that refuses
	// what a member would refuse.
	AllowUnverified bool
	// TreeEpochs is how many epochs back the verified ratchet trees are
	// kept for joiners (GET .../tree).
	TreeEpochs uint64

	mux     *http.ServeMux
	mu      sync.Mutex
	waiters map[string]*waiter
	metrics *metrics

	ipLimits, clientLimits limiterSet
	claimLimits            limiterSet // keyed "user:NAME" and "by:CLIENT"
	waker                  Waker      // the Store, when it reports deliveries
	groupWaiters           map[string]map[string]bool
	streamMu               sync.Mutex
	streams                map[string]int // open long polls and WebSockets per client

	// draining is closed by Drain; sockets counts the open WebSockets,
	// which http.Server.Shutdown does not wait for (they are hijacked).
	drainOnce sync.Once
	draining  chan struct{}
	sockMu    sync.Mutex
	sockets   sync.WaitGroup
	drained   bool
}

// Defaults of the WebSocket and polling intervals.
const (
	DefaultWriteTimeout = 10 * time.Second
	DefaultPingInterval = 30 * time.Second
	DefaultPollInterval = time.Second
)

// NewServer returns a Server on store with SignatureAuth and the defaults.
func NewServer(store Store, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{Store: store, Auth: &SignatureAuth{Store: store}, Log: log,
		MaxBody: DefaultMaxBody, MaxWait: DefaultMaxWait, EpochWindow: DefaultEpochWindow, TreeEpochs: DefaultTreeEpochs,
		WriteTimeout: DefaultWriteTimeout, PingInterval: DefaultPingInterval, PollInterval: DefaultPollInterval,
		waiters: map[string]*waiter{}, groupWaiters: map[string]map[string]bool{},
		metrics: newMetrics(), streams: map[string]int{}, draining: make(chan struct{})}
	if w, ok := store.(Waker); ok {
		// The subscription lives as long as the store; a Server is not
		// closed, its store is.
		s.waker = w
		w.Subscribe(s.wake)
	}
	m := http.NewServeMux()
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	m.HandleFunc("GET /readyz", s.readyz)
	m.HandleFunc("GET /metrics", s.serveMetrics)
	m.HandleFunc("POST /v1/clients", s.register)
	m.HandleFunc("POST /v1/keypackages", s.authed(s.publish))
	m.HandleFunc("GET /v1/keypackages/count", s.authed(s.count))
	m.HandleFunc("POST /v1/users/{user}/claim", s.authed(s.claim))
	m.HandleFunc("POST /v1/groups/{group}/commit", s.authed(s.commit))
	m.HandleFunc("POST /v1/groups/{group}/reset", s.authed(s.reset))
	m.HandleFunc("POST /v1/groups/{group}/messages", s.authed(s.message))
	m.HandleFunc("GET /v1/groups/{group}/groupinfo", s.authed(s.groupInfo))
	m.HandleFunc("GET /v1/groups/{group}/tree", s.authed(s.ratchetTree))
	m.HandleFunc("GET /v1/inbox", s.authed(s.inbox))
	m.HandleFunc("GET /v1/inbox/ws", s.authed(s.inboxWS))
	m.HandleFunc("POST /v1/inbox/ack", s.authed(s.ack))
	s.mux = m
	return s
}

// MetricsHandler serves the metrics in the Prometheus text format, for a
// listener of its own (GET /metrics on the Server serves them too unless
// HideMetrics).
func (s *Server) MetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.writeMetrics(w) })
}

// reqInfo is what the handlers tell ServeHTTP about a request, for its log
// line.
type reqInfo struct{ client string }

type reqInfoKey struct{}

// recorder keeps the status code of an answer. Unwrap lets the WebSocket
// library reach the http.Hijacker underneath.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// ServeHTTP implements http.Handler: it applies the per-IP rate limit,
// routes the request, and counts and logs it (route, status, duration,
// client; never bodies, signatures or keys).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &reqInfo{}
	r = r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, info))
	rec := &recorder{ResponseWriter: w}
	ip := remoteIP(r)
	ok, retry := true, time.Duration(0)
	if !exemptFromIPLimit(r.URL.Path) {
		ok, retry = s.ipLimits.allow(ip, s.Limits.IPRate, s.Limits.IPBurst, start)
	}
	if ok {
		s.mux.ServeHTTP(rec, r)
	} else {
		s.metrics.limitedIP.Add(1)
		tooMany(rec, retry, "too many requests from this address")
	}
	route := r.Pattern // set by the mux on r; empty when nothing matched
	if route == "" {
		route = "unmatched"
	}
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	d := time.Since(start)
	s.metrics.observe(route, rec.status, d.Seconds())
	attrs := []slog.Attr{slog.String("method", r.Method), slog.String("route", route),
		slog.Int("status", rec.status), slog.Duration("duration", d), slog.String("remote", ip)}
	if info.client != "" {
		attrs = append(attrs, slog.String("client", info.client))
	}
	s.Log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

// request is what an authenticated handler gets.
type request struct {
	*http.Request
	client string
	body   []byte
}

// httpError is an error with the status it answers.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func fail(status int, msg string) error { return &httpError{status, "mls: ds: " + msg} }

func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, fail(http.StatusRequestEntityTooLarge, "request body too large")
	} else if err != nil {
		return nil, fail(http.StatusBadRequest, "reading body: "+err.Error())
	}
	return body, nil
}

func (s *Server) authed(h func(http.ResponseWriter, *request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := s.readBody(w, r)
		if err == nil {
			var id string
			id, err = s.Auth.Authenticate(r, body)
			if errors.Is(err, ErrUnauthenticated) {
				err = &httpError{http.StatusUnauthorized, err.Error()}
			}
			if err == nil {
				if info, ok := r.Context().Value(reqInfoKey{}).(*reqInfo); ok {
					info.client = id
				}
				if ok, retry := s.clientLimits.allow(id, s.Limits.ClientRate, s.Limits.ClientBurst, time.Now()); !ok {
					s.metrics.limitedClient.Add(1)
					tooMany(w, retry, "too many requests from this client")
					return
				}
				err = h(w, &request{Request: r, client: id, body: body})
			}
		}
		s.answerError(w, r, err)
	}
}

// answerError writes err, if any, as a JSON error with its status.
func (s *Server) answerError(w http.ResponseWriter, r *http.Request, err error) {
	if err == nil {
		return
	}
	var he *httpError
	var conflict *EpochConflictError
	switch {
	case errors.As(err, &conflict):
		writeJSON(w, http.StatusConflict, map[string]any{"error": conflict.Error(), "epoch": conflict.Current})
		return
	case errors.As(err, &he):
	case errors.Is(err, ErrNotMember), errors.Is(err, ErrGroupFull):
		he = &httpError{http.StatusForbidden, err.Error()}
	case errors.Is(err, ErrQuota):
		he = &httpError{http.StatusInsufficientStorage, err.Error()}
	case errors.Is(err, ErrNotFound):
		he = &httpError{http.StatusNotFound, err.Error()}
	case r.Context().Err() != nil && errors.Is(err, r.Context().Err()):
		// The client went away (or the server is draining) mid-request:
		// no store failure. 499 is nginx's "client closed request"; the
		// request log records it, nobody reads the answer.
		he = &httpError{statusClientClosed, "mls: ds: request canceled"}
	default:
		// Everything else comes from the store (or the network under it).
		s.metrics.storeErrors.Add(1)
		s.Log.Error("request failed", "method", r.Method, "route", r.Pattern, "err", err)
		he = &httpError{http.StatusInternalServerError, "mls: ds: internal error"}
	}
	writeJSON(w, he.status, map[string]string{"error": he.msg})
}

// statusClientClosed is the status logged for a request whose client left.
const statusClientClosed = 499

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.Ready != nil {
		if err := s.Ready(r.Context()); err != nil {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
	}
	w.Write([]byte("ready\n"))
}

// RegisterRequest is the body of POST /v1/clients. The request is signed
// (SignRequest) with the key it registers, which proves possession; a
// registration for a user that has clients is also signed by one of them
// (VouchRequest). The
// wire types are defined once, in dsclient, for the server and its
// clients.
type RegisterRequest = dsclient.RegisterRequest

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		body, err := s.readBody(w, r)
		if err != nil {
			return err
		}
		var req RegisterRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return fail(http.StatusBadRequest, "bad JSON")
		}
		if req.ID == "" || len(req.ID) > 256 || req.User == "" || len(req.User) > 256 || req.ID != r.Header.Get(HeaderClient) {
			return fail(http.StatusBadRequest, "bad client id or user")
		}
		if _, err := ciphersuite.Lookup(ciphersuite.ID(req.Suite)); err != nil {
			return fail(http.StatusBadRequest, "unsupported cipher suite")
		}
		a := &SignatureAuth{Store: s.Store}
		if sa, ok := s.Auth.(*SignatureAuth); ok {
			a = sa
		}
		nonce, exp, err := a.verifyRequest(r, body, ciphersuite.ID(req.Suite), req.SignatureKey)
		if err != nil {
			return &httpError{http.StatusUnauthorized, err.Error()}
		}
		voucher := r.Header.Get(HeaderVoucher)
		if voucher != "" {
			if err := s.checkVoucher(r, body, voucher, req.User); err != nil {
				return err
			}
		}
		err = s.Store.CreateClient(r.Context(), &Client{ID: req.ID, User: req.User, Suite: req.Suite, SignatureKey: req.SignatureKey, VouchedBy: voucher})
		switch {
		case errors.Is(err, ErrExists):
			return fail(http.StatusConflict, "client id or signature key already registered")
		case errors.Is(err, ErrVoucherRequired):
			return fail(http.StatusForbidden, "the user has clients: one of them must vouch for a new one ("+HeaderVoucher+", "+HeaderVoucherSignature+")")
		case errors.Is(err, ErrBadVoucher):
			return fail(http.StatusForbidden, "the voucher is not a client of the user")
		case errors.Is(err, ErrTooManyClients):
			return fail(http.StatusForbidden, fmt.Sprintf("the user has %d clients, the most allowed", MaxClientsPerUser))
		case err != nil:
			return err
		}
		if err := a.useNonce(r.Context(), req.ID, nonce, exp); err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, map[string]string{"id": req.ID})
		return nil
	}()
	s.answerError(w, r, err)
}

// checkVoucher checks that voucher, the client vouching for the
// registration r of another client of user, is a registered client of
// user and signed the same request content (dsclient.VouchRequest). Its
// timestamp and nonce were checked with the new client's signature. The
// store checks the voucher's user again in its transaction; a client's
// user never changes, so the key read here is still the voucher's then.
func (s *Server) checkVoucher(r *http.Request, body []byte, voucher, user string) error {
	c, err := s.Store.Client(r.Context(), voucher)
	if errors.Is(err, ErrNotFound) {
		return fail(http.StatusForbidden, "the voucher is not a registered client")
	} else if err != nil {
		return err
	}
	if c.User != user {
		return fail(http.StatusForbidden, "the voucher is not a client of the user")
	}
	if err := verifyContent(r, body, HeaderVoucherSignature, ciphersuite.ID(c.Suite), c.SignatureKey); err != nil {
		return fail(http.StatusForbidden, "voucher: "+err.Error())
	}
	return nil
}

// KeyPackagesRequest is the body of POST /v1/keypackages: MLSMessages
// holding KeyPackages of the signing client. JSON carries the batch
// because MLS defines no list of messages; each entry is in the wire form.
type KeyPackagesRequest = dsclient.KeyPackagesRequest

func (s *Server) publish(w http.ResponseWriter, r *request) error {
	var req KeyPackagesRequest
	if err := json.Unmarshal(r.body, &req); err != nil {
		return fail(http.StatusBadRequest, "bad JSON")
	}
	if len(req.KeyPackages) == 0 || len(req.KeyPackages) > MaxBatch {
		return fail(http.StatusBadRequest, "batch must hold 1 to "+strconv.Itoa(MaxBatch)+" KeyPackages")
	}
	c, err := s.Store.Client(r.Context(), r.client)
	if err != nil {
		return err
	}
	kps := make([]KeyPackage, 0, len(req.KeyPackages))
	for i, data := range req.KeyPackages {
		var m mls.MLSMessage
		if err := m.UnmarshalBinary(data); err != nil || m.KeyPackage == nil {
			return fail(http.StatusBadRequest, "entry "+strconv.Itoa(i)+" is not a KeyPackage")
		}
		kp := m.KeyPackage
		if kp.CipherSuite != ciphersuite.ID(c.Suite) {
			return fail(http.StatusBadRequest, "entry "+strconv.Itoa(i)+": cipher suite is not the client's")
		}
		if !bytes.Equal(kp.LeafNode.SignatureKey, c.SignatureKey) {
			return fail(http.StatusBadRequest, "entry "+strconv.Itoa(i)+": signature key is not the client's")
		}
		if err := kp.Validate(kp.CipherSuite, nil); err != nil {
			return fail(http.StatusBadRequest, "entry "+strconv.Itoa(i)+": "+err.Error())
		}
		ref, err := kp.Ref()
		if err != nil {
			return fail(http.StatusBadRequest, "entry "+strconv.Itoa(i)+": "+err.Error())
		}
		kps = append(kps, KeyPackage{Ref: ref, ClientID: c.ID, Data: data, LastResort: kp.IsLastResort()})
	}
	if err := s.Store.AddKeyPackages(r.Context(), kps); err != nil {
		return err
	}
	n, err := s.Store.CountKeyPackages(r.Context(), c.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"count": n})
	return nil
}

func (s *Server) count(w http.ResponseWriter, r *request) error {
	n, err := s.Store.CountKeyPackages(r.Context(), r.client)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"count": n})
	return nil
}

// ClaimedKeyPackage is one entry of the answer to a claim.
type ClaimedKeyPackage = dsclient.ClaimedKeyPackage

func (s *Server) claim(w http.ResponseWriter, r *request) error {
	user := r.PathValue("user")
	now := time.Now()
	if ok, retry := s.claimLimits.allow("by:"+r.client, s.Limits.ClaimRate, s.Limits.ClaimBurst, now); !ok {
		s.metrics.limitedClaims.Add(1)
		tooMany(w, retry, "too many KeyPackage claims from this client")
		return nil
	}
	if ok, retry := s.claimLimits.allow("user:"+user, s.Limits.ClaimRate, s.Limits.ClaimBurst, now); !ok {
		s.metrics.limitedClaims.Add(1)
		tooMany(w, retry, "too many KeyPackage claims of this user")
		return nil
	}
	kps, err := s.Store.ClaimKeyPackages(r.Context(), user)
	if err != nil {
		return err
	}
	out := make([]ClaimedKeyPackage, 0, len(kps))
	for _, kp := range kps {
		out = append(out, ClaimedKeyPackage{Client: kp.ClientID, KeyPackage: kp.Data, LastResort: kp.LastResort})
	}
	writeJSON(w, http.StatusOK, map[string]any{"key_packages": out})
	return nil
}

// groupID decodes the {group} path element: the group id in unpadded
// base64url.
func groupID(r *request) ([]byte, error) {
	g, err := base64.RawURLEncoding.DecodeString(r.PathValue("group"))
	if err != nil || len(g) == 0 {
		return nil, fail(http.StatusBadRequest, "group must be a group id in unpadded base64url")
	}
	if len(g) > MaxGroupIDLen {
		return nil, fail(http.StatusBadRequest, "group id longer than "+strconv.Itoa(MaxGroupIDLen)+" bytes")
	}
	return g, nil
}

// framing is what the server can read of a handshake or application
// message without keys.
type framing struct {
	groupID     []byte
	epoch       uint64
	contentType mls.ContentType
	senderType  mls.SenderType // zero for a PrivateMessage (sender encrypted)
	leaf        uint32         // the sender's leaf, for a member sender
}

// checkLeaf refuses a PublicMessage from a member whose leaf is not the
// authenticated client's, when the server knows the client's leaf. A
// PrivateMessage hides its sender; the members check it.
func (s *Server) checkLeaf(r *request, gid []byte, f *framing) error {
	if f.senderType != mls.SenderTypeMember {
		return nil
	}
	leaf, known, err := s.Store.Leaf(r.Context(), gid, r.client)
	if err != nil {
		return err
	}
	if known && leaf != f.leaf {
		return fail(http.StatusForbidden, "the message's sender leaf is not the client's")
	}
	return nil
}

func readFraming(data []byte) (*framing, error) {
	var m mls.MLSMessage
	if err := m.UnmarshalBinary(data); err != nil {
		return nil, fail(http.StatusBadRequest, "not an MLSMessage: "+err.Error())
	}
	switch {
	case m.PublicMessage != nil:
		c := &m.PublicMessage.Content
		return &framing{c.GroupID, c.Epoch, c.ContentType, c.Sender.SenderType, uint32(c.Sender.LeafIndex)}, nil
	case m.PrivateMessage != nil:
		p := m.PrivateMessage
		return &framing{p.GroupID, p.Epoch, p.ContentType, 0, 0}, nil
	}
	return nil, fail(http.StatusBadRequest, "not a PublicMessage or PrivateMessage")
}

// CommitBundle is the body of POST /v1/groups/{group}/commit: the commit
// and, optionally, the Welcome of the members it adds and the GroupInfo of
// the new epoch, each an MLSMessage in the wire form. JSON carries them
// because MLS defines no bundle.
type CommitBundle = dsclient.CommitBundle

func (s *Server) commit(w http.ResponseWriter, r *request) error {
	gid, err := groupID(r)
	if err != nil {
		return err
	}
	var b CommitBundle
	if err := json.Unmarshal(r.body, &b); err != nil {
		return fail(http.StatusBadRequest, "bad JSON")
	}
	f, err := readFraming(b.Commit)
	if err != nil {
		return err
	}
	if f.contentType != mls.ContentTypeCommit {
		return fail(http.StatusBadRequest, "commit is not a commit")
	}
	if !bytes.Equal(f.groupID, gid) {
		return fail(http.StatusBadRequest, "commit is for another group")
	}
	c := &Commit{GroupID: gid, Epoch: f.epoch, Sender: r.client, Commit: b.Commit,
		External: f.senderType == mls.SenderTypeNewMemberCommit, Quota: s.Quota}
	o, _, err := s.loadObserver(r.Context(), gid)
	if err != nil {
		return err
	}
	var m mls.MLSMessage
	if err := m.UnmarshalBinary(b.Commit); err != nil {
		return fail(http.StatusBadRequest, "not an MLSMessage")
	}
	switch {
	case o != nil:
		c.Welcome = b.Welcome
		err = s.commitVerified(r, o, c, &m, b.GroupInfo)
	case f.epoch == 0 && !c.External && m.PublicMessage != nil:
		// A new group, unless it exists unverified (AcceptCommit then
		// answers with its epoch).
		c.Welcome = b.Welcome
		err = s.createVerified(r, c, b.GroupInfo)
	case !s.AllowUnverified:
		err = fail(http.StatusBadRequest, "this server verifies every group: handshakes must be PublicMessages, and a group is created with the GroupInfo of its epoch 1")
	default:
		err = s.commitUnverified(r, gid, f, &b, c)
	}
	if err != nil {
		return err
	}
	return s.accept(w, r, c)
}

// accept stores the checked commit c and wakes its recipients.
func (s *Server) accept(w http.ResponseWriter, r *request, c *Commit) error {
	// AcceptCommit says whom it delivered to: the members of the old
	// epoch, removed ones included, and the new ones (the Welcome).
	epoch, recipients, err := s.Store.AcceptCommit(r.Context(), c)
	var conflict *EpochConflictError
	if errors.As(err, &conflict) {
		s.metrics.commitsConflicted.Add(1)
	}
	if err != nil {
		return err
	}
	s.metrics.commitsAccepted.Add(1)
	s.Log.Debug("commit accepted", "epoch", epoch, "sender", r.client)
	s.notify(recipients...)
	writeJSON(w, http.StatusOK, map[string]uint64{"epoch": epoch})
	return nil
}

// commitUnverified checks a commit of an unverified group (one whose
// handshakes are PrivateMessages, Server.AllowUnverified) as far as the
// wire form shows: see README, "Delivery Service modes".
func (s *Server) commitUnverified(r *request, gid []byte, f *framing, b *CommitBundle, c *Commit) error {
	// Only members commit, except by external commit, which the server
	// verifies against the group's latest GroupInfo; it makes the sender
	// a member. Epoch 0 is a group's creation. The store checks
	// membership again inside its transaction.
	if c.External {
		if err := s.checkExternalCommit(r, gid, f, b.Commit); err != nil {
			return err
		}
	}
	ok, err := s.Store.IsMember(r.Context(), gid, r.client)
	if err != nil {
		return err
	}
	if !ok && f.epoch != 0 && !c.External {
		return ErrNotMember
	}
	if ok {
		if err := s.checkLeaf(r, gid, f); err != nil {
			return err
		}
	}
	// The epoch, one query, before anything that costs per new member or
	// per leaf: a commit that lost its race is refused at once. The store
	// checks it again in its transaction.
	if err := s.checkEpoch(r, gid, f.epoch); err != nil {
		var conflict *EpochConflictError
		if errors.As(err, &conflict) {
			s.metrics.commitsConflicted.Add(1)
		}
		return err
	}
	if b.Welcome != nil {
		owners, err := s.welcomeOwners(r, b.Welcome)
		if err != nil {
			return err
		}
		c.NewMembers = append(c.NewMembers, owners...)
		c.Welcome = b.Welcome
	}
	if b.GroupInfo != nil {
		if c.Leaves, err = s.checkGroupInfo(r, b.GroupInfo, gid, f.epoch+1); err != nil {
			return err
		}
		c.GroupInfo = b.GroupInfo
	}
	return nil
}

// checkEpoch refuses a commit of another epoch than the group's current
// one, and one of epoch 0 (a creation) for a group that exists.
func (s *Server) checkEpoch(r *request, gid []byte, epoch uint64) error {
	cur, err := s.Store.Epoch(r.Context(), gid)
	if errors.Is(err, ErrNotFound) {
		if epoch == 0 {
			return nil
		}
		return err
	} else if err != nil {
		return err
	}
	if epoch != cur {
		return &EpochConflictError{Current: cur}
	}
	return nil
}

// checkExternalCommit checks an external commit (RFC 9420 section
// 12.4.3.2) as far as the group's public state allows: it is a
// PublicMessage (a joiner has no keys to encrypt with) of the group's
// current epoch; the group's latest GroupInfo is of that epoch and
// offers external_pub; the signature over the FramedContentTBS, which
// includes that GroupContext, verifies with the signature key of the
// LeafNode in the commit's path (mls.ProtectionContext.UnprotectPublic);
// that key is the authenticated client's, so nobody joins with another's
// commit; and the commit holds exactly one ExternalInit. The members check
// the rest (the path, the confirmation tag) when they process it.
func (s *Server) checkExternalCommit(r *request, gid []byte, f *framing, data []byte) error {
	var m mls.MLSMessage
	if err := m.UnmarshalBinary(data); err != nil || m.PublicMessage == nil {
		return fail(http.StatusBadRequest, "an external commit must be a PublicMessage")
	}
	cur, err := s.Store.Epoch(r.Context(), gid)
	if err != nil {
		return err
	}
	if f.epoch != cur {
		return &EpochConflictError{Current: cur}
	}
	giData, err := s.Store.LatestGroupInfo(r.Context(), gid)
	if errors.Is(err, ErrNotFound) {
		return fail(http.StatusBadRequest, "the group has no GroupInfo to check an external commit against")
	} else if err != nil {
		return err
	}
	var gm mls.MLSMessage
	if err := gm.UnmarshalBinary(giData); err != nil || gm.GroupInfo == nil {
		return fmt.Errorf("mls: ds: stored GroupInfo of a group does not parse: %v", err)
	}
	gi := gm.GroupInfo
	if !bytes.Equal(gi.GroupContext.GroupID, gid) || gi.GroupContext.Epoch != cur {
		return fail(http.StatusBadRequest, "the group's latest GroupInfo is not of its current epoch (its last commit came without one)")
	}
	if _, ok := gi.Extensions.Find(mls.ExtensionTypeExternalPub); !ok {
		return fail(http.StatusForbidden, "the group's GroupInfo offers no external_pub: it takes no external commits")
	}
	pc, err := mls.NewProtectionContext(&gi.GroupContext, nil, nil, nil)
	if err != nil {
		return fail(http.StatusBadRequest, "the group's GroupInfo: "+err.Error())
	}
	ac, err := pc.UnprotectPublic(m.PublicMessage, nil)
	if err != nil {
		return fail(http.StatusBadRequest, "external commit does not verify: "+err.Error())
	}
	commit := ac.Content.Commit
	cl, err := s.Store.Client(r.Context(), r.client)
	if err != nil {
		return err
	}
	if !bytes.Equal(commit.Path.LeafNode.SignatureKey, cl.SignatureKey) {
		return fail(http.StatusForbidden, "the external commit's leaf is not the client's signature key")
	}
	inits := 0
	for _, p := range commit.Proposals {
		if p.Proposal != nil && p.Proposal.ExternalInit != nil {
			inits++
		}
	}
	if inits != 1 {
		return fail(http.StatusBadRequest, "an external commit must hold exactly one ExternalInit proposal")
	}
	return nil
}

// checkGroupInfo checks a GroupInfo is of the group, of the epoch the
// commit makes, and signed by the committer. When it carries the ratchet
// tree, it returns the registered clients in the tree with their leaves:
// the member set of the new epoch.
func (s *Server) checkGroupInfo(r *request, data, gid []byte, epoch uint64) (map[string]uint32, error) {
	var m mls.MLSMessage
	if err := m.UnmarshalBinary(data); err != nil || m.GroupInfo == nil {
		return nil, fail(http.StatusBadRequest, "group_info is not a GroupInfo")
	}
	gc := &m.GroupInfo.GroupContext
	if !bytes.Equal(gc.GroupID, gid) || gc.Epoch != epoch {
		return nil, fail(http.StatusBadRequest, "group_info is not of the group's next epoch")
	}
	c, err := s.Store.Client(r.Context(), r.client)
	if err != nil {
		return nil, err
	}
	if err := m.GroupInfo.Verify(c.SignatureKey); err != nil {
		return nil, fail(http.StatusBadRequest, "group_info is not signed by the committer")
	}
	ext, ok := m.GroupInfo.Extensions.Find(mls.ExtensionTypeRatchetTree)
	if !ok {
		return nil, nil
	}
	var tree mls.TreeNodes
	if err := tree.UnmarshalBinary(ext.ExtensionData); err != nil {
		return nil, fail(http.StatusBadRequest, "group_info has a malformed ratchet tree")
	}
	leaves := map[string]uint32{}
	// Leaves are at the even node indices (RFC 9420 appendix C).
	for i := 0; i < len(tree); i += 2 {
		if tree[i] == nil || tree[i].Leaf == nil {
			continue
		}
		id, err := s.Store.ClientByKey(r.Context(), tree[i].Leaf.SignatureKey)
		if errors.Is(err, ErrNotFound) {
			continue // a member who is no client of this server
		} else if err != nil {
			return nil, err
		}
		leaves[id] = uint32(i / 2)
	}
	if _, ok := leaves[r.client]; !ok {
		return nil, fail(http.StatusBadRequest, "group_info's tree does not hold the committer")
	}
	return leaves, nil
}

func (s *Server) message(w http.ResponseWriter, r *request) error {
	gid, err := groupID(r)
	if err != nil {
		return err
	}
	f, err := readFraming(r.body)
	if err != nil {
		return err
	}
	if f.contentType == mls.ContentTypeCommit {
		return fail(http.StatusBadRequest, "commits go to the commit endpoint")
	}
	if !bytes.Equal(f.groupID, gid) {
		return fail(http.StatusBadRequest, "message is for another group")
	}
	// Membership is checked in the delivering transaction (and a
	// PublicMessage's leaf lookup refuses a non-member already). In a
	// verified group, the observer checks and caches a proposal first.
	if f.contentType == mls.ContentTypeProposal {
		var m mls.MLSMessage
		if err := m.UnmarshalBinary(r.body); err != nil {
			return fail(http.StatusBadRequest, "not an MLSMessage")
		}
		if err := s.proposalVerified(r, gid, &m); err != nil {
			return err
		}
	}
	if err := s.checkLeaf(r, gid, f); err != nil {
		return err
	}
	// The epoch is checked and the message delivered in one transaction,
	// so a commit accepted meanwhile cannot leave it too old to decrypt.
	// The store wakes the readers (Waker); its log holds one copy.
	n, err := s.Store.SendToGroup(r.Context(), &GroupMessage{GroupID: gid, Sender: r.client,
		Epoch: f.epoch, Window: s.EpochWindow, Data: r.body, Quota: s.Quota})
	var conflict *EpochConflictError
	if errors.As(err, &conflict) {
		writeJSON(w, http.StatusConflict, map[string]any{"error": "mls: ds: message epoch out of range", "epoch": conflict.Current})
		return nil
	} else if err != nil {
		return err
	}
	s.metrics.messagesAccepted.Add(1)
	s.metrics.delivered.Add(uint64(n))
	if s.waker == nil {
		s.notifyAll()
	}
	writeJSON(w, http.StatusOK, map[string]int{"delivered": n})
	return nil
}

func (s *Server) groupInfo(w http.ResponseWriter, r *request) error {
	gid, err := groupID(r)
	if err != nil {
		return err
	}
	ok, err := s.Store.IsMember(r.Context(), gid, r.client)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotMember
	}
	gi, err := s.Store.LatestGroupInfo(r.Context(), gid)
	if err != nil {
		return err
	}
	// Only the current epoch's GroupInfo serves an external join: an
	// older one (the last commit came without one) would only produce a
	// commit of a past epoch. ?reset=1 asks for it all the same, to
	// reset an unverified group to it (POST .../reset).
	epoch, err := s.Store.Epoch(r.Context(), gid)
	if err != nil {
		return err
	}
	var m mls.MLSMessage
	if err := m.UnmarshalBinary(gi); err != nil || m.GroupInfo == nil || (m.GroupInfo.GroupContext.Epoch != epoch && r.URL.Query().Get("reset") != "1") {
		return fail(http.StatusNotFound, "the group has no GroupInfo of its current epoch (its last commit came without one)")
	}
	w.Header().Set("Content-Type", ContentTypeMLS)
	w.Write(gi)
	return nil
}

// InboxMessage is one entry of GET /v1/inbox: an MLSMessage in the wire
// form with its sequence number.
type InboxMessage = dsclient.InboxMessage

func (s *Server) inbox(w http.ResponseWriter, r *request) error {
	q := r.URL.Query()
	var after uint64
	var wait time.Duration
	var err error
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			return fail(http.StatusBadRequest, "bad after")
		}
	}
	if v := q.Get("wait"); v != "" {
		if wait, err = time.ParseDuration(v); err != nil || wait < 0 {
			return fail(http.StatusBadRequest, "bad wait")
		}
	}
	wait = min(wait, s.MaxWait)
	if wait > 0 {
		if !s.openStream(r.client) {
			s.metrics.limitedStreams.Add(1)
			tooMany(w, time.Second, "too many open long polls and WebSockets")
			return nil
		}
		defer s.closeStream(r.client)
		s.metrics.longPolls.Add(1)
		defer s.metrics.longPolls.Add(-1)
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick, stopTick := s.pollTicker()
	defer stopTick()
	var sg streamGroups
	for {
		// Take the wake-up channel before reading, so a delivery between
		// the read and the wait is not missed.
		wake, release, err := s.waiter(r.Context(), r.client, &sg)
		if err != nil {
			return err
		}
		msgs, err := s.Store.Inbox(r.Context(), r.client, after, inboxPage)
		if err != nil {
			release()
			return err
		}
		if len(msgs) > 0 || wait == 0 {
			release()
			out := make([]InboxMessage, 0, len(msgs))
			for _, m := range msgs {
				out = append(out, InboxMessage{Seq: m.Seq, Message: m.Data})
			}
			writeJSON(w, http.StatusOK, map[string]any{"messages": out})
			return nil
		}
		// The store's reports wake the waiter; the poll tick, only with
		// a store that does not report other processes' deliveries
		// (SQLite shared by processes), catches those. A draining server
		// answers at once (with nothing), so long polls do not hold its
		// shutdown.
		select {
		case <-wake:
		case <-tick:
		case <-deadline.C:
			wait = 0
		case <-s.draining:
			wait = 0
		case <-r.Context().Done():
			release()
			return nil
		}
		release()
	}
}

// pollTicker returns the channel of the poll tick: nil (never) when the
// store reports every process's deliveries or PollInterval is negative.
func (s *Server) pollTicker() (<-chan time.Time, func()) {
	if (s.waker != nil && s.waker.WakesAcrossProcesses()) || s.PollInterval < 0 {
		return nil, func() {}
	}
	d := s.PollInterval
	if d == 0 {
		d = DefaultPollInterval
	}
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// AckRequest is the body of POST /v1/inbox/ack: every message up to and
// including Seq is deleted from the client's inbox.
type AckRequest = dsclient.AckRequest

func (s *Server) ack(w http.ResponseWriter, r *request) error {
	var req AckRequest
	if err := json.Unmarshal(r.body, &req); err != nil {
		return fail(http.StatusBadRequest, "bad JSON")
	}
	if err := s.Store.Ack(r.Context(), r.client, req.Seq); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// waiter is the wake-up channel of one client's waiting requests, and the
// groups whose logs it reads.
type waiter struct {
	ch     chan struct{}
	users  int
	groups []string
	// reload is set when the client itself was woken (its inbox grew,
	// maybe with a Welcome) or every waiter was: its groups may have
	// changed. A wake by a group leaves them as they were (a removed
	// member keeps reading its group's log up to its removal).
	reload bool
}

// streamGroups is what one waiting request keeps between its waits: the
// client's groups, loaded again only when a wake may have changed them.
type streamGroups struct {
	groups []string
	loaded bool
}

// waiter returns a channel closed at the next delivery to client, and a
// release to call when done waiting; the entry is dropped when its last
// user releases it, so the maps hold only clients waiting now. With a
// Waker store, a message to a group wakes exactly its waiting members:
// the client's groups are read once (one query), and again only after a
// wake of the client itself.
func (s *Server) waiter(ctx context.Context, client string, sg *streamGroups) (<-chan struct{}, func(), error) {
	s.mu.Lock()
	wt, ok := s.waiters[client]
	if ok {
		wt.users++
		s.mu.Unlock()
		return wt.ch, s.releaser(client, wt, sg), nil
	}
	s.mu.Unlock()
	if s.waker != nil && !sg.loaded {
		gs, err := s.waker.ClientGroups(ctx, client)
		if err != nil {
			return nil, nil, err
		}
		sg.groups = sg.groups[:0]
		for _, g := range gs {
			sg.groups = append(sg.groups, string(g))
		}
		sg.loaded = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if wt, ok = s.waiters[client]; !ok {
		// A delivery between the groups' read and now closes nothing:
		// the caller reads the store after this returns.
		wt = &waiter{ch: make(chan struct{}), groups: slices.Clone(sg.groups)}
		s.waiters[client] = wt
		for _, g := range wt.groups {
			m := s.groupWaiters[g]
			if m == nil {
				m = map[string]bool{}
				s.groupWaiters[g] = m
			}
			m[client] = true
		}
	}
	wt.users++
	return wt.ch, s.releaser(client, wt, sg), nil
}

func (s *Server) releaser(client string, wt *waiter, sg *streamGroups) func() {
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if wt.reload {
			sg.loaded = false
		}
		if wt.users--; wt.users == 0 && s.waiters[client] == wt {
			s.dropWaiterLocked(client, wt)
		}
	}
}

// dropWaiterLocked removes client's waiter from the maps; s.mu is held.
func (s *Server) dropWaiterLocked(client string, wt *waiter) {
	delete(s.waiters, client)
	for _, g := range wt.groups {
		if m := s.groupWaiters[g]; m != nil {
			delete(m, client)
			if len(m) == 0 {
				delete(s.groupWaiters, g)
			}
		}
	}
}

// wakeLocked wakes client's waiting requests, telling them to read its
// groups again when reload; s.mu is held.
func (s *Server) wakeLocked(client string, reload bool) {
	if wt, ok := s.waiters[client]; ok {
		wt.reload = reload
		close(wt.ch)
		s.dropWaiterLocked(client, wt)
	}
}

func (s *Server) notify(clients ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range clients {
		s.wakeLocked(c, true)
	}
}

// notifyAll wakes every waiting request.
func (s *Server) notifyAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.waiters {
		s.wakeLocked(c, true)
	}
}

// wake is the Waker subscription: it wakes the waiting members of the
// groups and the clients of w.
func (s *Server) wake(w Wake) {
	if w.All {
		s.notifyAll()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range w.Clients {
		s.wakeLocked(c, true)
	}
	for _, g := range w.Groups {
		for c := range s.groupWaiters[string(g)] {
			s.wakeLocked(c, false)
		}
	}
}
