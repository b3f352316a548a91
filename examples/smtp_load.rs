//! SMTP load generator for scripts/load.sh: N concurrent sessions send one
//! stored message M times in total, optionally behind a PROXY v1 header so
//! Postfix (smtpd_upstream_proxy_protocol = haproxy) and the milter see an
//! external client address. Reports throughput and the end-of-data round
//! trip (the "." to the 250 reply, which includes the milter's end of
//! message) as JSON on stdout.
//!
//!     smtp_load --target 127.0.0.1:2525 --sessions 20 --messages 2000 \
//!               --file msg.eml --from a@load.test --rcpt b@sink.test [--proxy-ip 192.0.2.10]

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Args {
    target: String,
    sessions: usize,
    messages: usize,
    per_session: usize,
    file: String,
    from: String,
    rcpt: String,
    proxy_ip: Option<IpAddr>,
}

fn args() -> Args {
    let mut a = Args {
        target: "127.0.0.1:25".into(),
        sessions: 20,
        messages: 1000,
        per_session: 50,
        file: String::new(),
        from: "load@load.test".into(),
        rcpt: "sink@sink.test".into(),
        proxy_ip: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--target" => a.target = v,
            "--sessions" => a.sessions = v.parse().expect("number"),
            "--messages" => a.messages = v.parse().expect("number"),
            "--per-session" => a.per_session = v.parse().expect("number"),
            "--file" => a.file = v,
            "--from" => a.from = v,
            "--rcpt" => a.rcpt = v,
            "--proxy-ip" => a.proxy_ip = Some(v.parse().expect("IP address")),
            _ => panic!("unknown option {k}"),
        }
    }
    a
}

/// Reads one (possibly multi-line) SMTP reply; returns its code.
async fn reply(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> std::io::Result<u16> {
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed",
            ));
        }
        if line.as_bytes().get(3) != Some(&b'-') {
            return line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| std::io::Error::other(format!("bad reply {line:?}")));
        }
    }
}

async fn session(
    a: Arc<Args>,
    data: Arc<Vec<u8>>,
    next: Arc<AtomicUsize>,
    latencies: Arc<std::sync::Mutex<Vec<Duration>>>,
    codes: Arc<std::sync::Mutex<Vec<u16>>>,
) -> std::io::Result<()> {
    'connections: while next.load(Ordering::Relaxed) < a.messages {
        let stream = TcpStream::connect(&a.target).await?;
        stream.set_nodelay(true)?;
        let local = stream.local_addr()?;
        let (rd, mut wr) = stream.into_split();
        let mut rd = BufReader::new(rd);
        if let Some(ip) = a.proxy_ip {
            let fam = if ip.is_ipv4() { "TCP4" } else { "TCP6" };
            let dst = if ip.is_ipv4() { "127.0.0.1" } else { "::1" };
            wr.write_all(format!("PROXY {fam} {ip} {dst} {} 25\r\n", local.port()).as_bytes())
                .await?;
        }
        reply(&mut rd).await?;
        wr.write_all(b"EHLO mail.load.test\r\n").await?;
        reply(&mut rd).await?;
        for _ in 0..a.per_session {
            if next.fetch_add(1, Ordering::Relaxed) >= a.messages {
                break 'connections;
            }
            wr.write_all(
                format!("MAIL FROM:<{}>\r\nRCPT TO:<{}>\r\nDATA\r\n", a.from, a.rcpt).as_bytes(),
            )
            .await?;
            let (m, r, d) = (
                reply(&mut rd).await?,
                reply(&mut rd).await?,
                reply(&mut rd).await?,
            );
            if m != 250 || r != 250 || d != 354 {
                codes.lock().unwrap().push(m.max(r).max(d));
                wr.write_all(b"RSET\r\n").await?;
                reply(&mut rd).await?;
                continue;
            }
            wr.write_all(&data).await?;
            let t = Instant::now();
            wr.write_all(b".\r\n").await?;
            let code = reply(&mut rd).await?;
            latencies.lock().unwrap().push(t.elapsed());
            codes.lock().unwrap().push(code);
        }
        wr.write_all(b"QUIT\r\n").await?;
        let _ = reply(&mut rd).await;
    }
    Ok(())
}

/// Dot-stuffed, CRLF message body for DATA.
fn prepare(raw: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    let mut out = Vec::with_capacity(raw.len() + 64);
    for line in text.split('\n') {
        if line.starts_with('.') {
            out.push(b'.');
        }
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let a = Arc::new(args());
    let data = Arc::new(prepare(&std::fs::read(&a.file).expect("--file readable")));
    let next = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::with_capacity(a.messages)));
    let codes = Arc::new(std::sync::Mutex::new(Vec::with_capacity(a.messages)));
    let start = Instant::now();
    let tasks: Vec<_> = (0..a.sessions)
        .map(|_| {
            tokio::spawn(session(
                a.clone(),
                data.clone(),
                next.clone(),
                latencies.clone(),
                codes.clone(),
            ))
        })
        .collect();
    let mut errors = 0;
    for t in tasks {
        if !matches!(t.await, Ok(Ok(()))) {
            errors += 1;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort();
    let codes = codes.lock().unwrap();
    let accepted = codes.iter().filter(|c| **c == 250).count();
    println!(
        "{{\"sent\":{},\"accepted\":{},\"other_replies\":{},\"session_errors\":{},\"seconds\":{:.3},\"accepted_per_s\":{:.1},\"eod_ms_p50\":{:.3},\"eod_ms_p99\":{:.3}}}",
        codes.len(),
        accepted,
        codes.len() - accepted,
        errors,
        elapsed,
        accepted as f64 / elapsed,
        pct(&lat, 0.5),
        pct(&lat, 0.99)
    );
}
