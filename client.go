// Command client is aioweb's load generator: a raw-TCP HTTP/1.1 client
// written on the standard library alone.
//
//	go run client.go -url http://127.0.0.1:8888/ -c 50 -d 5s
//	go run client.go --threads 8 --requests 100000
//	go run client.go -c 20 -d 10s -rate 5000 -json
//
// Each connection is one goroutine that writes pre-serialized request bytes
// and reads the answers with a small bufio-based parser that checks every
// response (status line, headers, framing by Content-Length or chunked).
// Latency goes into a log-linear histogram with a bounded relative error.
// Without -rate the load is a closed loop: a connection sends its next
// request when the previous answer has arrived, and latency is measured from
// the moment the request was written. With -rate the load is an open loop at
// a constant rate: request i is due at start + i/rate, and its latency is
// measured from that intended time, so a server that stalls cannot hide the
// stall by slowing the client down (no coordinated omission).
//
// client.py takes the same flags and prints the same report; see
// docs/clients.md.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	defaultURL      = "http://127.0.0.1:8888/"
	defaultConns    = 10
	defaultRequests = 10000
	defaultTimeout  = 5 * time.Second
	readBufferSize  = 64 << 10 // also the longest status or header line accepted
	maxHeaderLines  = 100
	allowRemoteEnv  = "AIOWEB_CLIENT_ALLOW_REMOTE"
)

// ---------------------------------------------------------------- flags

// headerList is the repeatable -H flag.
type headerList []string

func (h *headerList) String() string { return strings.Join(*h, ", ") }

func (h *headerList) Set(v string) error {
	name, _, ok := strings.Cut(v, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") {
		return fmt.Errorf("header %q is not \"Name: value\"", v)
	}
	*h = append(*h, v)
	return nil
}

// durationFlag accepts Go durations ("5s", "1m30s", "250ms") and plain
// seconds ("5", "0.5"), like client.py.
type durationFlag time.Duration

func (d *durationFlag) String() string { return time.Duration(*d).String() }

func (d *durationFlag) Set(v string) error {
	parsed, err := parseDuration(v)
	if err != nil {
		return err
	}
	*d = durationFlag(parsed)
	return nil
}

func parseDuration(v string) (time.Duration, error) {
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 || math.IsNaN(secs) || math.IsInf(secs, 0) {
			return 0, fmt.Errorf("duration %q is negative or not finite", v)
		}
		return time.Duration(secs * float64(time.Second)), nil
	}
	parsed, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want e.g. 5s, 500ms, 1m or plain seconds", v)
	}
	if parsed < 0 {
		return 0, fmt.Errorf("duration %q is negative", v)
	}
	return parsed, nil
}

// config is the parsed command line.
type config struct {
	URL       string
	Conns     int
	Requests  int64
	Duration  time.Duration
	Method    string
	Body      string
	BodyFile  string
	Headers   headerList
	KeepAlive bool
	Pipeline  int
	Rate      float64
	Timeout   time.Duration
	JSON      bool

	// derived by parseFlags
	addr       string // host:port to dial
	hostHeader string // the Host header
	target     string // the request-target: path and query
	body       []byte
}

