//! The connection loop, top to bottom: read, parse heads, read bodies, dispatch, encode into
//! one reused write buffer, write once per batch, repeat.
//!
//! Pipelined requests are answered in order; at most [`MAX_PIPELINE`] are served per wake-up
//! so one connection cannot starve the others on its shard. Every protocol error is answered
//! (problem+json) and then the connection is closed after a short lingering read, so the
//! client gets the answer instead of a reset.
//!
//! A connection holds buffers only while it is busy. One that has waited [`PARK_AFTER`] for its
//! next request cancels its read (keeping whatever the cancelled read still returned), frees its
//! buffers and waits for readiness alone (a poll holds no buffer), as nginx does with its idle
//! keep-alive connections: an idle connection then costs its task and socket, not 16 KB.

use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::buf::IoBufMut;
use monoio::io::{
    AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, CancelableAsyncReadRent, Canceller,
};
use monoio::net::TcpStream;

use crate::access_log::Entry;
use crate::api_error::ApiError;
use crate::http::body::ChunkedDecoder;
use crate::http::response::{encode, EncodeContext};
use crate::http::{parse_head, BodyFraming, Method, ProtoError, RequestHead, Response, Version};
use crate::request::Request;
use crate::request_id;
use crate::router::{self, Route};
use crate::shard::timers::{yield_now, Deadline, Wake};
use crate::shard::Shard;

/// Requests served from one read before yielding (hyper caps its loop at 16 too).
pub const MAX_PIPELINE: usize = 16;
/// Bytes asked for per read.
const READ_CHUNK: usize = 8 * 1024;
/// How long a connection waits for its next request holding its buffers before it parks
/// (frees them and waits for readiness alone).
pub const PARK_AFTER: Duration = Duration::from_millis(200);
/// Once the shard drains, how long an idle keep-alive connection still waits for the request
/// its client may be sending at that moment (answered with `Connection: close`), instead of
/// being closed under it.
const DRAIN_IDLE_GRACE: Duration = Duration::from_secs(1);

/// The end of the drain grace for a wait that would otherwise last until `deadline`.
fn drain_grace(deadline: Instant) -> Instant {
    deadline.min(Instant::now() + DRAIN_IDLE_GRACE)
}

/// Linux's ECANCELED: what a read cancelled before any byte arrived ends with.
const ECANCELED: i32 = 125;
/// After an error response, how long to keep reading (and discarding) before closing.
const LINGER: Duration = Duration::from_millis(500);

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Counts a connection as open from accept until it is dropped. Created by the accept loop
/// (so the connection cap sees it at once) and moved into the connection's task.
pub struct OpenConnection(Rc<Shard>);

impl OpenConnection {
    /// Counts one more open connection on `shard`.
    pub fn new(shard: &Rc<Shard>) -> Self {
        shard.open_connections.set(shard.open_connections.get() + 1);
        OpenConnection(Rc::clone(shard))
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        let c = &self.0.open_connections;
        c.set(c.get().saturating_sub(1));
    }
}

/// Why a read stopped.
enum ReadEnd {
    /// Bytes arrived.
    Data,
    /// Peer closed or the socket failed.
    Closed,
    /// The deadline passed (or, draining, the grace).
    Timeout,
}

