//! The milter listeners: TCP connections tuned for small request/response
//! packets, accept errors that pause instead of ending the daemon, and every
//! connection wrapped in its [`Guarded`] stream.

use crate::daemon::coalesce::Coalesce;
use crate::daemon::guard::{Guarded, Guards};
use crate::telemetry::metrics::Metrics;
use indymilter::Listener;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;
use tracing::warn;

/// A TCP listener whose connections have Nagle's algorithm off: the milter
/// protocol is request/response with small packets, and Nagle with delayed
/// ACKs would stall each reply by tens of milliseconds.
pub struct TcpAccept(pub TcpListener);

impl Listener for TcpAccept {
    type Io = QuickAckStream;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<QuickAckStream>> {
        self.0.poll_accept(cx).map_ok(|(stream, _)| {
            if let Err(e) = stream.set_nodelay(true) {
                warn!(error = %e, "could not disable Nagle on a milter connection");
            }
            QuickAckStream(stream)
        })
    }
}

/// A milter connection that acknowledges what it reads at once.
///
/// Postfix's end keeps Nagle on. At the stages negotiated to need no answer
/// it writes header fields, body and end of message back to back, so each
/// write after the first waits for the ACK of the one before, which delayed
/// ACK holds back 40 ms: every message stalled that long. Linux drops out of
/// quick-ACK mode by itself, so it is asked for again after every read.
pub struct QuickAckStream(TcpStream);

impl QuickAckStream {
    pub fn get_ref(&self) -> &TcpStream {
        &self.0
    }
}

impl QuickAckStream {
    fn quickack(&self) {
        // Failure only costs latency; there is nothing better to do.
        let _ = socket2::SockRef::from(&self.0).set_tcp_quickack(true);
    }
}

impl AsyncRead for QuickAckStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.0).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.quickack();
        }
        polled
    }
}

impl AsyncWrite for QuickAckStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Pauses after a failed accept(): from 10 ms, doubling, to at most 1 s.
/// EMFILE and ENFILE last until some descriptor is freed; retrying at once
/// would spin a core, and giving up would take every connection down.
pub struct Backoff {
    delay: Duration,
    pause: Option<Pin<Box<Sleep>>>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MOST: Duration = Duration::from_secs(1);

    pub fn new() -> Backoff {
        Backoff {
            delay: Duration::ZERO,
            pause: None,
        }
    }

    /// Ready when no pause is pending.
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(p) = &mut self.pause {
            if p.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.pause = None;
        }
        Poll::Ready(())
    }

    pub fn succeeded(&mut self) {
        self.delay = Duration::ZERO;
    }

    /// Records a failure and starts the next pause, which `poll_ready`
    /// must then be polled for.
    pub fn failed(&mut self, listener: &str, error: &io::Error, metrics: &Metrics) -> Duration {
        metrics.accept_error(listener);
        self.delay = (self.delay * 2).clamp(Self::FIRST, Self::MOST);
        warn!(listener, error = %error, pause_ms = self.delay.as_millis() as u64, "accept failed; retrying after a pause");
        self.pause = Some(Box::pin(tokio::time::sleep(self.delay)));
        self.delay
    }
}

/// The milter listener the daemon and the in-process tests serve on.
pub struct MilterListener<L> {
    inner: Option<L>,
    guards: Arc<Guards>,
    backoff: Backoff,
    drain: Pin<Box<dyn Future<Output = ()> + Send + Sync>>,
}

impl<L: Listener> MilterListener<L> {
    pub fn new(inner: L, guards: Arc<Guards>) -> MilterListener<L> {
        let mut rx = guards.subscribe_drain();
        MilterListener {
            inner: Some(inner),
            guards,
            backoff: Backoff::new(),
            drain: Box::pin(async move {
                let _ = rx.wait_for(|d| *d).await;
            }),
        }
    }
}

impl<L: Listener> Listener for MilterListener<L> {
    type Io = Guarded<Coalesce<L::Io>>;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Self::Io>> {
        if self.inner.is_some() && self.drain.as_mut().poll(cx).is_ready() {
            // Close the socket, so the MTA is refused at once and applies
            // its default action instead of waiting in our listen queue.
            self.inner = None;
        }
        loop {
            let Some(inner) = self.inner.as_mut() else {
                return Poll::Pending;
            };
            if self.backoff.poll_ready(cx).is_pending() {
                return Poll::Pending;
            }
            match inner.poll_accept(cx) {
                Poll::Ready(Ok(stream)) => {
                    self.backoff.succeeded();
                    return Poll::Ready(Ok(self.guards.wrap(Coalesce::new(stream))));
                }
                Poll::Ready(Err(e)) => {
                    self.backoff.failed("milter", &e, self.guards.metrics());
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
