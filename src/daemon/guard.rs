//! A guard around each milter connection's byte stream.
//!
//! indymilter reads and writes the protocol; it cannot be told to close a
//! peer that is too slow over a whole message, that sends commands it will
//! silently ignore, or that is idle when the daemon drains for shutdown. The
//! guard sees the same bytes (packet framing only: a 4-byte length and a
//! command byte), mirrors indymilter's state machine, and ends the stream
//! itself in those cases. Ending the stream makes indymilter abort the
//! message and close the session; the MTA then applies its own
//! `milter_default_action`, the documented outcome.

use crate::telemetry::metrics::Metrics;
use indymilter::ProtoOpts;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{watch, Notify};
use tokio::time::{Instant, Sleep};
use tracing::{debug, warn};

/// Shared by the listener and every guarded stream of one daemon.
pub struct Guards {
    drain: watch::Sender<bool>,
    active: AtomicUsize,
    idle: Notify,
    message_timeout_ms: AtomicU64,
    metrics: Arc<Metrics>,
}

impl Guards {
    pub fn new(message_timeout: Duration, metrics: Arc<Metrics>) -> Arc<Guards> {
        Arc::new(Guards {
            drain: watch::channel(false).0,
            active: AtomicUsize::new(0),
            idle: Notify::new(),
            message_timeout_ms: AtomicU64::new(millis(message_timeout)),
            metrics,
        })
    }

    /// Applies to connections accepted from now on (a reload may change it).
    pub fn set_message_timeout(&self, t: Duration) {
        self.message_timeout_ms.store(millis(t), Ordering::Relaxed);
    }

