//! A milter that does nothing, on the same library, runtime and socket settings as
//! kinko-milter: the protocol floor for load tests. Postfix sends it every
//! stage (connect to end of message, body included), so the difference to
//! kinko-milter is exactly the work kinko-milter does.
//!
//!     cargo run --release --example noop_milter -- 127.0.0.1:7045

use indymilter::{Callbacks, Status};
use tokio::net::TcpListener;

fn main() -> std::io::Result<()> {
    // The same number of runtime threads as kinko-milter's default.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(kinko_milter::config::Config::default().threads())
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
    let callbacks: Callbacks<()> = Callbacks::new()
        .on_connect(|_, _, _| Box::pin(async { Status::Continue }))
        .on_helo(|_, _| Box::pin(async { Status::Continue }))
        .on_mail(|_, _| Box::pin(async { Status::Continue }))
        .on_rcpt(|_, _| Box::pin(async { Status::Continue }))
        .on_data(|_| Box::pin(async { Status::Continue }))
        .on_header(|_, _, _| Box::pin(async { Status::Continue }))
        .on_eoh(|_| Box::pin(async { Status::Continue }))
        .on_body(|_, _| Box::pin(async { Status::Continue }))
        .on_eom(|_| Box::pin(async { Status::Continue }));
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    // Nagle off, as kinko-milter does, so the floor is comparable.
    let listener = kinko_milter::server::NoDelayListener(listener);
    indymilter::run(listener, callbacks, Default::default(), shutdown).await
}
