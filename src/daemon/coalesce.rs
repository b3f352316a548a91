//! Writes to the MTA coalesced: the edits of one end of message go out in
//! one write with the answer that ends it.
//!
//! indymilter writes and flushes every protocol packet on its own, so a
//! tagged message's edits (the Authentication-Results and X-Kinko fields,
//! the Subject, the new body) and its answer reached Postfix as six or
//! seven segments, each waking Postfix's `cleanup` once more. The MTA acts
//! on none of the edits before the answer (in the milter protocol, as
//! libmilter documents it, edits are sent only in reply to end of message
//! and applied when the final answer arrives), so holding them back until
//! the answer costs no latency: a flush after an
//! edit packet is deferred, a flush after any other packet (an answer, a
//! progress report, negotiation) sends everything held. A connection never
//! holds more than [`MAX_HELD`] bytes; past that the held bytes go out
//! as they are.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes held back at most (a replaced body is sent in 64 KiB packets).
const MAX_HELD: usize = 256 * 1024;

/// Packets that edit the message: valid only before the final answer, which
/// always follows them. `+` `-` `2` add/delete recipients, `b` replace body,
/// `e` change sender, `h` `i` `m` add/insert/change header, `q` quarantine.
fn is_edit(code: u8) -> bool {
    matches!(
        code,
        b'+' | b'-' | b'2' | b'b' | b'e' | b'h' | b'i' | b'm' | b'q'
    )
}

pub struct Coalesce<S> {
    inner: S,
    held: Vec<u8>,
    /// Bytes of `held` already written to `inner`.
    sent: usize,
    /// Where the next packet starts, counted over everything written to us.
    next_packet: u64,
    written: u64,
    /// Command byte of the last packet whose header has been seen.
    last_code: Option<u8>,
    /// The first bytes of a packet header split across writes.
    head: Vec<u8>,
}

impl<S> Coalesce<S> {
    pub fn new(inner: S) -> Coalesce<S> {
        Coalesce {
            inner,
            held: Vec::new(),
            sent: 0,
            next_packet: 0,
            written: 0,
            last_code: None,
            head: Vec::new(),
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Follows packet framing (4-byte length, then the command byte) over
    /// the bytes written, to know what the last packet is.
    fn track(&mut self, mut buf: &[u8]) {
        while !buf.is_empty() {
            let at = self.written;
            if at < self.next_packet {
                let skip = (self.next_packet - at).min(buf.len() as u64) as usize;
                buf = &buf[skip..];
                self.written += skip as u64;
                continue;
            }
            // At a packet start: collect its 5 header bytes.
            let need = 5 - self.head.len();
            let take = need.min(buf.len());
            self.head.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
            self.written += take as u64;
            if self.head.len() == 5 {
                let len =
                    u32::from_be_bytes([self.head[0], self.head[1], self.head[2], self.head[3]]);
                self.last_code = Some(self.head[4]);
                // The length counts the command byte, already consumed.
                self.next_packet = self.written + u64::from(len.saturating_sub(1));
                self.head.clear();
            }
        }
    }

    /// The last packet is complete and an edit: its flush can wait.
    fn may_wait(&self) -> bool {
        self.head.is_empty()
            && self.written == self.next_packet
            && self.last_code.is_some_and(is_edit)
            && self.held.len() < MAX_HELD
    }
}

impl<S: AsyncWrite + Unpin> Coalesce<S> {
    /// Writes everything held.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.held.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.held[self.sent..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.sent += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.held.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Coalesce<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Coalesce<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.held.len() >= MAX_HELD {
            match this.poll_send(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        this.held.extend_from_slice(buf);
        this.track(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.may_wait() {
            return Poll::Ready(Ok(()));
        }
        match this.poll_send(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match this.poll_send(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_shutdown(cx),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Records each write that reaches it.
    #[derive(Default)]
    struct Wire(Vec<Vec<u8>>);

    impl AsyncWrite for Wire {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.0.push(buf.to_vec());
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn packet(code: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
        p.push(code);
        p.extend_from_slice(payload);
        p
    }

    /// As indymilter writes: length, command, payload, flush, per packet.
    async fn send(c: &mut Coalesce<Wire>, p: &[u8]) {
        c.write_all(&p[..4]).await.unwrap();
        c.write_all(&p[4..5]).await.unwrap();
        c.write_all(&p[5..]).await.unwrap();
        c.flush().await.unwrap();
    }

    #[tokio::test]
    async fn edits_go_out_with_the_answer_that_ends_them() {
        let mut c = Coalesce::new(Wire::default());
        // Negotiation and other answers go out at once.
        let negotiate = packet(b'O', &[0; 12]);
        send(&mut c, &negotiate).await;
        assert_eq!(c.get_ref().0.concat(), negotiate);
        let writes = c.get_ref().0.len();
        let edits = [
            packet(b'i', b"\0\0\0\0Authentication-Results\0 mx; spf=pass\0"),
            packet(b'h', b"X-Kinko-Verdict\0tag\0"),
            packet(b'b', &vec![b'x'; 70_000]),
        ];
        for e in &edits {
            send(&mut c, e).await;
        }
        assert_eq!(c.get_ref().0.len(), writes, "edits held back");
        let accept = packet(b'a', b"");
        send(&mut c, &accept).await;
        let wire = &c.get_ref().0;
        assert_eq!(wire.len(), writes + 1, "one write for edits and answer");
        assert_eq!(wire[writes], [edits.concat(), accept].concat());
    }

    #[tokio::test]
    async fn a_progress_report_and_shutdown_send_what_is_held() {
        let mut c = Coalesce::new(Wire::default());
        let edit = packet(b'h', b"X\0y\0");
        send(&mut c, &edit).await;
        let progress = packet(b'p', b"");
        send(&mut c, &progress).await;
        assert_eq!(c.get_ref().0.concat(), [edit.clone(), progress].concat());
        send(&mut c, &edit).await;
        c.shutdown().await.unwrap();
        assert!(c.get_ref().0.concat().ends_with(&edit));
    }

    #[tokio::test]
    async fn never_holds_more_than_the_bound() {
        let mut c = Coalesce::new(Wire::default());
        let body = packet(b'b', &vec![b'x'; 65_535]);
        for _ in 0..5 {
            send(&mut c, &body).await;
        }
        let sent: usize = c.get_ref().0.iter().map(Vec::len).sum();
        assert!(sent > 0 && 5 * body.len() - sent <= MAX_HELD, "{sent}");
    }
}
