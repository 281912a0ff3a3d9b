package app

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// inproc is the HTTP surfaces' channel to the gateway's gRPC service: a
// grpc.ClientConnInterface that runs every call through the very
// interceptor chain the gRPC server runs (metrics, recovery, load
// shedding, the door of the current generation: keys, limits, budgets,
// accounting, logs) and then the registered service handler, in the
// calling goroutine for unary calls.
//
// It replaces a client of the gateway's own gRPC listener. That loopback
// hop kept the guarantee the design asks for, that REST and OpenAI callers
// pass every interceptor gRPC callers pass, but cost each HTTP request a
// second HTTP/2 exchange: protobuf encoding both ways, framing, two
// goroutine hand-offs and four socket syscalls, about a third of the
// gateway's CPU per request and most of its added latency at 1,000
// requests/s (docs/BENCHMARKS.md). inproc keeps the guarantee by
// construction, since the server and the channel are built from one
// interceptor list, and drops the hop.
//
// What a call sees matches a call over the listener: the client's
// outgoing metadata as incoming metadata; its deadline and cancellation;
// grpc.Method, grpc.SetHeader, grpc.SendHeader and grpc.SetTrailer (a
// grpc.ServerTransportStream in the context); headers and trailers back
// through grpc.Header and grpc.Trailer call options or the stream's
// Header and Trailer; errors as status errors, a handler's plain error
// mapped as the gRPC server maps it; and the tracing stats handlers of
// both sides, so the trace keeps its client and server spans.
//
// Messages are not encoded: the request is handed to the service as it
// is, and each response is merged into the caller's message. The service
// must therefore not change a message after it returned or sent it, which
// server.Server never does: it builds a message per response.
type inproc struct {
	srv     any
	methods map[string]grpc.MethodHandler
	streams map[string]grpc.StreamDesc
	unary   grpc.UnaryServerInterceptor
	stream  grpc.StreamServerInterceptor
	// client and server are the stats handlers of the two sides; nil
	// when tracing is off.
	client, server stats.Handler
	// streams' handlers run in goroutines of their own, which a caller
	// may outlive by a little (it stops reading at the last response);
	// running counts them, for a graceful stop to wait on.
	running sync.WaitGroup
}

var _ grpc.ClientConnInterface = (*inproc)(nil)

// newInproc returns a channel to srv, the implementation of sd, through
// the given interceptor chains and stats handlers (either may be nil).
func newInproc(sd *grpc.ServiceDesc, srv any, unary grpc.UnaryServerInterceptor, stream grpc.StreamServerInterceptor, client, server stats.Handler) *inproc {
	c := &inproc{
		srv:     srv,
		methods: make(map[string]grpc.MethodHandler, len(sd.Methods)),
		streams: make(map[string]grpc.StreamDesc, len(sd.Streams)),
		unary:   unary,
		stream:  stream,
		client:  client,
		server:  server,
	}
	for _, m := range sd.Methods {
		c.methods["/"+sd.ServiceName+"/"+m.MethodName] = m.Handler
	}
	for _, s := range sd.Streams {
		c.streams["/"+sd.ServiceName+"/"+s.StreamName] = s
	}
	return c
}

// noDecode is the decoder given to a generated unary handler: inproc hands
// the caller's request to the interceptor chain itself (see Invoke), so
// the handler's own fresh message is never filled.
func noDecode(any) error { return nil }

// Invoke implements grpc.ClientConnInterface.
func (c *inproc) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) (err error) {
	handler, ok := c.methods[method]
	if !ok {
		return status.Errorf(codes.Unimplemented, "unknown method %s", method)
	}
	st := &callTransport{method: method}
	ctx, end := c.begin(ctx, st, false)
	defer func() { end(err) }()
	resp, err := handler(c.srv, ctx, noDecode, func(ctx context.Context, _ any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if c.unary == nil {
			return h(ctx, args)
		}
		return c.unary(ctx, args, info, h)
	})
	st.finish()
	deliver(st, opts)
	if err != nil {
		return toStatus(err)
	}
	return merge(reply, resp)
}

