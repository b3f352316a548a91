//! The HTTP listener for Prometheus (`/metrics`) and orchestration probes
//! (`/ready`, `/healthz`). Deliberately tiny: HTTP/1.1, GET only.

use crate::daemon::listener::Backoff;
use crate::daemon::runtime::Runtime;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::debug;

pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Connections served at once; more wait in the listen queue, where they
/// hold no descriptor of ours.
const MAX_CONNECTIONS: usize = 32;
/// A client must send its request head within this time.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Upper bound for a whole connection, slow readers included.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// hyper's smallest read buffer; a request head must fit.
const MAX_REQUEST_BYTES: usize = 8192;

/// Serves until the process ends: while the daemon drains, `/ready`
/// answers 503 and `/metrics` goes on showing the drain.
pub async fn serve(listener: TcpListener, runtime: Arc<Runtime>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut backoff = Backoff::new();
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        std::future::poll_fn(|cx| backoff.poll_ready(cx)).await;
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                backoff.failed("http", &e, &runtime.metrics);
                continue;
            }
        };
        backoff.succeeded();
        let rt = runtime.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let rt = rt.clone();
                async move { Ok::<_, Infallible>(respond(&req, &rt)) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(false)
                .max_buf_size(MAX_REQUEST_BYTES)
                .serve_connection(TokioIo::new(stream), svc);
            match tokio::time::timeout(CONNECTION_TIMEOUT, conn).await {
                Ok(Err(e)) => debug!(error = %e, "metrics connection ended"),
                Err(_) => debug!("metrics connection timed out"),
                Ok(Ok(())) => {}
            }
            drop(permit);
        });
    }
}

fn respond<B>(req: &Request<B>, rt: &Runtime) -> Response<Full<Bytes>> {
    let (status, ctype, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => (
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            rt.metrics.render(),
        ),
        (&Method::GET, "/ready") if rt.guards.draining() => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "shutting down\n".to_string(),
        ),
        (&Method::GET, "/ready") => {
            let s = rt.snapshot();
            (
                StatusCode::OK,
                "text/plain",
                format!(
                    "ready: policy {} ({})\n",
                    s.policy.name,
                    s.policy.brands_counted()
                ),
            )
        }
        (&Method::GET, "/healthz") => (StatusCode::OK, "text/plain", "ok\n".to_string()),
        (&Method::GET, _) => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_string(),
        ),
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".to_string(),
        ),
    };
    Response::builder()
        .status(status)
        .header("content-type", ctype)
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts are valid")
}
