package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"math/rand"
	"net"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ---------------------------------------------------------------- parser

func parse(t *testing.T, raw string, head bool) (response, error) {
	t.Helper()
	var resp response
	err := readResponse(bufio.NewReaderSize(strings.NewReader(raw), 4096), head, &resp)
	return resp, err
}

func TestParserGoodResponses(t *testing.T) {
	cases := []struct {
		name   string
		raw    string
		head   bool
		status int
		body   int64
		close  bool
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, 200, 5, false},
		{"no reason phrase", "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", false, 404, 0, false},
		{"empty reason phrase", "HTTP/1.1 200 \r\ncontent-length: 2\r\n\r\nok", false, 200, 2, false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"5\r\nhello\r\n6;name=value\r\n world\r\nA \r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n", false, 200, 21, false},
		{"chunked, coding list", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", false, 200, 1, false},
		{"204 ignores length", "HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", false, 204, 0, false},
		{"304", "HTTP/1.1 304 Not Modified\r\n\r\n", false, 304, 0, false},
		{"HEAD has no body", "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", true, 200, 0, false},
		{"interim 100 skipped", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx", false, 201, 1, false},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n", false, 200, 0, true},
		{"HTTP/1.0 closes", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false, 200, 0, true},
		{"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", false, 200, 0, false},
		{"read until close", "HTTP/1.1 200 OK\r\n\r\nall of this", false, 200, 11, true},
		{"same length twice", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", false, 200, 1, false},
		{"101 switches", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", false, 101, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := parse(t, c.raw, c.head)
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if resp.status != c.status || resp.bodyBytes != c.body || resp.close != c.close {
				t.Fatalf("got status %d body %d close %v, want %d %d %v",
					resp.status, resp.bodyBytes, resp.close, c.status, c.body, c.close)
			}
		})
	}
}

func TestParserPipelinedResponses(t *testing.T) {
	raw := "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc" +
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ndef\r\n0\r\n\r\n" +
		"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"
	r := bufio.NewReader(strings.NewReader(raw))
	var resp response
	for i, want := range []int{200, 200, 500} {
		if err := readResponse(r, false, &resp); err != nil || resp.status != want {
			t.Fatalf("response %d: status %d error %v", i, resp.status, err)
		}
	}
	if err := readResponse(r, false, &resp); err != io.EOF {
		t.Fatalf("after the last response: %v, want io.EOF", err)
	}
}

func TestParserMalformedResponses(t *testing.T) {
	cases := []struct {
		name string
		raw  string
		kind int
	}{
		{"not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", errBadResponse},
		{"HTTP/2 status line", "HTTP/2.0 200 OK\r\n\r\n", errBadResponse},
		{"letters in status", "HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n", errBadResponse},
		{"status below 100", "HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n", errBadResponse},
		{"no space after code", "HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n", errBadResponse},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", errBadResponse},
		{"header without colon", "HTTP/1.1 200 OK\r\nContent-Length 0\r\n\r\n", errBadResponse},
		{"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", errBadResponse},
		{"obsolete line folding", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n", errBadResponse},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", errBadResponse},
		{"negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", errBadResponse},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", errBadResponse},
		{"length and chunked", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", errBadResponse},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", errBadResponse},
		{"chunk without CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", errBadResponse},
		{"chunk size overflow", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", errBadResponse},
		{"bad trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nnot a trailer\r\n\r\n", errBadResponse},
		{"truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", errBadResponse},
		{"truncated head", "HTTP/1.1 200 OK\r\nContent-Len", errBadResponse},
		{"truncated status line", "HTTP/1.1 20", errBadResponse},
		{"truncated chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", errBadResponse},
		{"too many headers", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X: y\r\n", maxHeaderLines+1) + "\r\n", errBadResponse},
		{"header line too long", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("y", 5000) + "\r\n\r\n", errBadResponse},
		{"closed before the response", "", errReset},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parse(t, c.raw, false)
			if err == nil {
				t.Fatal("accepted a malformed response")
			}
			if got := classify(err); got != c.kind {
				t.Fatalf("error %v classified %s, want %s", err, kindNames[got], kindNames[c.kind])
			}
		})
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		err  error
		kind int
	}{
		{&net.OpError{Op: "dial", Err: &osSyscallError{syscall.ECONNREFUSED}}, errConnect},
		{&net.OpError{Op: "read", Err: &osSyscallError{syscall.ECONNRESET}}, errReset},
		{&net.OpError{Op: "write", Err: &osSyscallError{syscall.EPIPE}}, errReset},
		{io.EOF, errReset},
		{io.ErrUnexpectedEOF, errBadResponse},
		{badResponse("x"), errBadResponse},
		{timeoutError{}, errTimeout},
		{errors.New("something else"), errOther},
	}
	for _, c := range cases {
		if got := classify(c.err); got != c.kind {
			t.Errorf("classify(%v) = %s, want %s", c.err, kindNames[got], kindNames[c.kind])
		}
	}
}

