//! Raw milter protocol bytes, in any order and of any length, through the
//! daemon's own stack: the connection guard, indymilter and the session.
//! Authentication comes from a trusted upstream header, so no input waits
//! for DNS; everything else runs as in the daemon.
#![no_main]
use kinko_milter::settings::config::Config;
use kinko_milter::daemon::listener::MilterListener;
use kinko_milter::telemetry::metrics::Metrics;
use kinko_milter::daemon::runtime::Runtime;
use libfuzzer_sys::fuzz_target;
use std::io;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// Hands indymilter one in-memory connection, then nothing more.
struct One(Option<DuplexStream>);

impl indymilter::Listener for One {
    type Io = DuplexStream;

    fn poll_accept(&mut self, _: &mut Context<'_>) -> Poll<io::Result<DuplexStream>> {
        match self.0.take() {
            Some(s) => Poll::Ready(Ok(s)),
            None => Poll::Pending,
        }
    }
}

fn runtime() -> &'static (tokio::runtime::Runtime, Arc<Runtime>) {
    static RT: OnceLock<(tokio::runtime::Runtime, Arc<Runtime>)> = OnceLock::new();
    RT.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let cfg = Config {
            trust_authserv_id: Some("upstream.example".into()),
            trusted_networks: vec![],
            ..Config::default()
        };
        let metrics = Arc::new(Metrics::new());
        let state = rt
            .block_on(async { kinko_milter::daemon::runtime::build_state(cfg, &metrics, None) })
            .unwrap();
        let runtime = Arc::new(Runtime::new(state, metrics));
        (rt, runtime)
    })
}

fuzz_target!(|data: &[u8]| {
    let (rt, runtime) = runtime();
    rt.block_on(async {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let listener = MilterListener::new(One(Some(server)), runtime.guards.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let callbacks = kinko_milter::daemon::milter::callbacks(runtime.clone());
        let config = indymilter::Config {
            connection_timeout: Duration::from_secs(2),
            ..Default::default()
        };
        let server = tokio::spawn(indymilter::run(listener, callbacks, config, stopped));
        let talk = async {
            let (mut rd, mut wr) = tokio::io::split(&mut client);
            let write = async {
                let _ = wr.write_all(data).await;
                let _ = wr.shutdown().await;
            };
            let read = async {
                let mut sink = Vec::new();
                let _ = rd.read_to_end(&mut sink).await;
            };
            tokio::join!(write, read);
        };
        // Every input must end: EOF from us ends the session, so a hang
        // here is a bug the timeout turns into a crash.
        tokio::time::timeout(Duration::from_secs(10), talk)
            .await
            .expect("the session ended");
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    });
});