    /// Starts draining: idle connections end now, the others after the
    /// message in progress.
    pub fn drain(&self) {
        self.drain.send_replace(true);
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn draining(&self) -> bool {
        *self.drain.borrow()
    }

    pub fn subscribe_drain(&self) -> watch::Receiver<bool> {
        self.drain.subscribe()
    }

    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Resolves once no guarded connection is left.
    pub async fn all_closed(&self) {
        loop {
            let notified = self.idle.notified();
            if self.active() == 0 {
                return;
            }
            notified.await;
        }
    }

    pub fn wrap<S>(self: &Arc<Self>, inner: S) -> Guarded<S> {
        self.active.fetch_add(1, Ordering::SeqCst);
        let timeout = Duration::from_millis(self.message_timeout_ms.load(Ordering::Relaxed));
        let mut drain = self.drain.subscribe();
        Guarded {
            inner,
            guards: self.clone(),
            read: Framer::default(),
            write: Framer::default(),
            state: State::Init,
            opts: ProtoOpts::empty(),
            in_message: false,
            timeout,
            deadline: None,
            drain_wait: Box::pin(async move {
                let _ = drain.wait_for(|d| *d).await;
            }),
            end: None,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// indymilter's session states (one per command that moves the session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Init,
    Opts,
    Conn,
    Helo,
    Mail,
    Rcpt,
    Data,
    Header,
    Eoh,
    Body,
    Eom,
    Quit,
    Abort,
    Unknown,
    QuitNc,
}

impl State {
    fn of_command(cmd: u8) -> Option<State> {
        Some(match cmd {
            b'O' => State::Opts,
            b'C' => State::Conn,
            b'H' => State::Helo,
            b'M' => State::Mail,
            b'R' => State::Rcpt,
            b'T' => State::Data,
            b'L' => State::Header,
            b'N' => State::Eoh,
            b'B' => State::Body,
            b'E' => State::Eom,
            b'Q' => State::Quit,
            b'A' => State::Abort,
            b'U' => State::Unknown,
            b'K' => State::QuitNc,
            _ => return None,
        })
    }

    /// indymilter 0.3's transition table (its `session.rs`; an upgrade of
    /// indymilter must re-check this). Our callbacks cover every stage
    /// but `unknown`, which comes last in its order, so no stage can be
    /// skipped on the way to another and a direct transition is the only
    /// way to reach a state.
    fn can_reach(self, next: State) -> bool {
        use State::*;
        match self {
            Init => next == Opts,
            Opts | QuitNc => matches!(next, Conn | Unknown),
            Conn | Helo => matches!(next, Helo | Mail | Unknown),
            Mail => matches!(next, Rcpt | Abort | Unknown),
            Rcpt => matches!(
                next,
                Header | Eoh | Data | Body | Eom | Rcpt | Abort | Unknown
            ),
            Data | Header => matches!(next, Eoh | Header | Abort),
            Eoh | Body => matches!(next, Body | Eom | Abort),
            Eom => matches!(next, Quit | Mail | Unknown | QuitNc),
            Quit | Abort => false,
            Unknown => matches!(
                next,
                Helo | Mail | Rcpt | Data | Body | Unknown | Abort | Quit | QuitNc
            ),
        }
    }
}

/// Whether the MTA waits for an answer to command `cmd`, given the
/// protocol options the milter asked for at negotiation.
fn expects_reply(cmd: u8, opts: ProtoOpts) -> bool {
    let quiet = match cmd {
        b'O' | b'E' => return true,
        b'C' => ProtoOpts::NOREPLY_CONNECT,
        b'H' => ProtoOpts::NOREPLY_HELO,
        b'M' => ProtoOpts::NOREPLY_MAIL,
        b'R' => ProtoOpts::NOREPLY_RCPT,
        b'T' => ProtoOpts::NOREPLY_DATA,
        b'L' => ProtoOpts::NOREPLY_HEADER,
        b'N' => ProtoOpts::NOREPLY_EOH,
        b'B' => ProtoOpts::NOREPLY_BODY,
        b'U' => ProtoOpts::NOREPLY_UNKNOWN,
        // Abort, macros, quit: never answered.
        _ => return false,
    };
    !opts.contains(quiet)
}

/// Follows packet boundaries in one direction: a 4-byte big-endian length,
/// then that many bytes, the first of which is the command (or reply) code.
#[derive(Default)]
struct Framer {
    header: [u8; 4],
    header_len: usize,
    /// Bytes of the current packet still to come, its code included.
    left: usize,
    code: u8,
    /// The first payload bytes after the code (negotiation carries the
    /// protocol options there).
    head: Vec<u8>,
}

const HEAD_BYTES: usize = 12;

impl Framer {
    /// Feeds `bytes`, calling `packet(code, head)` as each packet completes.
    fn feed(&mut self, bytes: &[u8], mut packet: impl FnMut(u8, &[u8])) {
        let mut i = 0;
        while i < bytes.len() {
            if self.left == 0 {
                self.header[self.header_len] = bytes[i];
                self.header_len += 1;
                i += 1;
                if self.header_len == 4 {
                    self.header_len = 0;
                    // A zero-length packet has no code; indymilter rejects it.
                    self.left = u32::from_be_bytes(self.header) as usize;
                    self.head.clear();
                }
                continue;
            }
            let len = u32::from_be_bytes(self.header) as usize;
            let take = self.left.min(bytes.len() - i);
            let pos = len - self.left;
            for (k, &b) in bytes[i..i + take].iter().enumerate() {
                match pos + k {
                    0 => self.code = b,
                    p if p <= HEAD_BYTES => self.head.push(b),
                    _ => break,
                }
            }
            self.left -= take;
            i += take;
            if self.left == 0 {
                packet(self.code, &self.head);
            }
        }
    }
}

/// Why a guard ended its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Draining for shutdown and no message in progress.
    Drained,
    /// A command indymilter would ignore while the MTA waits for an answer.
    OutOfOrder,
    /// Connect or a message took longer than `limits.message_timeout_s`.
    Deadline,
}

impl End {
    pub fn as_str(self) -> &'static str {
        match self {
            End::Drained => "drained",
            End::OutOfOrder => "out_of_order",
            End::Deadline => "message_timeout",
        }
    }

    fn error(self) -> io::Error {
        match self {
            End::Drained => io::Error::from(io::ErrorKind::UnexpectedEof),
            End::OutOfOrder => io::Error::new(
                io::ErrorKind::InvalidData,
                "milter command out of order; closing",
            ),
            End::Deadline => io::Error::new(
                io::ErrorKind::TimedOut,
                "message exceeded limits.message_timeout_s; closing",
            ),
        }
    }
}

pub struct Guarded<S> {
    inner: S,
    guards: Arc<Guards>,
    read: Framer,
    write: Framer,
    /// indymilter's state, mirrored.
    state: State,
    /// Options the milter asked for at negotiation.
    opts: ProtoOpts,
    /// From MAIL to the final answer at end of message.
    in_message: bool,
    timeout: Duration,
    deadline: Option<Pin<Box<Sleep>>>,
    drain_wait: Pin<Box<dyn Future<Output = ()> + Send + Sync>>,
    end: Option<End>,
}

impl<S> Guarded<S> {
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    fn finish(&mut self, why: End) -> io::Error {
        if self.end.is_none() {
            self.end = Some(why);
            self.guards.metrics.guard_close(why.as_str());
            match why {
                End::Drained => debug!("idle milter connection closed for shutdown"),
                End::OutOfOrder => warn!(
                    state = ?self.state,
                    "milter command out of order; closing the connection"
                ),
                End::Deadline => warn!(
                    timeout_s = self.timeout.as_secs(),
                    "milter peer exceeded the message deadline; closing the connection"
                ),
            }
        }
        why.error()
    }