// parseFlags reads the command line. --threads is an alias of -c and
// --requests of -n, the flag names of the original project; the flag
// package takes -x and --x alike.
func parseFlags(args []string, errOut io.Writer) (*config, error) {
	cfg := &config{Timeout: defaultTimeout}
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		fmt.Fprintf(errOut, "usage: go run client.go [flags] [URL]\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.URL, "url", defaultURL, "target URL, http:// only (a last positional argument works too)")
	fs.IntVar(&cfg.Conns, "c", defaultConns, "connections, one goroutine each")
	fs.IntVar(&cfg.Conns, "threads", defaultConns, "alias of -c")
	fs.Int64Var(&cfg.Requests, "n", 0, "total requests (default 10000 when -d is not given)")
	fs.Int64Var(&cfg.Requests, "requests", 0, "alias of -n")
	fs.Var((*durationFlag)(&cfg.Duration), "d", "duration, e.g. 5s or 5 (stops at whichever of -n/-d comes first)")
	fs.StringVar(&cfg.Method, "m", "GET", "request method")
	fs.StringVar(&cfg.Body, "body", "", "request body")
	fs.StringVar(&cfg.BodyFile, "body-file", "", "file whose content is the request body")
	fs.Var(&cfg.Headers, "H", "extra request header \"Name: value\" (repeatable)")
	fs.BoolVar(&cfg.KeepAlive, "keepalive", true, "reuse connections (-keepalive=false: one connection per request)")
	fs.IntVar(&cfg.Pipeline, "pipeline", 1, "requests written back to back on a connection before reading the answers")
	fs.Float64Var(&cfg.Rate, "rate", 0, "open loop: total requests per second, latency from each intended send time (0: closed loop)")
	fs.Var((*durationFlag)(&cfg.Timeout), "timeout", "per-request timeout (and connect timeout)")
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object instead of the text report")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	urlSet := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "url" {
			urlSet = true
		}
	})
	switch {
	case fs.NArg() == 1 && !urlSet:
		cfg.URL = fs.Arg(0)
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected arguments %q (flags go before a positional URL)", fs.Args())
	}
	if err := cfg.finish(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// finish checks the flags against each other and derives the request parts.
func (c *config) finish() error {
	switch {
	case c.Conns < 1:
		return errors.New("-c must be at least 1")
	case c.Requests < 0:
		return errors.New("-n must not be negative")
	case c.Pipeline < 1:
		return errors.New("-pipeline must be at least 1")
	case c.Pipeline > 1 && !c.KeepAlive:
		return errors.New("-pipeline needs keep-alive")
	case c.Pipeline > 1 && c.Rate > 0:
		return errors.New("-pipeline and -rate do not combine: the open loop sends one request at a time per connection")
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return errors.New("-rate must be a positive number of requests per second")
	case c.Timeout <= 0:
		return errors.New("-timeout must be positive")
	case c.Body != "" && c.BodyFile != "":
		return errors.New("give -body or -body-file, not both")
	case c.Method == "" || strings.ContainsAny(c.Method, " \t\r\n"):
		return fmt.Errorf("bad method %q", c.Method)
	}
	if c.Requests == 0 && c.Duration == 0 {
		c.Requests = defaultRequests
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("bad -url: %v", err)
	}
	if u.Scheme != "http" || u.Hostname() == "" {
		return fmt.Errorf("bad -url %q: want http://host[:port]/path", c.URL)
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	c.addr = net.JoinHostPort(u.Hostname(), port)
	c.hostHeader = u.Host
	c.target = u.RequestURI()
	c.body = []byte(c.Body)
	if c.BodyFile != "" {
		if c.body, err = os.ReadFile(c.BodyFile); err != nil {
			return err
		}
	}
	return nil
}

// buildRequest serializes the one request every connection sends.
func buildRequest(c *config) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", c.Method, c.target)
	has := map[string]bool{}
	for _, h := range c.Headers {
		name, _, _ := strings.Cut(h, ":")
		has[strings.ToLower(strings.TrimSpace(name))] = true
	}
	if !has["host"] {
		fmt.Fprintf(&b, "Host: %s\r\n", c.hostHeader)
	}
	if !has["user-agent"] {
		b.WriteString("User-Agent: aioweb-client/go\r\n")
	}
	if !has["content-length"] && !has["transfer-encoding"] {
		switch strings.ToUpper(c.Method) {
		case "POST", "PUT", "PATCH":
			fmt.Fprintf(&b, "Content-Length: %d\r\n", len(c.body))
		default:
			if len(c.body) > 0 {
				fmt.Fprintf(&b, "Content-Length: %d\r\n", len(c.body))
			}
		}
	}
	if !c.KeepAlive && !has["connection"] {
		b.WriteString("Connection: close\r\n")
	}
	for _, h := range c.Headers {
		name, value, _ := strings.Cut(h, ":")
		fmt.Fprintf(&b, "%s: %s\r\n", strings.TrimSpace(name), strings.TrimSpace(value))
	}
	b.WriteString("\r\n")
	b.Write(c.body)
	return b.Bytes()
}

// resolveLoopback resolves the target once, so that connections do not look
// it up again, and refuses a non-loopback address unless allowRemoteEnv is
// set: this tool sends load, and load belongs on your own machine.
func resolveLoopback(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return "", fmt.Errorf("cannot resolve %q: %v", host, err)
	}
	ip := ips[0]
	for _, candidate := range ips {
		if candidate.To4() != nil {
			ip = candidate
			break
		}
	}
	if !ip.IsLoopback() && os.Getenv(allowRemoteEnv) == "" {
		return "", fmt.Errorf("%s is not a loopback address; set %s=1 to load another machine", ip, allowRemoteEnv)
	}
	return net.JoinHostPort(ip.String(), port), nil
}