/// Reads more bytes onto the end of `buf`, until `deadline` (coarse, see `shard::timers`) or,
/// with `idle` (no request under way), until [`DRAIN_IDLE_GRACE`] after the shard starts
/// draining. On anything but `Data` the buffer may be gone (an io_uring read owns it until it
/// completes), so callers then only close.
async fn read_more(
    stream: &mut TcpStream,
    mut buf: Vec<u8>,
    timer: &Deadline,
    deadline: Instant,
    idle: bool,
) -> (ReadEnd, Vec<u8>) {
    if buf.capacity() - buf.len() < READ_CHUNK / 2 {
        buf.reserve(READ_CHUNK);
    }
    let len = buf.len();
    let cap = buf.capacity();
    timer.arm(Some(deadline), idle);
    let read = stream.read(buf.slice_mut(len..cap));
    let mut read = std::pin::pin!(read);
    loop {
        let woke = monoio::select! {
            (res, slice) = &mut read => {
                let buf = slice.into_inner();
                return match res {
                    Ok(0) | Err(_) => (ReadEnd::Closed, buf),
                    Ok(_) => (ReadEnd::Data, buf),
                };
            },
            wake = timer.wait() => wake,
        };
        match woke {
            Wake::Deadline => return (ReadEnd::Timeout, Vec::new()),
            // The read goes on: its bytes, if they come within the grace, are a request.
            Wake::Drain => timer.arm(Some(drain_grace(deadline)), false),
        }
    }
}

/// How an idle wait ended: with a read's outcome, or parked: the read was cancelled before any
/// byte came and its buffer is freed.
enum Idle {
    Done(ReadEnd, Vec<u8>),
    Parked,
}

/// Waits for the next request on an idle connection (`buf` empty) until `deadline`, or until
/// the shard starts draining. For [`PARK_AFTER`] it reads into `buf` as `read_more` does; then
/// it cancels that read: what the read returned, if it completed first, is kept; otherwise the
/// connection parks (`serve` waits for readiness holding no buffer).
async fn read_idle(
    stream: &mut TcpStream,
    mut buf: Vec<u8>,
    canceller: &mut Canceller,
    timer: &Deadline,
    now: Instant,
    deadline: Instant,
) -> Idle {
    let park_at = now + PARK_AFTER;
    if park_at >= deadline {
        let (end, buf) = read_more(stream, buf, timer, deadline, true).await;
        return Idle::Done(end, buf);
    }
    if buf.capacity() < READ_CHUNK / 2 {
        buf.reserve(READ_CHUNK);
    }
    let cap = buf.capacity();
    timer.arm(Some(park_at), true);
    let (res, slice) = {
        let read = stream.cancelable_read(buf.slice_mut(0..cap), canceller.handle());
        let mut read = std::pin::pin!(read);
        let mut grace = false;
        let done = loop {
            let woke = monoio::select! {
                (res, slice) = &mut read => break Some((res, slice)),
                wake = timer.wait() => wake,
            };
            match woke {
                // Draining: the read goes on for the grace (see `read_more`), then the
                // connection closes.
                Wake::Drain => {
                    grace = true;
                    timer.arm(Some(drain_grace(deadline)), false);
                }
                Wake::Deadline if grace => return Idle::Done(ReadEnd::Timeout, Vec::new()),
                Wake::Deadline => break None,
            }
        };
        match done {
            Some(done) => done,
            None => {
                // The read may have completed before the cancellation reached it: its result
                // comes back either way, so no byte is lost.
                *canceller = std::mem::take(canceller).cancel();
                read.await
            }
        }
    };
    let buf = slice.into_inner();
    match res {
        Ok(0) => return Idle::Done(ReadEnd::Closed, buf),
        Ok(_) => return Idle::Done(ReadEnd::Data, buf),
        Err(e) if e.raw_os_error() == Some(ECANCELED) => {}
        Err(_) => return Idle::Done(ReadEnd::Closed, buf),
    }
    drop(buf);
    Idle::Parked
}

/// Writes `buf` fully; returns it cleared for reuse, or `None` if the peer is gone.
async fn flush(stream: &mut TcpStream, buf: Vec<u8>) -> Option<Vec<u8>> {
    if buf.is_empty() {
        return Some(buf);
    }
    let (res, mut buf) = stream.write_all(buf).await;
    res.ok()?;
    buf.clear();
    Some(buf)
}

