//! Signs a message read from stdin with an RSA key (DER, PKCS#1 or PKCS#8,
//! as written by `openssl rsa -outform DER`) for load tests and manual checks.
//!
//!     dkim_sign key.der example.test sel < in.eml > signed.eml

use mail_auth::common::crypto::{RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer};
use std::io::{Read, Write};

fn main() {
    let mut args = std::env::args().skip(1);
    let (key, domain, selector) = match (args.next(), args.next(), args.next()) {
        (Some(k), Some(d), Some(s)) => (k, d, s),
        _ => {
            eprintln!("usage: dkim_sign KEY.der DOMAIN SELECTOR < message > signed");
            std::process::exit(2);
        }
    };
    let der = std::fs::read(&key).expect("key file readable");
    // OpenSSL 3 writes PKCS#8 unless told -traditional; take either.
    let key =
        RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der.clone())))
            .or_else(|_| {
                RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)))
            })
            .expect("an RSA private key in DER (PKCS#1 or PKCS#8)");
    let mut raw = Vec::new();
    std::io::stdin().read_to_end(&mut raw).expect("stdin");
    // Sign what will travel: CRLF line ends.
    let raw = String::from_utf8_lossy(&raw)
        .replace("\r\n", "\n")
        .replace('\n', "\r\n");
    let sig = DkimSigner::from_key(key)
        .domain(domain)
        .selector(selector)
        .headers([
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "MIME-Version",
            "Content-Type",
        ])
        .sign(raw.as_bytes())
        .expect("signing");
    let mut out = std::io::stdout().lock();
    out.write_all(sig.to_header().as_bytes()).unwrap();
    out.write_all(raw.as_bytes()).unwrap();
}
