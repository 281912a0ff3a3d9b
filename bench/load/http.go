package load

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// HTTPTarget is one HTTP request, sent again and again.
type HTTPTarget struct {
	// URL is the absolute URL to POST to. Required.
	URL string
	// Header is sent with every request; it is only read.
	Header http.Header
	// Body is the request body; it is only read.
	Body []byte
}

// maxIdleConns keeps enough idle connections for every request in flight
// to come back to, so that connections are reused rather than redialled.
const maxIdleConns = 20000

// NewHTTPClient returns the client of HTTPStream: HTTP/1.1 keep-alive
// connections (as many as there are requests in flight), no proxy, no
// compression, and the given overall timeout per request.
func NewHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        0,
			MaxIdleConnsPerHost: maxIdleConns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// RunHTTPUnary runs plan against t with vegeta's attacker, each request
// bounded by timeout. A request succeeds when it is answered 200 with a
// body holding "choices".
func RunHTTPUnary(ctx context.Context, plan Plan, t HTTPTarget, timeout time.Duration) ([]Sample, error) {
	if err := plan.validate(); err != nil {
		return nil, err
	}
	atk := vegeta.NewAttacker(
		vegeta.Timeout(timeout),
		vegeta.KeepAlive(true),
		vegeta.Connections(maxIdleConns),
		vegeta.Workers(64),
		vegeta.MaxWorkers(uint64(plan.maxInFlight())),
		vegeta.HTTP2(false),
	)
	targeter := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodPost, URL: t.URL, Header: t.Header, Body: t.Body})
	began := time.Now()
	results := atk.Attack(targeter, vegeta.ConstantPacer{Freq: plan.Rate, Per: time.Second}, plan.Warmup+plan.Duration, "")
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	samples := make([]Sample, 0, int(float64(plan.Rate)*plan.Duration.Seconds()*1.05)+16)
	for r := range results {
		start := r.Timestamp.Sub(began)
		if start < plan.Warmup {
			continue
		}
		s := Sample{Start: start - plan.Warmup, Latency: r.Latency}
		switch {
		case r.Error != "" && r.Code == 0:
			s.Err = shortError(r.Error)
		case r.Code != http.StatusOK:
			s.Err = "HTTP " + strconv.Itoa(int(r.Code))
		case !bytes.Contains(r.Body, choicesKey):
			s.Err = "HTTP 200 without choices"
		}
		samples = append(samples, s)
	}
	return samples, ctx.Err()
}

var choicesKey = []byte(`"choices"`)

// shortError trims the variable parts (addresses, ports) off a vegeta
// error string so that failures of one kind count together.
func shortError(msg string) string {
	switch {
	case bytes.Contains([]byte(msg), []byte("Client.Timeout")), bytes.Contains([]byte(msg), []byte("deadline exceeded")):
		return "timeout"
	case bytes.Contains([]byte(msg), []byte("connection refused")):
		return "connection refused"
	case bytes.Contains([]byte(msg), []byte("connection reset")):
		return "connection reset"
	case bytes.Contains([]byte(msg), []byte("EOF")):
		return "connection closed (EOF)"
	}
	if len(msg) > 160 {
		msg = msg[:160]
	}
	return msg
}

var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// HTTPStream returns a Doer that sends t, which must ask for a stream
// ("stream": true), with client and reads the server-sent events of the
// OpenAI chat completions format. A request succeeds when it is answered
// 200 and the stream holds at least one content chunk and ends with
// "data: [DONE]".
func HTTPStream(client *http.Client, t HTTPTarget) Doer {
	return func(ctx context.Context) Sample {
		began := time.Now()
		var s Sample
		err := httpStream(ctx, client, &t, began, &s)
		s.Latency = time.Since(began)
		if err != nil {
			s.Err = errorText(err)
		}
		return s
	}
}

var (
	dataPrefix = []byte("data:")
	doneData   = []byte("[DONE]")
	errorKey   = []byte(`"error"`)
)

func httpStream(ctx context.Context, client *http.Client, t *HTTPTarget, began time.Time, s *Sample) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(t.Body))
	if err != nil {
		return err
	}
	req.Header = t.Header
	resp, err := client.Do(req)
	if err != nil {
		return simplify(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	br := readers.Get().(*bufio.Reader)
	br.Reset(resp.Body)
	defer func() { br.Reset(nil); readers.Put(br) }()
	done := false
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 && bytes.HasPrefix(line, dataPrefix) {
			data := bytes.TrimSpace(line[len(dataPrefix):])
			switch {
			case bytes.Equal(data, doneData):
				done = true
			case hasContent(data):
				at := time.Since(began)
				if s.Chunks == 0 {
					s.TTFT = at
				}
				s.TTLT = at
				s.Chunks++
			case bytes.HasPrefix(data, []byte(`{"error"`)) || bytes.Contains(data, errorKey) && !bytes.Contains(data, choicesKey):
				return errors.New("error event in stream")
			}
		}
		switch {
		case err == io.EOF:
			if !done {
				return errors.New("stream ended without [DONE]")
			}
			if s.Chunks == 0 {
				return errors.New("stream without content")
			}
			return nil
		case errors.Is(err, bufio.ErrBufferFull):
			// A line longer than the buffer: skip the rest of it.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err != nil && err != io.EOF {
				return simplify(err)
			}
		case err != nil:
			return simplify(err)
		}
	}
}

// hasContent reports whether the JSON of a chat.completion.chunk carries
// non-empty text: a "content" key whose value is a non-empty string.
func hasContent(data []byte) bool {
	for {
		i := bytes.Index(data, contentKey)
		if i < 0 {
			return false
		}
		data = data[i+len(contentKey):]
		j := 0
		for j < len(data) && (data[j] == ' ' || data[j] == ':') {
			j++
		}
		if j+1 < len(data) && data[j] == '"' && data[j+1] != '"' {
			return true
		}
	}
}

var contentKey = []byte(`"content"`)

// simplify maps transport errors to stable messages.
func simplify(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return context.Canceled
	}
	return errors.New(shortError(err.Error()))
}
