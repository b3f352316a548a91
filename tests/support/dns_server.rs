//! A DNS server on loopback for tests, UDP and TCP on one port, as real
//! servers behave: an answer too large for UDP goes out truncated and the
//! resolver must come back over TCP. What it answers is the test's: a
//! function from query to reply, `None` meaning silence (a timeout).

use hickory_proto::op::Message;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// Over which transport a query came, for tests that break one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

pub type Answer = Arc<dyn Fn(&Message, Transport) -> Option<Message> + Send + Sync>;

/// The largest UDP answer sent whole (the EDNS size most resolvers offer
/// since DNS flag day 2020); larger ones are truncated.
const UDP_LIMIT: usize = 1232;

/// A UDP socket and a TCP listener on the same loopback port. The port
/// the kernel picks for UDP may be held for TCP by another process (the
/// suite runs many binaries at once): then try a new pair.
async fn udp_and_tcp_pair() -> (UdpSocket, TcpListener) {
    let mut last = None;
    for _ in 0..50 {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        match TcpListener::bind(sock.local_addr().unwrap()).await {
            Ok(tcp) => return (sock, tcp),
            Err(e) => last = Some(e),
        }
    }
    panic!("no loopback port free for both UDP and TCP: {last:?}");
}

/// Starts the server on the current tokio runtime; it lives as long as it.
pub async fn serve(answer: Answer) -> SocketAddr {
    let (sock, tcp) = udp_and_tcp_pair().await;
    let addr = sock.local_addr().unwrap();
    let on_udp = answer.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let Some(r) = on_udp(&q, Transport::Udp) else {
                continue;
            };
            let Ok(mut bytes) = r.to_vec() else { continue };
            if bytes.len() > UDP_LIMIT {
                bytes = r.truncate().to_vec().unwrap_or_default();
            }
            let _ = sock.send_to(&bytes, peer).await;
        }
    });
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = tcp.accept().await else {
                return;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                loop {
                    let Ok(len) = s.read_u16().await else { return };
                    let mut buf = vec![0u8; len as usize];
                    if s.read_exact(&mut buf).await.is_err() {
                        return;
                    }
                    let Ok(q) = Message::from_vec(&buf) else {
                        return;
                    };
                    let Some(Ok(bytes)) = answer(&q, Transport::Tcp).map(|r| r.to_vec()) else {
                        return;
                    };
                    let _ = s.write_u16(bytes.len() as u16).await;
                    let _ = s.write_all(&bytes).await;
                }
            });
        }
    });
    addr
}
