//! The words of the banner, as plain text and as an HTML block, and the
//! marker that recognises a banner of ours from an earlier pass.

pub use crate::settings::config::Lang;

/// What the banner says: the brand the mail claims (when a brand finding
/// made the verdict) and that brand's own statement to its customers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notice {
    pub lang: Lang,
    /// The brand's name as customers know it.
    pub brand: Option<String>,
    /// The brand's statement (policy `banner`), or the policy's default.
    pub statement: Option<String>,
}

/// Ends the first line of the text banner and names the HTML block. A part
/// that starts with it already carries our banner (a message that passed
/// through us twice, or a relay loop) and gets no second one.
pub const MARKER: &str = "[kinko-milter]";
/// The attribute that names our HTML block.
pub const HTML_MARKER: &str = "data-kinko-banner";

struct Lines {
    title: String,
    lines: Vec<String>,
}

fn lines(n: &Notice) -> Lines {
    let mut lines = Vec::new();
    let title = match n.lang {
        Lang::Ja => "【ご注意】このメールは詐欺（なりすまし）の疑いがあります",
        Lang::En => "WARNING: this message may be a fraud (impersonation)",
    };
    match (&n.brand, n.lang) {
        (Some(b), Lang::Ja) => lines.push(format!(
            "このメールは「{b}」を名乗っていますが、{b}のドメインから送信されたものではありません。"
        )),
        (Some(b), Lang::En) => lines.push(format!(
            "This message claims to come from \"{b}\", but it was not sent from {b}'s domain."
        )),
        (None, Lang::Ja) => lines
            .push("このメールには、不審なリンクなど詐欺メールの特徴が見つかりました。".to_string()),
        (None, Lang::En) => lines
            .push("This message shows signs of phishing, such as a suspicious link.".to_string()),
    }
    match &n.statement {
        Some(s) if !s.trim().is_empty() => lines.push(s.trim().to_string()),
        _ => lines.push(
            match n.lang {
                Lang::Ja => "メール内のリンクからログインしたり、パスワードや暗証番号、ワンタイムパスワードなどを入力したりしないでください。",
                Lang::En => "Do not log in from links in this message, and do not enter passwords, PINs or one-time codes.",
            }
            .to_string(),
        ),
    }
    Lines {
        title: format!("{title} {MARKER}"),
        lines,
    }
}

/// The plain-text banner, lines ended by `eol`, with a blank line after it.
pub fn text(n: &Notice, eol: &str) -> String {
    let l = lines(n);
    let rule = "=".repeat(40);
    let mut out = format!("{}{eol}", l.title);
    for line in &l.lines {
        out.push_str(line);
        out.push_str(eol);
    }
    out.push_str(&rule);
    out.push_str(eol);
    out.push_str(eol);
    out
}

/// The HTML banner: one table with inline styles only (no classes, no
/// scripts, no images), which webmail and Outlook's Word engine keep.
pub fn html(n: &Notice, eol: &str) -> String {
    let l = lines(n);
    let mut out = format!(
        "<table {HTML_MARKER}=\"1\" role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"border-collapse:collapse;margin:0 0 16px 0;\">{eol}<tr><td style=\"border:2px solid #c00000;background-color:#fff2f2;color:#000000;padding:12px;font-family:sans-serif;font-size:14px;line-height:1.6;\">{eol}"
    );
    out.push_str(&format!(
        "<div style=\"color:#c00000;font-weight:bold;margin:0 0 6px 0;\">{}</div>{eol}",
        escape(&l.title)
    ));
    for line in &l.lines {
        out.push_str(&format!(
            "<div style=\"margin:0;\">{}</div>{eol}",
            escape(line)
        ));
    }
    out.push_str(&format!("</td></tr>{eol}</table>{eol}"));
    out
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether decoded text, from where the banner would go, starts with one.
pub fn has_text_banner(after: &str) -> bool {
    after
        .trim_start_matches('\u{feff}')
        .trim_start()
        .lines()
        .next()
        .is_some_and(|first| first.trim_end().ends_with(MARKER))
}

/// Whether decoded HTML, from where the banner would go, starts with one.
pub fn has_html_banner(after: &str) -> bool {
    let rest = after.trim_start_matches('\u{feff}').trim_start();
    // Our table's first attribute is the marker.
    rest.strip_prefix("<table ")
        .is_some_and(|tag| tag.starts_with(HTML_MARKER))
}