// ---------------------------------------------------------------- parser

// badResponse is a response that breaks HTTP/1.1's syntax or framing.
type badResponse string

func (e badResponse) Error() string { return "bad response: " + string(e) }

// response is what readResponse learnt about one response.
type response struct {
	status    int
	bodyBytes int64
	close     bool // the connection cannot carry another request
}

// readResponse reads one final response from r, skipping interim (1xx)
// ones. It returns io.EOF if the connection closed before the first byte,
// io.ErrUnexpectedEOF if it closed inside the response, a badResponse for a
// malformed one, or the connection's own error.
func readResponse(r *bufio.Reader, head bool, resp *response) error {
	for {
		if err := readOne(r, head, resp); err != nil {
			return err
		}
		if resp.status >= 200 || resp.status == 101 {
			return nil
		}
	}
}

func readLine(r *bufio.Reader, what string) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err == nil {
		n := len(line)
		if n < 2 || line[n-2] != '\r' {
			return nil, badResponse(what + " not ended by CRLF")
		}
		return line[:n-2], nil
	}
	switch {
	case err == bufio.ErrBufferFull:
		return nil, badResponse(what + " too long")
	case err == io.EOF && len(line) > 0:
		return nil, io.ErrUnexpectedEOF
	}
	return nil, err
}

func readOne(r *bufio.Reader, head bool, resp *response) error {
	line, err := r.ReadSlice('\n')
	if err != nil {
		if err == io.EOF && len(line) == 0 {
			return io.EOF
		}
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err == bufio.ErrBufferFull {
			return badResponse("status line too long")
		}
		return err
	}
	status, http10, err := parseStatusLine(line)
	if err != nil {
		return err
	}
	resp.status = status
	resp.bodyBytes = 0
	resp.close = http10
	contentLength := int64(-1)
	chunked, closeDelimited := false, false
	for i := 0; ; i++ {
		if i == maxHeaderLines {
			return badResponse("too many header lines")
		}
		line, err := readLine(r, "header line")
		if err != nil {
			return err
		}
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return badResponse(fmt.Sprintf("header line %q has no name and colon", clip(line)))
		}
		name := line[:colon]
		if hasSpace(name) {
			return badResponse(fmt.Sprintf("header name %q has white space", clip(name)))
		}
		value := bytes.TrimSpace(line[colon+1:])
		switch len(name) {
		case 14:
			if lowerEq(name, "content-length") {
				n, ok := parseDecimal(value)
				if !ok {
					return badResponse(fmt.Sprintf("Content-Length %q", clip(value)))
				}
				if contentLength >= 0 && contentLength != n {
					return badResponse("two different Content-Length headers")
				}
				contentLength = n
			}
		case 17:
			if lowerEq(name, "transfer-encoding") {
				last := value
				if i := bytes.LastIndexByte(value, ','); i >= 0 {
					last = bytes.TrimSpace(value[i+1:])
				}
				if len(last) == 7 && lowerEq(last, "chunked") {
					chunked = true
				} else {
					closeDelimited = true // RFC 9112 6.3: read until close
				}
			}
		case 10:
			if lowerEq(name, "connection") {
				if hasToken(value, "close") {
					resp.close = true
				} else if hasToken(value, "keep-alive") && http10 {
					resp.close = false
				}
			}
		}
	}
	switch {
	case status == 101: // the connection now speaks another protocol
		resp.close = true
	case head || status < 200 || status == 204 || status == 304:
		// no body, whatever the headers say
	case (chunked || closeDelimited) && contentLength >= 0:
		return badResponse("both Transfer-Encoding and Content-Length")
	case chunked:
		return readChunked(r, resp)
	case contentLength >= 0:
		n, err := r.Discard(int(contentLength))
		resp.bodyBytes = int64(n)
		if err == io.EOF {
			return io.ErrUnexpectedEOF // body shorter than Content-Length
		}
		return err
	default: // body delimited by the end of the connection
		n, err := io.Copy(io.Discard, r)
		resp.bodyBytes = n
		resp.close = true
		return err
	}
	return nil
}

