//! `quarantine show`: one held message, and with `--check` the analysis
//! re-run on it as the daemon ran it.

use crate::commands::postfix::Instance;
use crate::commands::quarantine;
use crate::commands::quarantine_context::Context;

pub fn show(
    ctx: &Context,
    pf: &Instance,
    queue_id: &str,
    check: bool,
    raw: bool,
    json: bool,
) -> Result<String, String> {
    let (held, message) = quarantine::show(pf, queue_id)?;
    let report = if check {
        let cfg = ctx.config()?;
        let policy =
            crate::analysis::policy::Policy::load_files(&cfg.policy).map_err(|e| e.to_string())?;
        // Our own Authentication-Results on the held copy: what the
        // daemon found when the message arrived.
        let id = cfg
            .trust_authserv_id
            .clone()
            .unwrap_or_else(|| cfg.authserv_id.clone());
        // The envelope as Postfix stored it: without it the MAIL FROM and
        // recipient findings vanish and the score drops (issue 22 saw 175
        // become 110), so the re-judgement would not be the daemon's.
        let env = pf.envelope(queue_id)?;
        let mut r = crate::commands::check::offline_to(&message, &env, &policy, &cfg, Some(&id));
        r.describe(&message);
        Some((r, env))
    } else {
        None
    };
    if json {
        let v = serde_json::json!({
            "held": held,
            "check": report.as_ref().map(|(r, _)| r),
            "envelope": report.as_ref().map(|(_, e)| serde_json::json!({
                "mail_from": e.mail_from,
                "rcpt_to": e.rcpts,
                "client_ip": e.client_ip.map(|ip| ip.to_string()),
                "client_name": e.client_name,
                "helo": e.helo,
            })),
        });
        return serde_json::to_string_pretty(&v)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string());
    }
    let mut out = quarantine::render_one(&held);
    if let Some((r, env)) = &report {
        out.push_str("\nanalysis now (check, with the stored envelope):\n");
        let one = |s: &str| crate::vocab::sanitize::one_line(s, 320);
        out.push_str(&format!(
            "envelope: MAIL FROM <{}>, RCPT TO {}, client {} [{}], HELO {}\n",
            one(&env.mail_from),
            env.rcpts
                .iter()
                .map(|r| format!("<{}>", one(r)))
                .collect::<Vec<_>>()
                .join(" "),
            one(env.client_name.as_deref().unwrap_or("-")),
            env.client_ip
                .map(|ip| ip.to_string())
                .unwrap_or_else(|| "-".into()),
            if env.helo.is_empty() {
                "-".to_string()
            } else {
                one(&env.helo)
            },
        ));
        out.push_str(&crate::commands::check::render(r));
    }
    if raw {
        out.push_str("\n--- message as stored ---\n");
        // Escape sequences in a phisher's message must not drive the terminal.
        let text: String = String::from_utf8_lossy(&message)
            .chars()
            .map(|c| {
                if c.is_control() && c != '\n' && c != '\t' {
                    '?'
                } else {
                    c
                }
            })
            .collect();
        out.push_str(&text);
    }
    Ok(out)
}