    /// Every stretch from connect to MAIL, from MAIL to its answer and from
    /// one answer to the next MAIL has `timeout`, however the peer spaces
    /// its packets (the per-packet timeout alone lets a byte a second go on
    /// for ever).
    fn arm(&mut self) {
        let at = Instant::now() + self.timeout;
        match &mut self.deadline {
            Some(s) => s.as_mut().reset(at),
            None => self.deadline = Some(Box::pin(tokio::time::sleep_until(at))),
        }
    }

    /// One command read from the peer. False: indymilter would ignore it
    /// while the peer waits for an answer.
    fn command(&mut self, code: u8) -> bool {
        let Some(next) = State::of_command(code) else {
            // Macros, and codes indymilter fails on by itself.
            return true;
        };
        if !self.state.can_reach(next) {
            // indymilter aborts the transaction and retries from HELO; a
            // command it cannot reach from there is dropped unanswered.
            self.in_message = false;
            if !State::Helo.can_reach(next) {
                if next == State::Quit {
                    self.state = State::Quit;
                    return true;
                }
                self.state = State::Helo;
                return !expects_reply(code, self.opts);
            }
        }
        self.state = next;
        match next {
            State::Conn => self.arm(),
            State::Mail => {
                self.in_message = true;
                self.arm();
            }
            State::Abort | State::Quit | State::QuitNc if self.in_message => {
                self.in_message = false;
                self.arm();
            }
            _ => {}
        }
        true
    }

    /// One reply written to the peer.
    fn reply(&mut self, code: u8, head: &[u8]) {
        if code == b'O' {
            if let Some(bits) = head.get(8..12) {
                let bits = u32::from_be_bytes([bits[0], bits[1], bits[2], bits[3]]);
                self.opts = ProtoOpts::from_bits_truncate(bits);
            }
            return;
        }
        let final_eom = self.state == State::Eom && b"cartdy".contains(&code);
        // Accept, or reject/discard/tempfail outside RCPT: indymilter ends
        // the transaction and expects the next from HELO.
        let reset = code == b'a'
            || (b"rdty".contains(&code) && !matches!(self.state, State::Rcpt | State::Unknown));
        if reset {
            self.state = State::Helo;
        }
        if (final_eom || reset) && self.in_message {
            self.in_message = false;
            self.arm();
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(why) = this.end {
            return Poll::Ready(Err(why.error()));
        }
        if let Some(d) = &mut this.deadline {
            if d.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(this.finish(End::Deadline)));
            }
        }
        // `end` is set once this is ready, so it is never polled again.
        if !this.in_message && this.drain_wait.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(this.finish(End::Drained)));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let mut framer = std::mem::take(&mut this.read);
            let mut ok = true;
            framer.feed(&buf.filled()[before..], |code, _| {
                ok = ok && this.command(code);
            });
            this.read = framer;
            if !ok {
                // indymilter drops the packet unanswered and reads again;
                // that read ends the stream.
                this.finish(End::OutOfOrder);
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            let mut framer = std::mem::take(&mut this.write);
            framer.feed(&buf[..n], |code, head| this.reply(code, head));
            this.write = framer;
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S> Drop for Guarded<S> {
    fn drop(&mut self) {
        if self.guards.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.guards.idle.notify_waiters();
        }
    }
}