type osSyscallError struct{ errno syscall.Errno }

func (e *osSyscallError) Error() string { return e.errno.Error() }
func (e *osSyscallError) Unwrap() error { return e.errno }

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// ---------------------------------------------------------------- histogram

func TestBucketsCoverEveryValueOnce(t *testing.T) {
	prevHi := int64(-1)
	for i := 0; i < histBuckets; i++ {
		lo, width := bucketRange(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if lo >= 2<<histP && float64(width) > float64(lo)/(1<<histP) {
			t.Fatalf("bucket %d [%d, +%d) is wider than 2^-%d of its start", i, lo, width, histP)
		}
		if bucketIndex(lo) != i || bucketIndex(lo+width-1) != i {
			t.Fatalf("bucket %d: index(%d) = %d, index(%d) = %d", i, lo, bucketIndex(lo), lo+width-1, bucketIndex(lo+width-1))
		}
		prevHi = lo + width - 1
	}
	if prevHi != histMaxValue {
		t.Fatalf("the last bucket ends at %d, want %d", prevHi, histMaxValue)
	}
}

func TestPercentileErrorBound(t *testing.T) {
	bound := 1.0 / (2 << histP) // 2^-(histP+1)
	rng := rand.New(rand.NewSource(1))
	dists := map[string]func() int64{
		"uniform 0-1ms":         func() int64 { return rng.Int63n(1e6) },
		"exponential mean 50us": func() int64 { return int64(rng.ExpFloat64() * 5e4) },
		"log-uniform 1ns-100s":  func() int64 { return int64(math.Exp(rng.Float64() * math.Log(1e11))) },
		"bimodal":               func() int64 { return []int64{3e5, 2e8}[rng.Intn(2)] + rng.Int63n(1000) },
		"small exact values":    func() int64 { return rng.Int63n(600) },
	}
	for name, draw := range dists {
		t.Run(name, func(t *testing.T) {
			var h histogram
			values := make([]int64, 20000)
			for i := range values {
				values[i] = draw()
				h.record(values[i])
			}
			sort.Slice(values, func(i, j int) bool { return values[i] < values[j] })
			for _, q := range []float64{0, 1, 25, 50, 90, 99, 99.9, 99.99, 100} {
				rank := int(math.Ceil(q / 100 * float64(len(values))))
				if rank < 1 {
					rank = 1
				}
				exact := values[rank-1]
				got := h.percentile(q)
				if diff := math.Abs(float64(got - exact)); diff > bound*float64(exact) {
					t.Errorf("p%v = %d, exact %d: relative error %.5f > %.5f", q, got, exact, diff/float64(exact), bound)
				}
			}
			if h.percentile(0) != values[0] || h.percentile(100) != values[len(values)-1] {
				t.Errorf("min/max not exact")
			}
		})
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b, all histogram
	for i := int64(1); i <= 1000; i++ {
		v := i * i * 1000
		all.record(v)
		if i%3 == 0 {
			a.record(v)
		} else {
			b.record(v)
		}
	}
	a.merge(&b)
	if a.total != all.total || a.min != all.min || a.max != all.max || a.sum != all.sum || a.counts != all.counts {
		t.Fatal("merge differs from recording everything in one histogram")
	}
	var empty histogram
	if empty.percentile(50) != 0 {
		t.Fatal("empty histogram percentile not 0")
	}
}

// ---------------------------------------------------------------- flags

func mustParse(t *testing.T, args ...string) *config {
	t.Helper()
	cfg, err := parseFlags(args, io.Discard)
	if err != nil {
		t.Fatalf("parseFlags(%q): %v", args, err)
	}
	return cfg
}

func TestFlagAliases(t *testing.T) {
	for _, args := range [][]string{
		{"--threads", "7", "--requests", "123"},
		{"-threads=7", "-requests=123"},
		{"-c", "7", "-n", "123"},
		{"--c=7", "--n", "123"},
	} {
		cfg := mustParse(t, args...)
		if cfg.Conns != 7 || cfg.Requests != 123 {
			t.Errorf("%q: conns %d requests %d, want 7 123", args, cfg.Conns, cfg.Requests)
		}
	}
}

func TestFlagDefaultsAndForms(t *testing.T) {
	cfg := mustParse(t)
	if cfg.Conns != defaultConns || cfg.Requests != defaultRequests || !cfg.KeepAlive ||
		cfg.Pipeline != 1 || cfg.Timeout != defaultTimeout || cfg.addr != "127.0.0.1:8888" || cfg.target != "/" {
		t.Fatalf("defaults: %+v", cfg)
	}
	cfg = mustParse(t, "-d", "5")
	if cfg.Duration != 5*time.Second || cfg.Requests != 0 {
		t.Fatalf("-d 5: duration %v requests %d", cfg.Duration, cfg.Requests)
	}
	for in, want := range map[string]time.Duration{"250ms": 250 * time.Millisecond, "1m30s": 90 * time.Second, "0.5": 500 * time.Millisecond} {
		if cfg = mustParse(t, "-d", in); cfg.Duration != want {
			t.Errorf("-d %s = %v, want %v", in, cfg.Duration, want)
		}
	}
	cfg = mustParse(t, "-keepalive=false", "-H", "X-A: 1", "-H", "X-B: 2", "-m", "POST", "-body", "hi", "http://localhost:9000/p?q=1")
	if cfg.KeepAlive || len(cfg.Headers) != 2 || cfg.addr != "localhost:9000" || cfg.target != "/p?q=1" {
		t.Fatalf("parsed %+v", cfg)
	}
	req := string(buildRequest(cfg))
	for _, want := range []string{"POST /p?q=1 HTTP/1.1\r\n", "Host: localhost:9000\r\n", "Content-Length: 2\r\n",
		"Connection: close\r\n", "X-A: 1\r\n", "X-B: 2\r\n"} {
		if !strings.Contains(req, want) {
			t.Errorf("request %q lacks %q", req, want)
		}
	}
	if !strings.HasSuffix(req, "\r\n\r\nhi") {
		t.Errorf("request %q does not end with the body", req)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-c", "0"},
		{"-pipeline", "4", "-keepalive=false"},
		{"-pipeline", "4", "-rate", "100"},
		{"-url", "https://127.0.0.1/"},
		{"-H", "no colon"},
		{"-d", "soon"},
		{"-body", "x", "-body-file", "y"},
		{"-timeout", "0"},
		{"http://a/", "http://b/"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func TestResolveLoopback(t *testing.T) {
	if addr, err := resolveLoopback("localhost:80"); err != nil || !strings.HasSuffix(addr, ":80") {
		t.Fatalf("localhost: %q %v", addr, err)
	}
	t.Setenv(allowRemoteEnv, "")
	if _, err := resolveLoopback("192.0.2.1:80"); err == nil {
		t.Fatal("a non-loopback address was accepted")
	}
}

// ---------------------------------------------------------------- end to end

// testServer answers every request it reads with canned bytes; handler may
// replace that per request (n counts from 0 over all connections).
type testServer struct {
	ln      net.Listener
	mu      sync.Mutex
	n       int
	handler func(n int, c net.Conn) bool // false: close the connection
	wg      sync.WaitGroup
}

func newTestServer(t *testing.T, handler func(n int, c net.Conn) bool) *testServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{ln: ln, handler: handler}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go s.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *testServer) serve(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for { // a request head; these tests send no bodies
			line, err := r.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) == 2 {
				break
			}
		}
		s.mu.Lock()
		n := s.n
		s.n++
		s.mu.Unlock()
		if !s.handler(n, c) {
			return
		}
	}
}

func (s *testServer) url() string { return "http://" + s.ln.Addr().String() + "/" }

func ok(_ int, c net.Conn) bool {
	_, err := c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
	return err == nil
}

func runClient(t *testing.T, args ...string) *report {
	t.Helper()
	cfg := mustParse(t, args...)
	addr, err := resolveLoopback(cfg.addr)
	if err != nil {
		t.Fatal(err)
	}
	r := newRunner(cfg, addr)
	return r.report(r.run(false))
}

func TestEndToEndKeepAliveAndPipeline(t *testing.T) {
	s := newTestServer(t, ok)
	for _, args := range [][]string{
		{"-c", "8", "-n", "500"},
		{"-c", "4", "-n", "501", "-pipeline", "8"},
		{"-c", "4", "-n", "50", "-keepalive=false"},
	} {
		rep := runClient(t, append(args, s.url())...)
		want := int64(500)
		switch args[3] {
		case "501":
			want = 501
		case "50":
			want = 50
		}
		if rep.Requests != want || rep.Errors != 0 || rep.Status["200"] != want || rep.Unfinished != 0 {
			t.Errorf("%q: %+v", args, rep)
		}
		if rep.BytesRead != want*43 {
			t.Errorf("%q: read %d bytes, want %d", args, rep.BytesRead, want*43)
		}
	}
}

func TestEndToEndConnectionCloseIsNotAnError(t *testing.T) {
	s := newTestServer(t, func(n int, c net.Conn) bool {
		_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))
		return false
	})
	rep := runClient(t, "-c", "3", "-n", "60", "-pipeline", "4", s.url())
	if rep.Requests != 60 || rep.Errors != 0 {
		t.Fatalf("%+v", rep)
	}
}

