//! The milter protocol face: thin callbacks that hand everything to a
//! [`Session`] and translate its plan back into milter actions.

use crate::actions::{Disposition, HeaderOp, Plan};
use crate::daemon::runtime::Runtime;
use crate::daemon::session::Session;
use indymilter::{
    Actions, Callbacks, ContextActions, EomContext, MacroStage, NegotiateContext, ProtoOpts,
    SetErrorReply, SocketInfo, Status,
};
use std::ffi::{CStr, CString};
use std::sync::Arc;
use tracing::{debug, warn};

/// Macros we ask the MTA for, by stage.
fn requested_macros() -> Vec<(MacroStage, &'static str)> {
    vec![
        (MacroStage::Mail, "{auth_authen}"),
        (MacroStage::Data, "i"),
        (MacroStage::Eoh, "i"),
        (MacroStage::Eom, "i"),
    ]
}

/// Stages whose callbacks only record and always continue: the MTA need not
/// wait for our answer to them. Postfix then streams a message's header
/// fields and body without a round trip each (a dozen or more per message).
/// Connect and MAIL FROM are not among them: they may accept early.
pub const QUIET_STAGES: ProtoOpts = ProtoOpts::NOREPLY_HELO
    .union(ProtoOpts::NOREPLY_RCPT)
    .union(ProtoOpts::NOREPLY_DATA)
    .union(ProtoOpts::NOREPLY_HEADER)
    .union(ProtoOpts::NOREPLY_EOH)
    .union(ProtoOpts::NOREPLY_BODY);

/// What a quiet stage answers given the `negotiated` quiet stages: nothing
/// if the MTA agreed to that, else continue.
pub fn quiet_answer(negotiated: ProtoOpts, stage: ProtoOpts) -> Status {
    if negotiated.contains(stage) {
        Status::Noreply
    } else {
        Status::Continue
    }
}

fn proceed(session: Option<&Session>, stage: ProtoOpts) -> Status {
    quiet_answer(session.map_or(ProtoOpts::empty(), |s| s.quiet), stage)
}

fn text(s: &CStr) -> String {
    String::from_utf8_lossy(s.to_bytes()).into_owned()
}

pub fn callbacks(runtime: Arc<Runtime>) -> Callbacks<Session> {
    let rt_negotiate = runtime.clone();
    Callbacks::new()
        .on_negotiate(move |cx, actions, opts| {
            let rt = rt_negotiate.clone();
            Box::pin(async move { negotiate(cx, actions, opts, &rt) })
        })
        .on_connect(move |cx, hostname, socket| {
            let rt = runtime.clone();
            Box::pin(async move {
                // negotiate stored the session; a missing one means the MTA
                // skipped negotiation, which the protocol does not allow.
                let session = cx.data.get_or_insert_with(|| Session::new(&rt));
                let ip = match socket {
                    SocketInfo::Inet(addr) => Some(addr.ip()),
                    _ => None,
                };
                session.connect(&text(&hostname), ip);
                Status::Continue
            })
        })
        .on_helo(|cx, name| {
            Box::pin(async move {
                if let Some(s) = cx.data.as_mut() {
                    s.helo(&text(&name));
                }
                proceed(cx.data.as_ref(), ProtoOpts::NOREPLY_HELO)
            })
        })
        .on_mail(|cx, args| {
            Box::pin(async move {
                let auth = cx.macros.get(c"{auth_authen}").map(text);
                let sender = args.first().map(|a| text(a)).unwrap_or_default();
                match cx
                    .data
                    .as_mut()
                    .and_then(|s| s.mail(&sender, auth.as_deref()))
                {
                    Some(_) => Status::Accept,
                    None => Status::Continue,
                }
            })
        })
        .on_rcpt(|cx, args| {
            Box::pin(async move {
                if let (Some(s), Some(r)) = (cx.data.as_mut(), args.first()) {
                    s.rcpt(&text(r));
                }
                proceed(cx.data.as_ref(), ProtoOpts::NOREPLY_RCPT)
            })
        })
        .on_data(|cx| {
            Box::pin(async move {
                let id = cx.macros.get(c"i").map(text);
                if let Some(s) = cx.data.as_mut() {
                    s.set_queue_id(id.as_deref());
                }
                proceed(cx.data.as_ref(), ProtoOpts::NOREPLY_DATA)
            })
        })
        .on_header(|cx, name, value| {
            Box::pin(async move {
                if let Some(s) = cx.data.as_mut() {
                    s.header(&text(&name), value.to_bytes());
                }
                proceed(cx.data.as_ref(), ProtoOpts::NOREPLY_HEADER)
            })
        })
        .on_eoh(|cx| {
            Box::pin(async move {
                let id = cx.macros.get(c"i").map(text);
                if let Some(s) = cx.data.as_mut() {
                    s.set_queue_id(id.as_deref());
                }
                proceed(cx.data.as_ref(), ProtoOpts::NOREPLY_EOH)
            })
        })
        .on_body(|cx, chunk| {
            Box::pin(async move {
                if let Some(s) = cx.data.as_mut() {
                    s.body(&chunk);
                }
                proceed(cx.data.as_ref(), ProtoOpts::NOREPLY_BODY)
            })
        })
        .on_eom(|cx| Box::pin(eom(cx)))
        .on_abort(|cx| {
            Box::pin(async move {
                if let Some(s) = cx.data.as_mut() {
                    s.abort();
                }
                Status::Continue
            })
        })
        .on_close(|cx| {
            Box::pin(async move {
                // Dropping the session settles its metrics.
                cx.data.take();
                Status::Continue
            })
        })
}