// parseStatusLine checks "HTTP/1.x SSS[ reason]\r\n".
func parseStatusLine(line []byte) (status int, http10 bool, err error) {
	n := len(line)
	if n < 14 || line[n-2] != '\r' || !bytes.HasPrefix(line, []byte("HTTP/1.")) ||
		(line[7] != '0' && line[7] != '1') || line[8] != ' ' {
		return 0, false, badResponse(fmt.Sprintf("status line %q", clip(line)))
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, false, badResponse(fmt.Sprintf("status code in %q", clip(line)))
		}
		status = status*10 + int(c-'0')
	}
	if status < 100 || (line[12] != ' ' && n != 14) {
		return 0, false, badResponse(fmt.Sprintf("status line %q", clip(line)))
	}
	return status, line[7] == '0', nil
}

func readChunked(r *bufio.Reader, resp *response) error {
	for {
		line, err := readLine(r, "chunk size line")
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i] // chunk extensions are ignored
		}
		line = bytes.TrimRight(line, " \t")
		size, ok := parseHex(line)
		if !ok {
			return badResponse(fmt.Sprintf("chunk size %q", clip(line)))
		}
		if size == 0 {
			break
		}
		n, err := r.Discard(int(size))
		resp.bodyBytes += int64(n)
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
		crlf, err := r.Peek(2)
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
		if crlf[0] != '\r' || crlf[1] != '\n' {
			return badResponse("chunk data not followed by CRLF")
		}
		_, _ = r.Discard(2)
	}
	for i := 0; ; i++ { // trailer section
		if i == maxHeaderLines {
			return badResponse("too many trailer lines")
		}
		line, err := readLine(r, "trailer line")
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
		if bytes.IndexByte(line, ':') <= 0 {
			return badResponse(fmt.Sprintf("trailer line %q", clip(line)))
		}
	}
}

// lowerEq reports whether b equals the lower-case ASCII s, ignoring case.
func lowerEq(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func hasSpace(b []byte) bool {
	for _, c := range b {
		if c == ' ' || c == '\t' {
			return true
		}
	}
	return false
}

// hasToken reports whether the comma-separated list v holds token t.
func hasToken(v []byte, t string) bool {
	for len(v) > 0 {
		var item []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			item, v = v[:i], v[i+1:]
		} else {
			item, v = v, nil
		}
		if lowerEq(bytes.TrimSpace(item), t) {
			return true
		}
	}
	return false
}

func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func parseHex(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 12 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | int64(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		case 'A' <= c && c <= 'F':
			n = n<<4 | int64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

func clip(b []byte) string {
	b = bytes.TrimRight(b, "\r\n")
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// ---------------------------------------------------------------- histogram

// The histogram is log-linear, like HdrHistogram: values below 2^(histP+1)
// nanoseconds have a bucket each; above that, every power-of-two range is
// cut into 2^histP equal buckets. A bucket's width is at most 2^-histP of
// its lower bound, and a percentile is reported as its bucket's midpoint, so
// the relative error of a reported percentile is at most 2^-(histP+1)
// (0.2% for histP = 8). min, max and mean are exact. client.py uses the
// same buckets, so the two merge and compare exactly.
const (
	histP        = 8
	histMaxShift = 33 // values are clamped below 2^(histP+1+histMaxShift) ns, about 73 minutes
	histBuckets  = (histMaxShift + 2) << histP
	histMaxValue = int64(1)<<(histP+1+histMaxShift) - 1
)

type histogram struct {
	counts   [histBuckets]int64
	total    int64
	sum      int64
	min, max int64
}

func bucketIndex(v int64) int {
	if v < 0 {
		v = 0
	} else if v > histMaxValue {
		v = histMaxValue
	}
	shift := bits.Len64(uint64(v)) - histP - 1
	if shift < 0 {
		shift = 0
	}
	return shift<<histP + int(v>>uint(shift))
}

// bucketRange is the lowest value of bucket i and the bucket's width.
func bucketRange(i int) (lo, width int64) {
	if i < 2<<histP {
		return int64(i), 1
	}
	shift := uint(i>>histP) - 1
	mantissa := int64(i) - int64(shift)<<histP
	return mantissa << shift, int64(1) << shift
}

func (h *histogram) record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[bucketIndex(v)]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.total++
	h.sum += v
}

func (h *histogram) merge(o *histogram) {
	if o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.total += o.total
	h.sum += o.sum
}

// percentile is the value at rank ceil(q/100 * total), q in [0, 100].
func (h *histogram) percentile(q float64) int64 {
	if h.total == 0 {
		return 0
	}
	rank := int64(math.Ceil(q / 100 * float64(h.total)))
	if rank < 1 {
		return h.min
	}
	if rank >= h.total {
		return h.max
	}
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, width := bucketRange(i)
			v := lo + width/2
			if v < h.min {
				v = h.min
			}
			if v > h.max {
				v = h.max
			}
			return v
		}
	}
	return h.max
}