/// After an error: stop writing, read and discard briefly so our answer is not lost to a
/// reset caused by unread input, then close.
async fn linger_close(stream: &mut TcpStream) {
    let _ = stream.shutdown().await;
    let deadline = Instant::now() + LINGER;
    let mut buf = Vec::with_capacity(READ_CHUNK);
    let mut discarded = 0usize;
    while discarded < 1 << 20 {
        buf.clear();
        let len = buf.capacity();
        let r = monoio::time::timeout_at(deadline.into(), stream.read(buf.slice_mut(0..len))).await;
        match r {
            Ok((Ok(n), slice)) if n > 0 => {
                discarded += n;
                buf = slice.into_inner();
            }
            _ => return,
        }
    }
}

/// A request id: the client's (validated) or a generated one.
enum RequestIdBuf {
    Client([u8; request_id::MAX_LEN], usize),
    Generated([u8; 32]),
}

impl RequestIdBuf {
    fn from_head(shard: &Shard, buf: &[u8], head: Option<&RequestHead>) -> Self {
        if let Some(r) = head.and_then(|h| h.request_id.clone()) {
            let v = &buf[r];
            if request_id::is_well_formed(v) {
                let mut out = [0u8; request_id::MAX_LEN];
                out[..v.len()].copy_from_slice(v);
                return RequestIdBuf::Client(out, v.len());
            }
        }
        RequestIdBuf::Generated(shard.ids.borrow_mut().next_id())
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            RequestIdBuf::Client(b, n) => &b[..*n],
            RequestIdBuf::Generated(b) => b,
        }
    }

    fn as_str(&self) -> &str {
        // Both kinds are ASCII by construction.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

/// How a connection's active phase ended.
enum Phase {
    /// The connection is done (closed, failed, timed out or drained).
    Closed,
    /// Idle past [`PARK_AFTER`]: wait for readiness, holding nothing, until this deadline.
    Parked(Instant),
}

/// Serves one connection until it closes. While it is active (requests coming, or idle for
/// less than [`PARK_AFTER`]) it runs `active`, boxed, with its buffers and the handlers'
/// futures; once it parks, that box and the buffers are gone and only this small future waits
/// for the next bytes. A busy connection never leaves its active phase, so the box is made
/// once per wake-up from a park, not per request.
pub async fn serve(
    shard: Rc<Shard>,
    mut stream: TcpStream,
    open: OpenConnection,
    peer: std::net::IpAddr,
) {
    let _open = open;
    let timer = shard.timers.slot();
    let _ = stream.set_nodelay(true);
    let mut canceller = Canceller::new();
    loop {
        let phase = Box::pin(active(&shard, &mut stream, &timer, &mut canceller, peer)).await;
        let Phase::Parked(deadline) = phase else {
            return;
        };
        shard.metrics.borrow_mut().parked_total += 1;
        timer.arm(Some(deadline), true);
        let readable = stream.readable(false);
        let mut readable = std::pin::pin!(readable);
        loop {
            let woke = monoio::select! {
                ready = &mut readable => {
                    if ready.is_err() {
                        return;
                    }
                    break;
                },
                wake = timer.wait() => wake,
            };
            match woke {
                Wake::Deadline => return,
                Wake::Drain => timer.arm(Some(drain_grace(deadline)), false),
            }
        }
    }
}

/// The active phase of a connection: read, serve, write, until it closes or parks.
async fn active(
    shard: &Rc<Shard>,
    stream: &mut TcpStream,
    timer: &Deadline,
    canceller: &mut Canceller,
    peer: std::net::IpAddr,
) -> Phase {
    let shard = &**shard;
    let mut rbuf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut wbuf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut scratch: Vec<u8> = Vec::new();
    // Time by which the head now arriving must be complete (slowloris bound).
    let mut head_deadline: Option<Instant> = None;

    loop {
        // 1. Answer every complete request already buffered, up to the per-wake-up cap.
        let mut start = 0usize;
        let mut served = 0usize;
        while served < MAX_PIPELINE && start < rbuf.len() {
            let head = match parse_head(&rbuf[start..], &shard.limits) {
                Ok(Some(head)) => head,
                Ok(None) => break,
                Err(e) => {
                    let rid = RequestIdBuf::from_head(shard, &rbuf, None);
                    queue_proto_error(shard, e, None, &rid, Instant::now(), &mut wbuf);
                    if let Some(w) = flush(stream, wbuf).await {
                        drop(w);
                        linger_close(stream).await;
                    }
                    return Phase::Closed;
                }
            };
            head_deadline = None;
            let outcome = serve_one(
                shard,
                stream,
                timer,
                peer,
                rbuf,
                start,
                head,
                wbuf,
                &mut scratch,
            )
            .await;
            match outcome {
                Served::KeepGoing {
                    rbuf: r,
                    wbuf: w,
                    consumed,
                } => {
                    rbuf = r;
                    wbuf = w;
                    start += consumed;
                    served += 1;
                }
                Served::Close {
                    stream_ok,
                    wbuf: w,
                    linger,
                } => {
                    if stream_ok {
                        if let Some(w) = flush(stream, w).await {
                            drop(w);
                            if linger {
                                linger_close(stream).await;
                            }
                        }
                    }
                    return Phase::Closed;
                }
            }
        }

        // 2. One write for the whole batch.
        wbuf = match flush(stream, wbuf).await {
            Some(w) => w,
            None => return Phase::Closed,
        };
        if start > 0 {
            rbuf.drain(..start);
        }
        if served == MAX_PIPELINE && !rbuf.is_empty() {
            yield_now().await;
            continue;
        }

        // 3. Read more: idle timeout between requests, header timeout inside one.
        let now = shard.timers.now();
        let deadline = if rbuf.is_empty() {
            now + shard.config.idle_timeout
        } else {
            *head_deadline.get_or_insert(now + shard.config.header_timeout)
        };
        let was_empty = rbuf.is_empty();
        let (end, buf) = if was_empty {
            match read_idle(stream, rbuf, canceller, timer, now, deadline).await {
                Idle::Done(end, buf) => (end, buf),
                Idle::Parked => return Phase::Parked(deadline),
            }
        } else {
            read_more(stream, rbuf, timer, deadline, false).await
        };
        rbuf = buf;
        match end {
            ReadEnd::Data => {
                if was_empty {
                    head_deadline = Some(shard.timers.now() + shard.config.header_timeout);
                }
            }
            ReadEnd::Closed => return Phase::Closed,
            ReadEnd::Timeout => {
                if !was_empty {
                    let rid = RequestIdBuf::Generated(shard.ids.borrow_mut().next_id());
                    queue_proto_error(shard, ProtoError::HeaderTimeout, None, &rid, now, &mut wbuf);
                    if flush(stream, wbuf).await.is_some() {
                        linger_close(stream).await;
                    }
                }
                return Phase::Closed;
            }
        }
    }
}

/// What happened to one request.
enum Served {
    /// Answer queued; `consumed` bytes of the read buffer belonged to it.
    KeepGoing {
        rbuf: Vec<u8>,
        wbuf: Vec<u8>,
        consumed: usize,
    },
    /// Close after writing `wbuf` (when the stream is still usable).
    Close {
        stream_ok: bool,
        wbuf: Vec<u8>,
        linger: bool,
    },
}

/// Reads the body (if any), dispatches, and queues the response for one request whose head
/// starts at `start` in `rbuf`.
#[allow(clippy::too_many_arguments)]
async fn serve_one(
    shard: &Shard,
    stream: &mut TcpStream,
    timer: &Deadline,
    peer: std::net::IpAddr,
    rbuf: Vec<u8>,
    start: usize,
    head: RequestHead,
    mut wbuf: Vec<u8>,
    scratch: &mut Vec<u8>,
) -> Served {
    let t0 = Instant::now();
    let rid = RequestIdBuf::from_head(shard, &rbuf[start..], Some(&head));

    // Body, under the route's limit.
    let early_route = HeadView { buf: &rbuf, start }.early_route(&head);
    let body_start = start + head.head_len;
    let limit = early_route.max_body(shard.config.max_body_bytes);
    let (rbuf, body_at) = match read_body(
        shard, stream, timer, rbuf, &head, body_start, limit, &mut wbuf, scratch,
    )
    .await
    {
        Ok(v) => v,
        Err(BodyFail::Answer(e)) => {
            return answer_and_close(shard, e, &head, early_route, &rid, t0, wbuf)
        }
        Err(BodyFail::Gone) => {
            return Served::Close {
                stream_ok: false,
                wbuf,
                linger: false,
            }
        }
    };
    let (body_range, chunked) = match body_at {
        BodyAt::Buffer(r) => (r, false),
        BodyAt::Scratch(end) => (end..end, true),
    };
    let consumed = body_range.end - start;

    // Dispatch.
    let view = HeadView { buf: &rbuf, start };
    let target = view.target(&head);
    // Behind a trusted balancer, the client it names (net::forwarded).
    let peers = match crate::net::forwarded::client(
        &shard.config.trusted_proxies,
        peer,
        view.field(&head.forwarded_for),
    ) {
        Ok(ip) => (ip, peer),
        Err(e) => return answer_and_close(shard, e, &head, target.route, &rid, t0, wbuf),
    };
    let body = if chunked {
        scratch.as_slice()
    } else {
        &rbuf[body_range]
    };
    let req = request(&head, view, target, body, peers, rid.as_bytes());
    shard.active_requests.set(shard.active_requests.get() + 1);
    let resp = crate::pipeline::handle(shard, &req).await;
    shard
        .active_requests
        .set(shard.active_requests.get().saturating_sub(1));

    // Answer.
    if queue_response(shard, &head, view, &req, &resp, t0, &mut wbuf) {
        Served::KeepGoing {
            rbuf,
            wbuf,
            consumed,
        }
    } else {
        Served::Close {
            stream_ok: true,
            wbuf,
            linger: false,
        }
    }
}

/// A parsed head where it lies: the read buffer and the offset the head starts at (the head's
/// ranges are relative to it).
#[derive(Clone, Copy)]
struct HeadView<'b> {
    buf: &'b [u8],
    start: usize,
}

