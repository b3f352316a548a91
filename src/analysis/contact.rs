//! Requests that need no link: a number to call, or replies sent to a
//! domain other than the sender's. Callback scams ("your order of Norton
//! 360 was charged, call us to cancel") ask for card details on the phone;
//! advance-fee and "reply with your account number" lures ask by reply.
//! With a brand claim, either is the request of the seed's rule.

use crate::vocab::domain;
use crate::vocab::message::Mail;
use regex::Regex;
use std::sync::OnceLock;

fn phone_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            // International form: +1 (888) 555-0199, +44 20 7946 0958.
            r"\+\d{1,3}[ .-]?\(?\d{1,4}\)?(?:[ .-]?\d{2,4}){2,4}",
            // North American toll-free numbers.
            r"|\b1?[ .-]?\(?8(?:00|33|44|55|66|77|88)\)?[ .-]?\d{3}[ .-]?\d{4}\b",
            // Japanese free dial and navi dial.
            r"|\b0(?:120|800|570)-?\d{2,3}-?\d{3,4}\b",
        ))
        .expect("phone pattern compiles")
    })
}

/// The first phone number in `text` (the body's opening, where a lure puts
/// it: [`crate::vocab::message::Mail::body_head`]), as written.
pub fn phone_number(text: &str) -> Option<String> {
    phone_pattern()
        .find(text)
        .map(|m| m.as_str().trim().to_string())
}

/// The Reply-To domain, when replies go to another registrable domain than
/// the From address.
pub fn diverted_reply(mail: &Mail) -> Option<String> {
    let reply = mail.msg.reply_to()?.first()?.address()?;
    let reply_domain = domain::of_address(reply)?;
    let reply_reg = domain::registrable(&reply_domain)?;
    (mail.sender_registrable.as_deref() != Some(reply_reg.as_str())).then_some(reply_domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_to_call() {
        for (text, want) in [
            (
                "Call us at +1 (888) 555-0199 to cancel",
                "+1 (888) 555-0199",
            ),
            ("cancel: 1-844-555-0123 today", "1-844-555-0123"),
            ("お問い合わせ 0120-123-456 まで", "0120-123-456"),
        ] {
            assert_eq!(phone_number(text).as_deref(), Some(want), "{text}");
        }
        for text in [
            "Order 250-1234567-1234567 shipped",
            "Version 2.6.32-5-amd64 released on 2024-11-30",
        ] {
            assert_eq!(phone_number(text), None, "{text}");
        }
    }
}
