//! The sending side: a small SMTP client that stops at the first refusal and
//! reports where it happened, since a milter can answer at any stage.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

/// The server's last reply in a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpOutcome {
    /// Where the transaction ended: "connect", "ehlo", "mail", "rcpt",
    /// "data" or "end-of-data" (the reply after the final dot).
    pub stage: &'static str,
    pub code: u16,
    /// Reply text, continuation lines joined with '\n'.
    pub text: String,
}

impl SmtpOutcome {
    /// Accepted at the end of DATA: Postfix has queued the message.
    pub fn accepted(&self) -> bool {
        self.stage == "end-of-data" && self.code == 250
    }

    pub fn is_temporary(&self) -> bool {
        (400..500).contains(&self.code)
    }

    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }
}

impl std::fmt::Display for SmtpOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at {}: {}", self.code, self.stage, self.text)
    }
}

pub struct Envelope<'a> {
    pub helo: &'a str,
    pub mail_from: &'a str,
    pub rcpt_to: &'a str,
    /// Client address announced with a PROXY v1 header (the listener must
    /// have `smtpd_upstream_proxy_protocol = haproxy`).
    pub proxy_ip: Option<IpAddr>,
}

pub fn send(server: SocketAddr, env: &Envelope, raw: &[u8]) -> std::io::Result<SmtpOutcome> {
    let stream = TcpStream::connect_timeout(&server, Duration::from_secs(5))?;
    // Generous: the milter may wait on DNS before Postfix answers the dot.
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_nodelay(true)?;
    let mut out = stream.try_clone()?;
    let mut input = BufReader::new(stream);

    if let Some(ip) = env.proxy_ip {
        // Postfix reads the PROXY line before it sends its greeting.
        let (family, dst) = match ip {
            IpAddr::V4(_) => ("TCP4", server.ip().to_string()),
            IpAddr::V6(_) => ("TCP6", "::1".to_string()),
        };
        // One write: Postfix takes the header from a single read and gives
        // up on a line split over several segments.
        let line = format!("PROXY {family} {ip} {dst} 40000 {}\r\n", server.port());
        out.write_all(line.as_bytes())?;
    }
    let mut step = |stage: &'static str, cmd: Option<String>| -> std::io::Result<SmtpOutcome> {
        if let Some(cmd) = cmd {
            out.write_all(cmd.as_bytes())?;
            out.write_all(b"\r\n")?;
        }
        read_reply(&mut input, stage)
    };

    let r = step("connect", None)?;
    if r.code != 220 {
        return Ok(r);
    }
    let r = step("ehlo", Some(format!("EHLO {}", env.helo)))?;
    if r.code != 250 {
        return Ok(r);
    }
    let r = step("mail", Some(format!("MAIL FROM:<{}>", env.mail_from)))?;
    if r.code != 250 {
        return Ok(r);
    }
    let r = step("rcpt", Some(format!("RCPT TO:<{}>", env.rcpt_to)))?;
    if r.code != 250 {
        return Ok(r);
    }
    let r = step("data", Some("DATA".into()))?;
    if r.code != 354 {
        return Ok(r);
    }
    let mut body = dot_stuff(raw);
    body.extend_from_slice(b".");
    let r = step(
        "end-of-data",
        Some(String::from_utf8_lossy(&body).into_owned()),
    )?;
    let _ = step("quit", Some("QUIT".into()));
    Ok(r)
}

fn read_reply(input: &mut impl BufRead, stage: &'static str) -> std::io::Result<SmtpOutcome> {
    let mut text = Vec::new();
    loop {
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("connection closed at {stage} after {text:?}"),
            ));
        }
        let line = line.trim_end();
        let code = line
            .get(..3)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("not an SMTP reply at {stage}: {line:?}"),
                )
            })?;
        text.push(line.get(4..).unwrap_or("").to_string());
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(SmtpOutcome {
                stage,
                code,
                text: text.join("\n"),
            });
        }
    }
}

/// CRLF line ends, leading dots doubled, a final CRLF guaranteed.
fn dot_stuff(raw: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    let mut out = Vec::with_capacity(raw.len() + 64);
    for line in text.strip_suffix('\n').unwrap_or(&text).split('\n') {
        if line.starts_with('.') {
            out.push(b'.');
        }
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}
