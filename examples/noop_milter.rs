//! A milter that does nothing, on the same library, runtime and socket settings as
//! kinko-milter: the protocol floor for load tests. Postfix sends it every
//! stage (connect to end of message, body included), so the difference to
//! kinko-milter is exactly the work kinko-milter does.
//!
//!     cargo run --release --example noop_milter -- 127.0.0.1:7045

use indymilter::{Callbacks, ProtoOpts, Status};
use kinko_milter::daemon::milter::{quiet_answer, QUIET_STAGES};
use tokio::net::TcpListener;

fn main() -> std::io::Result<()> {
    // The same number of runtime threads as kinko-milter's default.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(kinko_milter::settings::config::Config::default().threads())
        .enable_all()
        .build()?
        .block_on(serve())
}

async fn serve() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7045".into());
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("noop milter on inet:{addr}");
    // The same protocol options as kinko-milter: the MTA is asked not to
    // wait at the stages kinko-milter only records, so the floor is the
    // protocol as kinko-milter speaks it.
    let callbacks: Callbacks<ProtoOpts> = Callbacks::new()
        .on_negotiate(|cx, _, offered| {
            Box::pin(async move {
                let quiet = QUIET_STAGES & offered;
                cx.requested_opts |= quiet;
                cx.data = Some(quiet);
                Status::Continue
            })
        })
        .on_connect(|_, _, _| Box::pin(async { Status::Continue }))
        .on_helo(|cx, _| {
            Box::pin(
                async move { quiet_answer(cx.data.unwrap_or_default(), ProtoOpts::NOREPLY_HELO) },
            )
        })
        .on_mail(|_, _| Box::pin(async { Status::Continue }))
        .on_rcpt(|cx, _| {
            Box::pin(
                async move { quiet_answer(cx.data.unwrap_or_default(), ProtoOpts::NOREPLY_RCPT) },
            )
        })
        .on_data(|cx| {
            Box::pin(
                async move { quiet_answer(cx.data.unwrap_or_default(), ProtoOpts::NOREPLY_DATA) },
            )
        })
        .on_header(|cx, _, _| {
            Box::pin(
                async move { quiet_answer(cx.data.unwrap_or_default(), ProtoOpts::NOREPLY_HEADER) },
            )
        })
        .on_eoh(|cx| {
            Box::pin(
                async move { quiet_answer(cx.data.unwrap_or_default(), ProtoOpts::NOREPLY_EOH) },
            )
        })
        .on_body(|cx, _| {
            Box::pin(
                async move { quiet_answer(cx.data.unwrap_or_default(), ProtoOpts::NOREPLY_BODY) },
            )
        })
        .on_eom(|_| Box::pin(async { Status::Continue }));
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    // Nagle off, as kinko-milter does, so the floor is comparable.
    let listener = kinko_milter::daemon::listener::TcpAccept(listener);
    indymilter::run(listener, callbacks, Default::default(), shutdown).await
}