/// The request target, split and routed.
struct Target<'b> {
    path: &'b str,
    query: &'b str,
    route: Route,
    /// The route's `{id}` segment: a sub-slice of `path`.
    param: &'b str,
}

impl<'b> HeadView<'b> {
    /// The bytes of one of the head's ranges.
    #[inline(always)]
    fn slice(self, r: &std::ops::Range<usize>) -> &'b [u8] {
        &self.buf[self.start + r.start..self.start + r.end]
    }

    /// A header field's value, if it was sent.
    #[inline(always)]
    fn field(self, r: &Option<std::ops::Range<usize>>) -> Option<&'b [u8]> {
        r.as_ref().map(|r| self.slice(r))
    }

    /// The route whose body limit applies; routed only when there is a body to limit.
    #[inline(always)]
    fn early_route(self, head: &RequestHead) -> Route {
        match head.body {
            BodyFraming::None => Route::NotFound,
            _ => std::str::from_utf8(self.slice(&head.path))
                .map(|p| router::route(p).route)
                .unwrap_or(Route::NotFound),
        }
    }

    /// Path, query and route. One UTF-8 check covers path and query (httparse already limited
    /// the target to visible ASCII).
    #[inline(always)]
    fn target(self, head: &RequestHead) -> Target<'b> {
        let target_end = head.query.as_ref().map_or(head.path.end, |q| q.end);
        let target = std::str::from_utf8(self.slice(&(head.path.start..target_end))).unwrap_or("");
        let path_len = head.path.len();
        let path = target.get(..path_len).unwrap_or("");
        let query = match &head.query {
            Some(q) => target.get(q.start - head.path.start..).unwrap_or(""),
            None => "",
        };
        let matched = router::route(path);
        Target {
            path,
            query,
            route: matched.route,
            param: matched.param,
        }
    }
}

