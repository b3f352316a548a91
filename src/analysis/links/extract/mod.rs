//! Every link a reader could follow, wherever the message hides it.
//!
//! `mime` walks the MIME tree (nested messages included); `bare` scans
//! plain text for bare URLs and `html` scans HTML (bodies and attachments)
//! for the elements that navigate; `entities` decodes the character
//! references attackers hide URLs behind; `normalize` turns each target
//! into one comparable form, so the rules compare plain strings; `images`
//! reads the QR codes of image parts, within their own budget.

pub(crate) mod bare;
pub(crate) mod entities;
pub(crate) mod html;
pub(crate) mod images;
pub(crate) mod mime;
pub(crate) mod normalize;

pub use mime::extract;

/// Where a link was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Text,
    Html,
    /// An HTML or SVG attachment: opened locally, outside any webmail sandbox.
    Attachment,
    /// A QR code in an image part: opened on a phone, outside the mail.
    Image,
}

/// Which construct carried the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Bare,
    Anchor,
    Area,
    FormAction,
    MetaRefresh,
    QrCode,
}

/// One http(s) link, normalised.
#[derive(Debug, Clone)]
pub struct Link {
    /// The URL as the `url` crate serialises it (IDNA host, percent-encoded path).
    pub url: String,
    /// Lower-case ASCII host; IPv6 in brackets.
    pub host: String,
    pub ip: bool,
    /// Registrable domain of `host`; `None` for addresses.
    pub registrable: Option<String>,
    /// `user[:password]` before the host, percent-decoded.
    pub userinfo: Option<String>,
    /// Path and query, percent-decoded and lower-cased, for keyword matching.
    pub path: String,
    /// Visible text of an `<a>`, entity-decoded, whitespace collapsed.
    pub text: Option<String>,
    pub kind: LinkKind,
    pub origin: Origin,
    /// Inside the returned message of a delivery report: someone else's mail
    /// quoted back to its (often forged) sender, not what the bouncer wrote.
    pub returned: bool,
    /// For a QR code link, the image part it was read from: its file name,
    /// content-id or part number, as evidence shows it.
    pub image: Option<String>,
}

/// A `data:` URI in a navigating attribute.
#[derive(Debug, Clone)]
pub struct DataUri {
    /// Lower-case media type, `text/plain` when absent (RFC 2397).
    pub media_type: String,
    /// Whether the payload visibly carries script.
    pub script: bool,
    pub origin: Origin,
}

/// One HTML form.
#[derive(Debug, Clone)]
pub struct Form {
    /// The action, when it resolves to an absolute http(s) URL.
    pub action: Option<Link>,
    pub origin: Origin,
    /// The form asks for credentials: a password, one-time-code, account
    /// or card field. Search boxes and sign-up forms (posted or not) ask
    /// for none of these.
    pub collects: bool,
}

/// One HTML document (body part or attachment) and what it can do.
#[derive(Debug, Clone, Default)]
pub struct HtmlDoc {
    /// File name for attachments; `None` for message bodies.
    pub attachment: Option<String>,
    pub forms: usize,
    pub scripts: usize,
    pub refresh: bool,
    pub password_input: bool,
    /// An input that looks like a one-time code or PIN.
    pub code_input: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Extracted {
    pub links: Vec<Link>,
    pub forms: Vec<Form>,
    pub data_uris: Vec<DataUri>,
    pub docs: Vec<HtmlDoc>,
    /// What a bound cut off, one phrase per bound reached.
    pub truncated: Vec<String>,
    /// Images decoded to look for QR codes.
    pub images_decoded: usize,
}
