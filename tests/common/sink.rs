//! The final destination of every test message: a tiny SMTP server on
//! loopback that keeps what Postfix delivers, so trials can look at the
//! headers the milter left behind.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One delivered message, as Postfix's SMTP client handed it over.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The message with dot-stuffing undone and CRLF line ends.
    pub data: String,
}

#[derive(Default)]
struct Store {
    messages: Mutex<Vec<Delivered>>,
    arrived: Condvar,
}

pub struct Sink {
    addr: SocketAddr,
    store: Arc<Store>,
}

impl Sink {
    pub fn start() -> std::io::Result<Sink> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let store = Arc::new(Store::default());
        let shared = store.clone();
        // The accept loop lives as long as the test process; Postfix is
        // stopped before the process ends, so nothing is left talking to it.
        std::thread::Builder::new()
            .name("smtp-sink".into())
            .spawn(move || {
                for conn in listener.incoming().flatten() {
                    let store = shared.clone();
                    std::thread::spawn(move || {
                        let _ = serve(conn, &store);
                    });
                }
            })?;
        Ok(Sink { addr, store })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Waits for a message whose text contains `marker`.
    pub fn wait_for(&self, marker: &str, timeout: Duration) -> Option<Delivered> {
        let deadline = Instant::now() + timeout;
        let mut messages = self
            .store
            .messages
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(m) = messages.iter().find(|m| m.data.contains(marker)) {
                return Some(m.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            messages = self
                .store
                .arrived
                .wait_timeout(messages, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Messages delivered so far that contain `marker` (no waiting).
    pub fn find(&self, marker: &str) -> Vec<Delivered> {
        let messages = self
            .store
            .messages
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        messages
            .iter()
            .filter(|m| m.data.contains(marker))
            .cloned()
            .collect()
    }
}

fn serve(conn: TcpStream, store: &Store) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut out = conn.try_clone()?;
    let mut input = BufReader::new(conn);
    out.write_all(b"220 sink.e2e.test ESMTP\r\n")?;
    let mut mail_from = String::new();
    let mut rcpt_to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_string();
        let verb = cmd
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => out.write_all(b"250-sink.e2e.test\r\n250 8BITMIME\r\n")?,
            "HELO" => out.write_all(b"250 sink.e2e.test\r\n")?,
            "MAIL" => {
                mail_from = argument(&cmd, "MAIL FROM:");
                rcpt_to.clear();
                out.write_all(b"250 2.1.0 ok\r\n")?;
            }
            "RCPT" => {
                rcpt_to.push(argument(&cmd, "RCPT TO:"));
                out.write_all(b"250 2.1.5 ok\r\n")?;
            }
            "DATA" => {
                out.write_all(b"354 go ahead\r\n")?;
                let mut data = Vec::new();
                let mut raw = Vec::new();
                loop {
                    raw.clear();
                    if input.read_until(b'\n', &mut raw)? == 0 {
                        return Ok(());
                    }
                    if raw == b".\r\n" || raw == b".\n" {
                        break;
                    }
                    let l = if raw.starts_with(b"..") {
                        &raw[1..]
                    } else {
                        &raw[..]
                    };
                    data.extend_from_slice(l);
                }
                let msg = Delivered {
                    mail_from: mail_from.clone(),
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    data: String::from_utf8_lossy(&data).into_owned(),
                };
                store
                    .messages
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(msg);
                store.arrived.notify_all();
                out.write_all(b"250 2.0.0 stored\r\n")?;
            }
            "RSET" => {
                rcpt_to.clear();
                out.write_all(b"250 2.0.0 ok\r\n")?;
            }
            "NOOP" => out.write_all(b"250 2.0.0 ok\r\n")?,
            "QUIT" => {
                out.write_all(b"221 2.0.0 bye\r\n")?;
                return Ok(());
            }
            _ => out.write_all(b"502 5.5.2 not implemented\r\n")?,
        }
    }
}

/// The address of `MAIL FROM:<a> PARAMS` or `RCPT TO:<a>`, without brackets.
fn argument(cmd: &str, prefix: &str) -> String {
    let rest = cmd.get(prefix.len()..).unwrap_or("").trim_start();
    let addr = rest.split(' ').next().unwrap_or("");
    addr.trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}