/// The request as handlers see it. `peers`: the client (maybe named by a trusted balancer)
/// and the connection's own peer.
#[inline(always)]
fn request<'b>(
    head: &RequestHead,
    view: HeadView<'b>,
    target: Target<'b>,
    body: &'b [u8],
    (peer, socket_peer): (std::net::IpAddr, std::net::IpAddr),
    request_id: &'b [u8],
) -> Request<'b> {
    Request {
        method: head.method,
        route: target.route,
        endpoint: target.route.endpoint(head.method),
        param: target.param,
        path: target.path,
        query: target.query,
        body,
        origin: view.field(&head.origin),
        acr_method: view.field(&head.acr_method),
        content_type: view.field(&head.content_type),
        authorization: view.field(&head.authorization),
        api_key: view.field(&head.api_key),
        if_match: view.field(&head.if_match),
        if_none_match: view.field(&head.if_none_match),
        peer,
        socket_peer,
        request_id,
        claims: std::cell::OnceCell::new(),
        key: std::cell::OnceCell::new(),
        caller: std::cell::OnceCell::new(),
    }
}

/// Encodes the handler's response into `wbuf` and records the request; returns whether the
/// connection stays open.
#[inline]
fn queue_response(
    shard: &Shard,
    head: &RequestHead,
    view: HeadView<'_>,
    req: &Request<'_>,
    resp: &Response,
    t0: Instant,
    wbuf: &mut Vec<u8>,
) -> bool {
    let keep_alive = head.keep_alive && !resp.close && !shard.timers.is_draining();
    let cors_origin = req
        .origin
        .and_then(|o| crate::cors::allowed(&shard.config.cors_origins, o));
    let date = shard.date.get();
    encode(
        resp,
        &EncodeContext {
            date: &date,
            request_id: req.request_id,
            keep_alive,
            http10: head.version == Version::Http10,
            head_only: head.method == Method::Head,
            cors_origin,
            security: &shard.security_headers,
            credentialed: req.authorization.is_some() || req.api_key.is_some(),
        },
        wbuf,
    );
    let traceparent = view
        .field(&head.traceparent)
        .filter(|t| request_id::is_traceparent(t));
    record(
        shard,
        head.method,
        req.route,
        resp.status,
        t0,
        req.request_id,
        traceparent,
    );
    keep_alive
}