func TestEndToEndErrorKinds(t *testing.T) {
	reset := newTestServer(t, func(n int, c net.Conn) bool {
		_ = c.(*net.TCPConn).SetLinger(0)
		return false
	})
	bad := newTestServer(t, func(n int, c net.Conn) bool {
		_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n"))
		return true
	})
	stall := newTestServer(t, func(n int, c net.Conn) bool {
		time.Sleep(time.Second)
		return false
	})
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + closed.Addr().String() + "/"
	closed.Close()
	cases := []struct {
		url  string
		args []string
		kind string
	}{
		{reset.url(), []string{"-c", "2", "-n", "20"}, "reset"},
		{bad.url(), []string{"-c", "2", "-n", "20"}, "bad_response"},
		{stall.url(), []string{"-c", "2", "-n", "4", "-timeout", "200ms"}, "timeout"},
		{refused, []string{"-c", "2", "-n", "6"}, "connect"},
	}
	for _, c := range cases {
		rep := runClient(t, append(c.args, c.url)...)
		n := mustParse(t, c.args...).Requests
		if rep.Requests != 0 || rep.Errors != n || rep.ErrorsByKind[c.kind] != n || rep.LastError == "" {
			t.Errorf("%s: %+v", c.kind, rep)
		}
	}
}