// ---------------------------------------------------------------- errors

const (
	errConnect = iota
	errReset
	errTimeout
	errBadResponse
	errOther
	numKinds
)

var kindNames = [numKinds]string{"connect", "reset", "timeout", "bad_response", "other"}

// classify names the kind of a failed request's error.
func classify(err error) int {
	var bad badResponse
	var netErr net.Error
	switch {
	case errors.As(err, &bad), errors.Is(err, io.ErrUnexpectedEOF):
		return errBadResponse
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return errTimeout
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ECONNABORTED):
		return errReset
	case errors.Is(err, syscall.ECONNREFUSED):
		return errConnect
	}
	return errOther
}

// ---------------------------------------------------------------- workers

// stats is one connection's tally; merged at the end.
type stats struct {
	hist       histogram
	status     [1000]int64
	errs       [numKinds]int64
	unfinished int64
	bytesRead  int64
	progress   atomic.Int64 // responses and errors, read by the progress line
	_          [64]byte
}

type runner struct {
	cfg      *config
	addr     string
	reqs     []byte // cfg.Pipeline copies of the request
	reqLen   int
	head     bool
	start    time.Time
	end      time.Time // zero without -d
	interval float64   // ns between intended sends, with -rate

	remaining atomic.Int64 // requests not yet claimed, with -n
	ticket    atomic.Int64 // next request number, with -rate
	ended     atomic.Bool  // -d is over
	stopped   atomic.Bool  // interrupted
	lastErr   atomic.Value // the last error seen, for the report
	workers   []*worker
}

type worker struct {
	r        *runner
	st       *stats
	conn     net.Conn
	br       *bufio.Reader
	cc       countingConn
	resp     response
	deadline time.Time // the connection's current deadline
}

// countingConn counts the bytes read from a connection.
type countingConn struct {
	net.Conn
	n *int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	*c.n += int64(n)
	return n, err
}

func newRunner(cfg *config, addr string) *runner {
	req := buildRequest(cfg)
	r := &runner{
		cfg:    cfg,
		addr:   addr,
		reqs:   bytes.Repeat(req, cfg.Pipeline),
		reqLen: len(req),
		head:   strings.EqualFold(cfg.Method, "HEAD"),
	}
	r.remaining.Store(cfg.Requests)
	if cfg.Rate > 0 {
		r.interval = 1e9 / cfg.Rate
	}
	for i := 0; i < cfg.Conns; i++ {
		w := &worker{r: r, st: &stats{}}
		w.cc.n = &w.st.bytesRead
		r.workers = append(r.workers, w)
	}
	return r
}

// claim takes up to k requests from the budget; 0 means stop.
func (r *runner) claim(k int) int {
	if r.stopped.Load() || r.ended.Load() {
		return 0
	}
	if r.cfg.Requests == 0 {
		return k
	}
	for {
		left := r.remaining.Load()
		if left <= 0 {
			return 0
		}
		take := int64(k)
		if take > left {
			take = left
		}
		if r.remaining.CompareAndSwap(left, left-take) {
			return int(take)
		}
	}
}

func (r *runner) unclaim(k int) {
	if k > 0 && r.cfg.Requests > 0 {
		r.remaining.Add(int64(k))
	}
}

// intended is the time request number i is due, with -rate.
func (r *runner) intended(i int64) time.Time {
	return r.start.Add(time.Duration(float64(i) * r.interval))
}

// dueBefore is how many requests the -rate schedule has due before t.
func (r *runner) dueBefore(t time.Time) int64 {
	d := t.Sub(r.start)
	if d <= 0 {
		return 0
	}
	n := int64(math.Ceil(float64(d) / r.interval))
	if r.cfg.Requests > 0 && n > r.cfg.Requests {
		n = r.cfg.Requests
	}
	return n
}

