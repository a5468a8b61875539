package prober

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// directHTTP sends one probe request on a connection of its own without
// net/http's Transport: it dials (Options.DialContext or the probe
// dialer), writes the request with http.Request.Write, reads the answer
// with http.ReadResponse and closes the connection, all on the calling
// goroutine. A Transport with
// keep-alives off does the same exchange but hands it between three
// goroutines per request, which is most of a probe's CPU besides the
// kernel's. Redirects are not followed here: the caller sends a probe
// answered with a redirect again through net/http's Client, which follows
// it with the kubelet's redirect policy.
type directHTTP struct {
	dial    dialFunc
	readers sync.Pool
	writers sync.Pool
}

// newDirectHTTP dials with dial, or the probe dialer when dial is nil.
func newDirectHTTP(dial dialFunc) *directHTTP {
	if dial == nil {
		dial = probeDialer().DialContext
	}
	return &directHTTP{
		dial:    dial,
		readers: sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }},
		writers: sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 1024) }},
	}
}

// do sends req and returns the status code, up to maxHTTPBody bytes of the
// body and the Location header.
func (d *directHTTP) do(ctx context.Context, req *http.Request) (code int, body []byte, location string, err error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Minute)
	}
	u := req.URL
	addr := u.Host
	conn, err := d.dial(ctx, "tcp", addr)
	if err != nil {
		return 0, nil, "", fmt.Errorf("get %s: %w", u.String(), err)
	}
	defer func() { _ = conn.Close() }()
	if err := conn.SetDeadline(deadline); err != nil {
		return 0, nil, "", err
	}
	if u.Scheme == "https" {
		tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, ServerName: u.Hostname()}) //nolint:gosec // as the kubelet: probes do not verify certificates
		if err := tc.HandshakeContext(ctx); err != nil {
			return 0, nil, "", fmt.Errorf("get %s: %w", u.String(), err)
		}
		conn = tc
	}
	br := d.readers.Get().(*bufio.Reader)
	br.Reset(conn)
	defer func() {
		br.Reset(nil)
		d.readers.Put(br)
	}()
	bw := d.writers.Get().(*bufio.Writer)
	bw.Reset(conn)
	err = req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	d.writers.Put(bw)
	if err != nil {
		return 0, nil, "", fmt.Errorf("get %s: %w", u.String(), err)
	}
	res, err := http.ReadResponse(br, req)
	if err != nil {
		return 0, nil, "", fmt.Errorf("get %s: %w", u.String(), err)
	}
	defer func() { _ = res.Body.Close() }()
	body, err = readAtMost(res.Body, maxHTTPBody)
	return res.StatusCode, body, res.Header.Get("Location"), err
}

// isRedirect reports whether net/http's Client would follow a response
// with this code and location.
func isRedirect(code int, location string) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return location != ""
	}
	return false
}