/// Answers a protocol error found while serving a request (its route known as far as it was
/// read), then closes after a lingering read.
#[inline]
fn answer_and_close(
    shard: &Shard,
    e: ProtoError,
    head: &RequestHead,
    route: Route,
    rid: &RequestIdBuf,
    t0: Instant,
    mut wbuf: Vec<u8>,
) -> Served {
    queue_proto_error(shard, e, Some((head, route)), rid, t0, &mut wbuf);
    Served::Close {
        stream_ok: true,
        wbuf,
        linger: true,
    }
}

/// Where a request's body is once read.
enum BodyAt {
    /// In the read buffer, at this range (Content-Length, or no body).
    Buffer(std::ops::Range<usize>),
    /// Decoded into the scratch buffer (chunked); the request ends at this offset.
    Scratch(usize),
}

/// Why a body could not be read.
enum BodyFail {
    /// Answer with this error, then close.
    Answer(ProtoError),
    /// The peer went away (or the shard is draining): just close.
    Gone,
}

/// Reads one more piece of a body, within the body timeout.
async fn read_body_more(
    shard: &Shard,
    stream: &mut TcpStream,
    timer: &Deadline,
    rbuf: Vec<u8>,
) -> Result<Vec<u8>, BodyFail> {
    let deadline = shard.timers.now() + shard.config.body_timeout;
    match read_more(stream, rbuf, timer, deadline, false).await {
        (ReadEnd::Data, buf) => Ok(buf),
        (ReadEnd::Timeout, _) => Err(BodyFail::Answer(ProtoError::BodyTimeout)),
        (ReadEnd::Closed, _) => Err(BodyFail::Gone),
    }
}