fn negotiate(
    cx: &mut NegotiateContext<Session>,
    actions: Actions,
    opts: ProtoOpts,
    rt: &Runtime,
) -> Status {
    let wanted = Actions::ADD_HEADER | Actions::CHANGE_HEADER | Actions::QUARANTINE;
    if !actions.contains(wanted) {
        // Still run: authentication results and verdict logs remain useful,
        // but say loudly that actions will fail.
        warn!(offered = ?actions, "MTA does not offer header changes and quarantine");
    }
    cx.requested_actions = wanted & actions;
    let mut session = Session::new(rt);
    // The banner replaces the body; without the action, tagged mail goes
    // out with headers only (the session logs why). Asked for only when a
    // banner can be written: the MTA then need not prepare for a new body.
    if rt.snapshot().config.actions.banner && actions.contains(Actions::REPLACE_BODY) {
        cx.requested_actions |= Actions::REPLACE_BODY;
        session.replace_body = true;
    }
    if opts.contains(ProtoOpts::LEADING_SPACE) {
        cx.requested_opts |= ProtoOpts::LEADING_SPACE;
        session.leading_space = true;
    }
    session.quiet = QUIET_STAGES & opts;
    cx.requested_opts |= session.quiet;
    for (stage, names) in requested_macros() {
        let entry = cx.requested_macros.entry(stage).or_default();
        let mut joined = text(entry);
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(names);
        *entry = CString::new(joined).unwrap_or_default();
    }
    cx.data = Some(session);
    Status::Continue
}

async fn eom(cx: &mut EomContext<Session>) -> Status {
    let id = cx.macros.get(c"i").map(text);
    let Some(session) = cx.data.as_mut() else {
        return Status::Continue;
    };
    session.set_queue_id(id.as_deref());
    let outcome = session.end_of_message().await;
    let queue_id = session.queue_id().to_string();
    let fallback = session.config().on_internal_error;
    let tempfail_text = session.config().actions.tempfail_text.clone();
    if let Err(e) = apply(cx, &outcome.plan).await {
        if let Some(s) = cx.data.as_ref() {
            s.metrics().error("action");
        }
        warn!(queue_id, error = %e, "could not apply the verdict; applying on_internal_error");
        return match fallback {
            crate::settings::config::Fallback::Accept => Status::Accept,
            crate::settings::config::Fallback::Tempfail => {
                reply(cx, "451", "4.7.1", &tempfail_text);
                Status::Tempfail
            }
        };
    }
    match &outcome.plan.disposition {
        Disposition::Accept | Disposition::Quarantine { .. } => Status::Accept,
        Disposition::Reject { text } => {
            reply(cx, "550", "5.7.1", text);
            Status::Reject
        }
        Disposition::Tempfail { text } => {
            reply(cx, "451", "4.7.1", text);
            Status::Tempfail
        }
    }
}

fn reply(cx: &mut EomContext<Session>, code: &str, xcode: &str, msg: &str) {
    if let Err(e) = cx.reply.set_error_reply(code, Some(xcode), [msg]) {
        // Config validation keeps texts valid; fall back to the MTA's text.
        debug!(error = %e, "reply text refused");
    }
}

async fn apply(cx: &EomContext<Session>, plan: &Plan) -> Result<(), indymilter::ActionError> {
    let a = &cx.actions;
    for op in &plan.headers {
        match op {
            HeaderOp::Delete { name, index } => {
                a.change_header(cstr(name), *index, None::<CString>).await?
            }
            HeaderOp::InsertTop { name, value } => {
                a.insert_header(0, cstr(name), cstr(value)).await?
            }
            HeaderOp::Add { name, value } => a.add_header(cstr(name), cstr(value)).await?,
            HeaderOp::Change { name, index, value } => {
                a.change_header(cstr(name), *index, Some(cstr(value)))
                    .await?
            }
        }
    }
    if let Some(body) = &plan.body {
        a.replace_body(body).await?;
    }
    if let Disposition::Quarantine { reason } = &plan.disposition {
        a.quarantine(cstr(reason)).await?;
    }
    Ok(())
}

/// Header names and values we send never contain NUL (they are sanitised
/// or come from the MTA, which cannot send NUL); strip defensively anyway.
fn cstr(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}
