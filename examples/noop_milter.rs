//! A milter that does nothing, on the same library, runtime and socket settings as
//! kinko-milter: the protocol floor for load tests. Postfix sends it every
//! stage (connect to end of message, body included), so the difference to
//! kinko-milter is exactly the work kinko-milter does.
//!
//!     cargo run --release --example noop_milter -- 127.0.0.1:7045 [--headers]
//!
//! With `--headers` it writes what kinko-milter writes to accepted mail (one
//! `Authentication-Results` field on top, of the same length), so the cost
//! of the header edits and the cost of the analysis can be seen apart.

use indymilter::{Actions, Callbacks, ContextActions, ProtoOpts, Status};
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    let headers = args.iter().any(|a| a == "--headers");
    let addr = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:7045".into());
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("noop milter on inet:{addr}");
    // The same protocol options as kinko-milter: the MTA is asked not to
    // wait at the stages kinko-milter only records, so the floor is the
    // protocol as kinko-milter speaks it.
    let callbacks: Callbacks<ProtoOpts> = Callbacks::new()
        .on_negotiate(move |cx, actions, offered| {
            Box::pin(async move {
                if headers {
                    cx.requested_actions |= Actions::ADD_HEADER & actions;
                }
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
        .on_eom(move |cx| {
            Box::pin(async move {
                if headers {
                    // As long as kinko-milter's for the bench message: SPF,
                    // DKIM and DMARC results with their properties.
                    let value = c" mx.bench.example; spf=pass smtp.mailfrom=bank.example;\n\tdkim=pass header.d=bank.example header.s=sel header.b=AbCdEfGh;\n\tdmarc=pass policy.dmarc=reject header.from=bank.example";
                    let _ = cx
                        .actions
                        .insert_header(0, c"Authentication-Results", value)
                        .await;
                }
                Status::Continue
            })
        });
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    // Nagle off, as kinko-milter does, so the floor is comparable.
    let listener = kinko_milter::daemon::listener::TcpAccept(listener);
    indymilter::run(listener, callbacks, Default::default(), shutdown).await
}