/// Sends `100 Continue` after whatever responses are already queued.
async fn send_continue(stream: &mut TcpStream, wbuf: &mut Vec<u8>) -> Result<(), BodyFail> {
    let mut out = std::mem::take(wbuf);
    out.extend_from_slice(CONTINUE);
    *wbuf = flush(stream, out).await.ok_or(BodyFail::Gone)?;
    Ok(())
}

/// Reads the body that starts at `body_start`, under `limit` bytes.
#[allow(clippy::too_many_arguments)]
async fn read_body(
    shard: &Shard,
    stream: &mut TcpStream,
    timer: &Deadline,
    mut rbuf: Vec<u8>,
    head: &RequestHead,
    body_start: usize,
    limit: u64,
    wbuf: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) -> Result<(Vec<u8>, BodyAt), BodyFail> {
    match head.body {
        BodyFraming::None => Ok((rbuf, BodyAt::Buffer(body_start..body_start))),
        BodyFraming::Length(n) => {
            if n > limit {
                return Err(BodyFail::Answer(ProtoError::BodyTooLarge));
            }
            let need = body_start + n as usize;
            if rbuf.len() < need && head.expect_continue {
                send_continue(stream, wbuf).await?;
            }
            while rbuf.len() < need {
                // Let the read buffer grow to hold the whole body (bounded by the limit).
                if rbuf.capacity() < need {
                    rbuf.reserve(need - rbuf.len());
                }
                rbuf = read_body_more(shard, stream, timer, rbuf).await?;
            }
            Ok((rbuf, BodyAt::Buffer(body_start..need)))
        }
        BodyFraming::Chunked => {
            scratch.clear();
            let mut decoder = ChunkedDecoder::new(limit);
            let mut pos = body_start;
            let mut sent_continue = false;
            loop {
                pos += decoder
                    .decode(&rbuf[pos..], scratch)
                    .map_err(BodyFail::Answer)?;
                if decoder.is_done() {
                    return Ok((rbuf, BodyAt::Scratch(pos)));
                }
                if head.expect_continue && !sent_continue {
                    sent_continue = true;
                    send_continue(stream, wbuf).await?;
                }
                rbuf = read_body_more(shard, stream, timer, rbuf).await?;
            }
        }
    }
}

/// Queues the problem response for a protocol error (the caller closes afterwards).
fn queue_proto_error(
    shard: &Shard,
    e: ProtoError,
    req: Option<(&RequestHead, Route)>,
    rid: &RequestIdBuf,
    t0: Instant,
    wbuf: &mut Vec<u8>,
) {
    let resp: Response = ApiError::Proto(e).to_response(rid.as_str());
    let date = shard.date.get();
    encode(
        &resp,
        &EncodeContext {
            date: &date,
            request_id: rid.as_bytes(),
            keep_alive: false,
            http10: false,
            head_only: req.is_some_and(|(h, _)| h.method == Method::Head),
            cors_origin: None,
            security: &shard.security_headers,
            credentialed: false,
        },
        wbuf,
    );
    let (method, route) = req
        .map(|(h, r)| (h.method, r))
        .unwrap_or((Method::Get, Route::NotFound));
    record(shard, method, route, resp.status, t0, rid.as_bytes(), None);
}

fn record(
    shard: &Shard,
    method: Method,
    route: Route,
    status: u16,
    t0: Instant,
    request_id: &[u8],
    traceparent: Option<&[u8]>,
) {
    let duration = t0.elapsed();
    shard
        .metrics
        .borrow_mut()
        .observe(method, route, status, duration);
    shard.log.record(&Entry {
        method: method.as_str(),
        route: route.template(),
        status,
        duration,
        request_id,
        shard: shard.id,
        traceparent,
    });
}