// run starts the workers and waits for them, with a live progress line on
// stderr if showProgress.
func (r *runner) run(showProgress bool) time.Duration {
	r.start = time.Now()
	if r.cfg.Duration > 0 {
		r.end = r.start.Add(r.cfg.Duration)
		timer := time.AfterFunc(r.cfg.Duration, func() { r.ended.Store(true) })
		defer timer.Stop()
	}
	done := make(chan struct{})
	var pg sync.WaitGroup
	if showProgress {
		pg.Add(1)
		go func() {
			defer pg.Done()
			r.progress(done)
		}()
	}
	var wg sync.WaitGroup
	for _, w := range r.workers {
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			if r.cfg.Rate > 0 {
				w.runOpen()
			} else {
				w.runClosed()
			}
			w.close()
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(r.start)
	close(done)
	pg.Wait()
	if r.cfg.Rate > 0 && !r.end.IsZero() && !r.stopped.Load() {
		r.accountBacklog()
	}
	return elapsed
}

// accountBacklog counts the requests that the -rate schedule had due
// before the end but that no connection was free to send: those older than
// -timeout at the end are timeouts, the others unfinished. Leaving them out
// would hide a stall.
func (r *runner) accountBacklog() {
	claimed := r.ticket.Load()
	due := r.dueBefore(r.end)
	if claimed >= due {
		return
	}
	late := r.dueBefore(r.end.Add(-r.cfg.Timeout)) - claimed
	if late < 0 {
		late = 0
	}
	st := r.workers[0].st
	st.errs[errTimeout] += late
	st.unfinished += due - claimed - late
}

func (w *worker) dial() error {
	conn, err := net.DialTimeout("tcp", w.r.addr, w.r.cfg.Timeout)
	if err != nil {
		return err
	}
	w.conn = conn
	w.cc.Conn = conn
	w.deadline = time.Time{}
	if w.br == nil {
		w.br = bufio.NewReaderSize(&w.cc, readBufferSize)
	} else {
		w.br.Reset(&w.cc)
	}
	return nil
}

func (w *worker) close() {
	if w.conn != nil {
		_ = w.conn.Close()
		w.conn = nil
	}
}

// connectFailed counts a failed connect and waits a little before the next
// try, so that a closed port yields errors, not a busy loop.
func (w *worker) connectFailed(err error) {
	w.st.errs[errConnect]++
	w.st.progress.Add(1)
	w.r.lastErr.Store(err.Error())
	pause := 10 * time.Millisecond
	if !w.r.end.IsZero() {
		if left := time.Until(w.r.end); left < pause {
			pause = left
		}
	}
	if pause > 0 {
		time.Sleep(pause)
	}
}

// failed counts n requests lost to err on the current connection, which it
// closes. A timeout cut short by the end of a -d run is not the server's
// fault: those requests are unfinished, unless they were already older
// than -timeout.
func (w *worker) failed(err error, n int, since time.Time) {
	w.close()
	kind := classify(err)
	if kind == errTimeout && !w.r.end.IsZero() && !time.Now().Before(w.r.end) {
		w.r.ended.Store(true) // maybe before the timer says so
		if time.Since(since) < w.r.cfg.Timeout {
			w.st.unfinished += int64(n)
			return
		}
	}
	if w.r.stopped.Load() {
		w.st.unfinished += int64(n)
		return
	}
	w.st.errs[kind] += int64(n)
	w.st.progress.Add(int64(n))
	w.r.lastErr.Store(err.Error())
}

// setDeadline makes sure that the connection's deadline is between
// since+timeout and since+1.5*timeout, or the end of a -d run if that comes
// first. Moving a deadline costs a timer update in the runtime, so it is
// moved only every timeout/2 or so, not for every request; a request thus
// times out after between 1 and 1.5 times -timeout.
func (w *worker) setDeadline(since time.Time) {
	timeout, end := w.r.cfg.Timeout, w.r.end
	need := since.Add(timeout)
	if !end.IsZero() && need.After(end) {
		need = end
	}
	if !w.deadline.Before(need) {
		return
	}
	w.deadline = since.Add(timeout + timeout/2)
	if !end.IsZero() && w.deadline.After(end) {
		w.deadline = end
	}
	_ = w.conn.SetDeadline(w.deadline)
}

// runClosed is the closed loop: write a batch of -pipeline requests, read
// their answers, repeat.
func (w *worker) runClosed() {
	r := w.r
	for {
		k := r.claim(r.cfg.Pipeline)
		if k == 0 {
			return
		}
		if w.conn == nil {
			if err := w.dial(); err != nil {
				r.unclaim(k - 1)
				w.connectFailed(err)
				continue
			}
		}
		sent := time.Now()
		w.setDeadline(sent)
		if _, err := w.conn.Write(r.reqs[:k*r.reqLen]); err != nil {
			w.failed(err, k, sent)
			continue
		}
		for i := 0; i < k; i++ {
			if err := readResponse(w.br, r.head, &w.resp); err != nil {
				w.failed(err, k-i, sent)
				break
			}
			w.st.hist.record(int64(time.Since(sent)))
			w.st.status[w.resp.status]++
			w.st.progress.Add(1)
			if w.resp.close {
				// The server ends the connection: the requests written
				// after this one go back to the budget.
				w.close()
				r.unclaim(k - i - 1)
				break
			}
		}
		if !r.cfg.KeepAlive {
			w.close()
		}
	}
}

// runOpen is the open loop: take the next request number, wait for its
// intended time, send it, and measure from the intended time. If every
// connection is busy when a request falls due, it is sent late and its
// latency includes the wait.
func (w *worker) runOpen() {
	r := w.r
	for {
		if r.stopped.Load() || (!r.end.IsZero() && !time.Now().Before(r.end)) {
			return
		}
		i := r.ticket.Add(1) - 1
		if r.cfg.Requests > 0 && i >= r.cfg.Requests {
			return
		}
		due := r.intended(i)
		if !r.end.IsZero() && !due.Before(r.end) {
			return
		}
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		if time.Since(due) >= r.cfg.Timeout {
			// Due so long ago that it has timed out before it could leave.
			w.st.errs[errTimeout]++
			w.st.progress.Add(1)
			continue
		}
		if w.conn == nil {
			if err := w.dial(); err != nil {
				w.connectFailed(err)
				continue
			}
		}
		w.setDeadline(due)
		if _, err := w.conn.Write(r.reqs[:r.reqLen]); err != nil {
			w.failed(err, 1, due)
			continue
		}
		if err := readResponse(w.br, r.head, &w.resp); err != nil {
			w.failed(err, 1, due)
			continue
		}
		w.st.hist.record(int64(time.Since(due)))
		w.st.status[w.resp.status]++
		w.st.progress.Add(1)
		if w.resp.close || !r.cfg.KeepAlive {
			w.close()
		}
	}
}

// ---------------------------------------------------------------- report

type latencyReport struct {
	Min  float64 `json:"min"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99.9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// report is the -json object; client.py prints the same keys in the same
// order.
type report struct {
	Client       string           `json:"client"`
	URL          string           `json:"url"`
	Method       string           `json:"method"`
	Connections  int              `json:"connections"`
	KeepAlive    bool             `json:"keepalive"`
	Pipeline     int              `json:"pipeline"`
	RateTarget   float64          `json:"rate_target"`
	Requests     int64            `json:"requests"`
	Errors       int64            `json:"errors"`
	Unfinished   int64            `json:"unfinished"`
	DurationS    float64          `json:"duration_s"`
	Rate         float64          `json:"rate"`
	LatencyMS    latencyReport    `json:"latency_ms"`
	Status       map[string]int64 `json:"status"`
	ErrorsByKind map[string]int64 `json:"errors_by_kind"`
	BytesRead    int64            `json:"bytes_read"`
	LastError    string           `json:"last_error"`
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

func ms(ns int64) float64 { return round3(float64(ns) / 1e6) }

func (r *runner) report(elapsed time.Duration) *report {
	total := &stats{}
	for _, w := range r.workers {
		total.hist.merge(&w.st.hist)
		for i, c := range w.st.status {
			total.status[i] += c
		}
		for i, c := range w.st.errs {
			total.errs[i] += c
		}
		total.unfinished += w.st.unfinished
		total.bytesRead += w.st.bytesRead
	}
	h := &total.hist
	rep := &report{
		Client:       "go",
		URL:          r.cfg.URL,
		Method:       r.cfg.Method,
		Connections:  r.cfg.Conns,
		KeepAlive:    r.cfg.KeepAlive,
		Pipeline:     r.cfg.Pipeline,
		RateTarget:   r.cfg.Rate,
		Requests:     h.total,
		Unfinished:   total.unfinished,
		DurationS:    round3(elapsed.Seconds()),
		Status:       map[string]int64{},
		ErrorsByKind: map[string]int64{},
		BytesRead:    total.bytesRead,
	}
	if secs := elapsed.Seconds(); secs > 0 {
		rep.Rate = round3(float64(h.total) / secs)
	}
	if h.total > 0 {
		rep.LatencyMS = latencyReport{
			Min: ms(h.min), P50: ms(h.percentile(50)), P90: ms(h.percentile(90)),
			P99: ms(h.percentile(99)), P999: ms(h.percentile(99.9)), Max: ms(h.max),
			Mean: round3(float64(h.sum) / float64(h.total) / 1e6),
		}
	}
	for code, c := range total.status {
		if c > 0 {
			rep.Status[strconv.Itoa(code)] = c
		}
	}
	for i, c := range total.errs {
		rep.ErrorsByKind[kindNames[i]] = c
		rep.Errors += c
	}
	if s, ok := r.lastErr.Load().(string); ok {
		rep.LastError = s
	}
	return rep
}

func fmtNum(x float64) string { return strconv.FormatFloat(x, 'f', 3, 64) }

// writeText prints the report for people; client.py prints it byte for
// byte the same way.
func (rep *report) writeText(out io.Writer) {
	mode := "closed loop"
	if rep.RateTarget > 0 {
		mode = "open loop at " + fmtNum(rep.RateTarget) + " req/s"
	}
	ka := "keep-alive"
	if !rep.KeepAlive {
		ka = "no keep-alive"
	}
	codes := make([]string, 0, len(rep.Status))
	for code := range rep.Status {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	status := make([]string, 0, len(codes))
	for _, code := range codes {
		status = append(status, fmt.Sprintf("%s=%d", code, rep.Status[code]))
	}
	if len(status) == 0 {
		status = append(status, "none")
	}
	kinds := make([]string, 0, numKinds)
	for _, name := range kindNames {
		kinds = append(kinds, fmt.Sprintf("%s=%d", name, rep.ErrorsByKind[name]))
	}
	l := rep.LatencyMS
	fmt.Fprintf(out, "target      %s %s (client %s)\n", rep.Method, rep.URL, rep.Client)
	fmt.Fprintf(out, "load        %d connections, %s, pipeline %d, %s\n", rep.Connections, ka, rep.Pipeline, mode)
	fmt.Fprintf(out, "requests    %d\n", rep.Requests)
	fmt.Fprintf(out, "duration    %s s\n", fmtNum(rep.DurationS))
	fmt.Fprintf(out, "rate        %s req/s\n", fmtNum(rep.Rate))
	fmt.Fprintf(out, "latency ms  min %s  p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s\n",
		fmtNum(l.Min), fmtNum(l.P50), fmtNum(l.P90), fmtNum(l.P99), fmtNum(l.P999), fmtNum(l.Max), fmtNum(l.Mean))
	fmt.Fprintf(out, "status      %s\n", strings.Join(status, " "))
	fmt.Fprintf(out, "errors      %d  %s\n", rep.Errors, strings.Join(kinds, " "))
	fmt.Fprintf(out, "unfinished  %d\n", rep.Unfinished)
	fmt.Fprintf(out, "bytes read  %d\n", rep.BytesRead)
	if rep.LastError != "" {
		fmt.Fprintf(out, "last error  %s\n", rep.LastError)
	}
}

// progress prints a live line on stderr until done is closed.
func (r *runner) progress(done <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last int64
	for {
		select {
		case <-done:
			fmt.Fprint(os.Stderr, "\r\033[K")
			return
		case <-tick.C:
			var n int64
			for _, w := range r.workers {
				n += w.st.progress.Load()
			}
			fmt.Fprintf(os.Stderr, "\r\033[K%6.1fs  %d done  %d req/s", time.Since(r.start).Seconds(), n, n-last)
			last = n
		}
	}
}

func isTerminal(f *os.File) bool {
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, out, errOut io.Writer) int {
	cfg, err := parseFlags(args, errOut)
	if err == flag.ErrHelp {
		return 0
	}
	if err != nil {
		fmt.Fprintf(errOut, "client: %v\n", err)
		return 2
	}
	addr, err := resolveLoopback(cfg.addr)
	if err != nil {
		fmt.Fprintf(errOut, "client: %v\n", err)
		return 2
	}
	r := newRunner(cfg, addr)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		if _, ok := <-sigs; ok {
			r.stopped.Store(true)
		}
	}()
	elapsed := r.run(isTerminal(os.Stderr))
	rep := r.report(elapsed)
	if cfg.JSON {
		enc := json.NewEncoder(out)
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(errOut, "client: %v\n", err)
			return 1
		}
	} else {
		rep.writeText(out)
	}
	return 0
}