// NewStream implements grpc.ClientConnInterface for server-streaming
// methods, the only kind the gateway's service has: the handler runs in a
// goroutine of its own from here on, and the caller's first SendMsg gives
// it its request.
func (c *inproc) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	sd, ok := c.streams[method]
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "unknown method %s", method)
	}
	if sd.ClientStreams {
		return nil, status.Errorf(codes.Unimplemented, "method %s streams requests: the in-process channel carries unary and server-streaming calls", method)
	}
	st := &callTransport{method: method, sent: make(chan struct{})}
	sctx, cancel := context.WithCancel(ctx)
	sctx, end := c.begin(sctx, st, true)
	cs := &clientStream{
		ctx:  ctx,
		st:   st,
		req:  make(chan any, 1),
		out:  make(chan any, streamBuffer),
		done: make(chan struct{}),
	}
	ss := &serverStream{ctx: sctx, st: st, req: cs.req, out: cs.out}
	info := &grpc.StreamServerInfo{FullMethod: method, IsServerStream: true}
	c.running.Add(1)
	go func() {
		defer c.running.Done()
		defer cancel()
		var err error
		if c.stream == nil {
			err = sd.Handler(c.srv, ss)
		} else {
			err = c.stream(c.srv, ss, info, sd.Handler)
		}
		if err != nil {
			err = toStatus(err)
		}
		st.finish()
		cs.err = err
		// The spans end before the caller can see the end of the call.
		end(err)
		close(cs.done)
	}()
	return cs, nil
}

// wait waits until the handlers of every stream begun have returned, or
// ctx is done. Unary calls run in their callers' goroutines, which the
// HTTP server's own shutdown waits for.
func (c *inproc) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		c.running.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// streamBuffer is how many responses a stream's handler may send ahead of
// its caller, as a connection's flow-control window lets it on the wire.
const streamBuffer = 16

// begin starts a call on ctx: the client side's stats, the outgoing
// metadata turned incoming, the transport stream, and the server side's
// stats. end finishes both sides' stats with the call's error.
func (c *inproc) begin(ctx context.Context, st *callTransport, serverStreams bool) (_ context.Context, end func(error)) {
	start := time.Now()
	tag := &stats.RPCTagInfo{FullMethodName: st.method}
	var cctx context.Context
	if c.client != nil {
		cctx = c.client.TagRPC(ctx, tag)
		c.client.HandleRPC(cctx, &stats.Begin{Client: true, BeginTime: start, IsServerStream: serverStreams})
		ctx = cctx
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	ctx = metadata.NewIncomingContext(ctx, md)
	ctx = grpc.NewContextWithServerTransportStream(ctx, st)
	if c.server != nil {
		ctx = c.server.TagRPC(ctx, tag)
		c.server.HandleRPC(ctx, &stats.Begin{BeginTime: start, IsServerStream: serverStreams})
	}
	sctx := ctx
	return ctx, func(err error) {
		if c.server == nil && c.client == nil {
			return
		}
		e := &stats.End{BeginTime: start, EndTime: time.Now(), Error: err}
		if c.server != nil {
			c.server.HandleRPC(sctx, e)
		}
		if c.client != nil {
			ce := *e
			ce.Client = true
			c.client.HandleRPC(cctx, &ce)
		}
	}
}

// toStatus maps a handler's error as the gRPC server does: a status error
// stays, a context error becomes Canceled or DeadlineExceeded, anything
// else Unknown.
func toStatus(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.FromContextError(err).Err()
}

// merge copies the response src into the caller's message dst.
func merge(dst, src any) error {
	d, ok := dst.(proto.Message)
	s, ok2 := src.(proto.Message)
	if !ok || !ok2 {
		return status.Errorf(codes.Internal, "in-process call: messages %T and %T are not protobuf messages", dst, src)
	}
	if d.ProtoReflect().Descriptor() != s.ProtoReflect().Descriptor() {
		return status.Errorf(codes.Internal, "in-process call: response %T does not fit %T", src, dst)
	}
	proto.Merge(d, s)
	return nil
}

// deliver hands a finished unary call's header and trailer to the caller's
// grpc.Header and grpc.Trailer options.
func deliver(st *callTransport, opts []grpc.CallOption) {
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.HeaderCallOption:
			*o.HeaderAddr = st.headerCopy()
		case grpc.TrailerCallOption:
			*o.TrailerAddr = st.trailerCopy()
		}
	}
}

// errHeaderSent is what SetHeader and SendHeader return once the header
// went out, as on a real server stream.
var errHeaderSent = errors.New("transport: the stream is done or WriteHeader was already called")

// callTransport is a call's grpc.ServerTransportStream: the header and
// trailer its server side sets.
type callTransport struct {
	method string
	sent   chan struct{} // closed when the header went out; nil for unary calls

	mu         sync.Mutex
	header     metadata.MD
	trailer    metadata.MD
	headerSent bool
}

var _ grpc.ServerTransportStream = (*callTransport)(nil)

func (t *callTransport) Method() string { return t.method }