// An open loop must see a server stall in its latencies: requests that fall
// due while every connection waits are timed from when they were due.
func TestOpenLoopSeesStall(t *testing.T) {
	start := time.Now()
	s := newTestServer(t, func(n int, c net.Conn) bool {
		if since := time.Since(start); since > 300*time.Millisecond && since < 600*time.Millisecond {
			time.Sleep(600*time.Millisecond - since)
		}
		return ok(n, c)
	})
	rep := runClient(t, "-c", "4", "-rate", "200", "-d", "1s", s.url())
	if rep.Errors != 0 || rep.Requests < 180 {
		t.Fatalf("%+v", rep)
	}
	// ~60 of ~200 requests fall due during the 300ms stall and wait for it.
	if rep.LatencyMS.P90 < 100 || rep.LatencyMS.Max < 200 {
		t.Fatalf("the stall is hidden: latency %+v", rep.LatencyMS)
	}
}

func TestOpenLoopAccountsBacklog(t *testing.T) {
	s := newTestServer(t, func(n int, c net.Conn) bool {
		time.Sleep(1200 * time.Millisecond)
		return false
	})
	rep := runClient(t, "-c", "2", "-rate", "100", "-d", "1s", "-timeout", "400ms", s.url())
	// 100 requests fall due; all time out or are unfinished at the end.
	if got := rep.Errors + rep.Unfinished; got < 95 || got > 101 || rep.Requests != 0 {
		t.Fatalf("errors %d unfinished %d: %+v", rep.Errors, rep.Unfinished, rep)
	}
	if rep.ErrorsByKind["timeout"] < 50 {
		t.Fatalf("want most requests timed out: %+v", rep)
	}
}

func TestReportText(t *testing.T) {
	s := newTestServer(t, ok)
	rep := runClient(t, "-c", "2", "-n", "10", s.url())
	var b bytes.Buffer
	rep.writeText(&b)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	prefixes := []string{"target ", "load ", "requests ", "duration ", "rate ", "latency ms ", "status ",
		"errors ", "unfinished ", "bytes read "}
	if len(lines) != len(prefixes) {
		t.Fatalf("report:\n%s", b.String())
	}
	for i, p := range prefixes {
		if !strings.HasPrefix(lines[i], p) {
			t.Errorf("line %d %q does not start with %q", i, lines[i], p)
		}
	}
	if !strings.Contains(b.String(), "status      200=10\n") {
		t.Errorf("report:\n%s", b.String())
	}
}