func (t *callTransport) SetHeader(md metadata.MD) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.headerSent {
		return errHeaderSent
	}
	t.header = metadata.Join(t.header, md)
	return nil
}

func (t *callTransport) SendHeader(md metadata.MD) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.headerSent {
		return errHeaderSent
	}
	t.header = metadata.Join(t.header, md)
	t.sendHeaderLocked()
	return nil
}

func (t *callTransport) SetTrailer(md metadata.MD) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.trailer = metadata.Join(t.trailer, md)
	return nil
}

// sendHeader sends the header, if it has not gone out yet: before the
// first response and at the end of the call.
func (t *callTransport) sendHeader() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sendHeaderLocked()
}

func (t *callTransport) sendHeaderLocked() {
	if t.headerSent {
		return
	}
	t.headerSent = true
	if t.sent != nil {
		close(t.sent)
	}
}

// finish ends the call's server side: the header goes out if it has not.
func (t *callTransport) finish() { t.sendHeader() }

func (t *callTransport) headerCopy() metadata.MD {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.header == nil {
		return metadata.MD{}
	}
	return t.header.Copy()
}

func (t *callTransport) trailerCopy() metadata.MD {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.trailer == nil {
		return metadata.MD{}
	}
	return t.trailer.Copy()
}

// serverStream is the service's side of an in-process stream.
type serverStream struct {
	ctx context.Context
	st  *callTransport
	req <-chan any
	out chan<- any
}

var _ grpc.ServerStream = (*serverStream)(nil)

func (s *serverStream) Context() context.Context        { return s.ctx }
func (s *serverStream) SetHeader(md metadata.MD) error  { return s.st.SetHeader(md) }
func (s *serverStream) SendHeader(md metadata.MD) error { return s.st.SendHeader(md) }
func (s *serverStream) SetTrailer(md metadata.MD)       { _ = s.st.SetTrailer(md) }

func (s *serverStream) SendMsg(m any) error {
	s.st.sendHeader()
	select {
	case s.out <- m:
		return nil
	case <-s.ctx.Done():
		return status.FromContextError(s.ctx.Err()).Err()
	}
}

func (s *serverStream) RecvMsg(m any) error {
	select {
	case r, ok := <-s.req:
		if !ok {
			return io.EOF
		}
		if err := merge(m, r); err != nil {
			return err
		}
		return nil
	case <-s.ctx.Done():
		return status.FromContextError(s.ctx.Err()).Err()
	}
}

// clientStream is the caller's side of an in-process stream.
type clientStream struct {
	ctx  context.Context
	st   *callTransport
	req  chan any
	out  chan any
	done chan struct{} // closed when the handler returned, after err is set
	err  error         // the handler's status error; nil: io.EOF

	sendMu sync.Mutex
	sent   bool
	closed bool
}

var _ grpc.ClientStream = (*clientStream)(nil)

func (s *clientStream) Context() context.Context { return s.ctx }

// Header waits for the server's header: sent, or the call ended.
func (s *clientStream) Header() (metadata.MD, error) {
	select {
	case <-s.st.sent:
	case <-s.done:
	case <-s.ctx.Done():
		return nil, status.FromContextError(s.ctx.Err()).Err()
	}
	return s.st.headerCopy(), nil
}

// Trailer returns the server's trailer; it is complete once RecvMsg
// returned an error or io.EOF.
func (s *clientStream) Trailer() metadata.MD {
	select {
	case <-s.done:
		return s.st.trailerCopy()
	default:
		return nil
	}
}

func (s *clientStream) CloseSend() error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.req)
	}
	return nil
}

// SendMsg hands the request to the handler. The method streams responses
// only, so a second request is refused, as a gRPC server refuses it.
func (s *clientStream) SendMsg(m any) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	switch {
	case s.closed:
		return status.Error(codes.Internal, "SendMsg called after CloseSend")
	case s.sent:
		return status.Errorf(codes.Internal, "method %s takes one request", s.st.method)
	}
	s.sent = true
	s.req <- m // the channel holds one: this never blocks
	return nil
}

// RecvMsg returns the next response, in the order sent; then io.EOF or
// the call's status error.
func (s *clientStream) RecvMsg(m any) error {
	select {
	case r := <-s.out:
		return merge(m, r)
	case <-s.done:
		// Responses sent before the handler returned come first.
		select {
		case r := <-s.out:
			return merge(m, r)
		default:
		}
		if s.err != nil {
			return s.err
		}
		return io.EOF
	case <-s.ctx.Done():
		return status.FromContextError(s.ctx.Err()).Err()
	}
}
