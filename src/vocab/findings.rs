//! The vocabulary every analysis module speaks: what was found, and what to do.
//!
//! Kind names are part of the external interface (metrics labels, `eval`
//! tables, policy keys, JSON output), so they are a closed enum rather than
//! free strings: a typo in a module is a compile error, and metric label
//! cardinality stays bounded.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! kinds {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal ),+ $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum FindingKind {
            $( $(#[$doc])* #[serde(rename = $name)] $variant, )+
        }

        impl FindingKind {
            pub const ALL: &'static [FindingKind] = &[$(FindingKind::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(FindingKind::$variant => $name,)+ }
            }

            pub fn from_name(name: &str) -> Option<FindingKind> {
                match name { $($name => Some(FindingKind::$variant),)+ _ => None }
            }
        }
    };
}

kinds! {
    // Authentication.
    /// DMARC failed and the domain owner asks for rejection.
    DmarcReject = "dmarc-reject",
    /// DMARC failed and the domain owner asks for quarantine.
    DmarcQuarantine = "dmarc-quarantine",
    /// DMARC failed under `p=none` (or the pct sample spared it).
    DmarcFail = "dmarc-fail",
    SpfFail = "spf-fail",
    SpfSoftfail = "spf-softfail",
    DkimFail = "dkim-fail",

    // Sender impersonation.
    /// From is a protected brand's own domain, and the mail does not
    /// authenticate as the brand (no DMARC pass, no aligned DKIM, no
    /// trusted ARC sealer, none of the brand's providers), whatever the
    /// owner publishes: the commonest phishing in Japan.
    BrandSpoof = "brand-spoof",
    Homograph = "homograph",
    Typo = "typo",
    TldSwap = "tld-swap",
    Combo = "combo",
    Subdomain = "subdomain",
    DisplayName = "display-name",
    FreemailBrand = "freemail-brand",
    SubjectBrand = "subject-brand",
    /// The body's greeting addresses the reader as the brand's customer
    /// ("Dear MetaMask user", 「三井住友カードをご利用のお客様」).
    GreetingBrand = "greeting-brand",
    /// Invisible or bidi control characters in names or addresses.
    HiddenChars = "hidden-chars",

    // Links and forms.
    LinkTextMismatch = "link-text-mismatch",
    LinkLookalike = "link-lookalike",
    LinkBrand = "link-brand",
    LinkIpHost = "link-ip-host",
    LinkUserinfo = "link-userinfo",
    LinkPunycode = "link-punycode",
    LinkShortener = "link-shortener",
    /// Link to a free hosting, app-platform or form service.
    LinkHosting = "link-hosting",
    /// The From domain is a free hosting or app-platform domain.
    SenderHosting = "sender-hosting",
    LinkCredentialPath = "link-credential-path",
    LinkFeed = "link-feed",
    FormPassword = "form-password",
    FormExternalAction = "form-external-action",
    HtmlAttachment = "html-attachment",
    /// A link that downloads a program, script, installer, disk image or
    /// phone app package (`…/setup.exe`, `…/guard.apk`, `?filename=x.msi`):
    /// the fake "security software" a bank never mails.
    LinkDownload = "link-download",
    DataUri = "data-uri",
    /// The seed's rule: the mail speaks as a protected brand (display name,
    /// a subject that speaks as it, a lookalike sender domain), does not
    /// come from the brand's own domains, and asks the reader to act (a
    /// link off the brand's domains, a form, an HTML attachment). The
    /// brand never sends that, whatever the wording.
    BrandImpersonation = "brand-impersonation",
    /// A brand claim (name, lookalike, brand words) together with a credential link.
    BrandCredentialLink = "brand-credential-link",
    /// Authenticated mail of the brand itself that carries a credential link.
    OfficialCredentialLink = "official-credential-link",
    /// Wording that asks for credentials under pressure ("verify your account
    /// … suspended", 本人確認 … 利用停止), with a link off the brands' sites.
    CredentialLure = "credential-lure",
    /// A credential lure none of whose links goes to the sender's own domain.
    LureForeignLink = "lure-foreign-link",
    /// A credential lure sent from, or linking to, a free hosting platform.
    HostedLure = "hosted-lure",

    // Attachments (src/attachments/): directly or one level deep in an archive.
    /// Windows or other executable code (PE, ELF, Mach-O, jar, msi …).
    AttachmentExecutable = "attachment-executable",
    /// Script Windows runs on a double click (js, vbs, hta, ps1, bat …).
    AttachmentScript = "attachment-script",
    /// Shortcut (lnk, url) that starts a program or opens a remote file.
    AttachmentShortcut = "attachment-shortcut",
    /// Disk image (iso, img, vhd, vhdx) that mounts past mark-of-the-web.
    AttachmentDiskImage = "attachment-disk-image",
    /// Office file carrying VBA macros (docm, xlsm, pptm, OLE with VBA).
    AttachmentMacro = "attachment-macro",
    /// OneNote file, a carrier for embedded scripts.
    AttachmentOnenote = "attachment-onenote",
    /// Password-protected archive: its content cannot be checked.
    ArchiveEncrypted = "archive-encrypted",
    /// Archive that could not be read within its bounds (damaged, a header
    /// or dictionary past the memory bound, a coder we do not decode, its
    /// time slice spent): judged by what it says it is, not passed unseen.
    ArchiveUnreadable = "archive-unreadable",
    /// File name dressed up: bidi controls, double extension, runs of spaces.
    AttachmentNameTrick = "attachment-name-trick",

    // Limits.
    /// A bound (message bytes, MIME parts, HTML bytes, links) was reached;
    /// what lies beyond it was not analysed.
    Truncated = "truncated",
}

impl FindingKind {
    /// Sender-side impersonation of a protected brand: counted per brand in
    /// metrics, and subject to the brand's action floor.
    pub fn is_impersonation(self) -> bool {
        use FindingKind::*;
        matches!(
            self,
            BrandSpoof
                | Homograph
                | Typo
                | TldSwap
                | Combo
                | Subdomain
                | DisplayName
                | FreemailBrand
                | LinkLookalike
                | BrandCredentialLink
                | BrandImpersonation
        )
    }

    /// Claims strong enough to say who the mail is from (the claim of
    /// `brand-impersonation`).
    pub fn speaks_as(self) -> bool {
        use FindingKind::*;
        matches!(
            self,
            BrandSpoof
                | DisplayName
                | FreemailBrand
                | SubjectBrand
                | GreetingBrand
                | Homograph
                | Typo
                | TldSwap
                | Combo
                | Subdomain
        )
    }

    /// Findings that ask the reader to act, besides links: hand something
    /// over, or open what a bank never sends (the seed's fake "security
    /// software"). The request of `brand-impersonation`.
    pub fn is_request(self) -> bool {
        use FindingKind::*;
        matches!(
            self,
            FormPassword
                | FormExternalAction
                | HtmlAttachment
                | LinkDownload
                | AttachmentExecutable
                | AttachmentScript
                | AttachmentShortcut
                | AttachmentDiskImage
                | AttachmentMacro
                | AttachmentOnenote
                | ArchiveEncrypted
        )
    }

    /// "This mail asks for credentials". A lure counts: its wording asks
    /// for them even when the link hides the login path.
    pub fn asks_for_credentials(self) -> bool {
        use FindingKind::*;
        matches!(
            self,
            LinkCredentialPath | LinkFeed | FormPassword | HtmlAttachment | CredentialLure
        )
    }

    /// Properties of a link that legitimate marketing mail shows every day
    /// (tracking redirects under another name, a bare IP, a brand's site
    /// missing from its family, a login path): signs that need company. One
    /// of them alone, with at most the credential path beside it, claims
    /// nobody and asks for nothing, so it never tags on its own (see
    /// `verdict::decide`).
    pub fn is_link_oddity(self) -> bool {
        use FindingKind::*;
        matches!(
            self,
            LinkTextMismatch
                | LinkIpHost
                | LinkBrand
                | LinkPunycode
                | LinkShortener
                | LinkHosting
                | LinkCredentialPath
        )
    }

    /// Any sign that the mail claims to be a protected brand, weak ones
    /// (brand words in the subject or a link) included.
    pub fn is_brand_claim(self) -> bool {
        use FindingKind::*;
        (self.is_impersonation() && !matches!(self, BrandCredentialLink | BrandImpersonation))
            || matches!(self, SubjectBrand | GreetingBrand | LinkBrand)
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One observation, with the evidence a security team needs to judge it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// Human-readable and already sanitised: it may end up in a header.
    pub evidence: String,
    /// Points assigned by the policy; 0 until scored.
    pub score: i32,
    /// The protected brand concerned, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    /// The sender-side domain a sender finding was raised on (From,
    /// Reply-To, MAIL FROM…): the indicator the takedown export reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Where [`Finding::domain`] was seen (`header-from`, `envelope-from`,
    /// `reply-to`, `sender`, `dkim-d`): the header From may be the brand's
    /// own while the envelope sender is the lookalike, and the report must
    /// not name the one for the other.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub on: Vec<&'static str>,
}

impl Finding {
    pub fn new(kind: FindingKind, evidence: impl Into<String>) -> Self {
        Finding {
            kind,
            evidence: crate::vocab::sanitize::one_line(&evidence.into(), 300),
            score: 0,
            brand: None,
            domain: None,
            on: Vec::new(),
        }
    }

    pub fn with_brand(mut self, brand: impl Into<String>) -> Self {
        self.brand = Some(brand.into());
        self
    }

    pub fn with_domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// [`Finding::with_domain`], and the places the domain was seen.
    pub fn with_domain_on(mut self, domain: impl Into<String>, on: Vec<&'static str>) -> Self {
        self.domain = Some(domain.into());
        self.on = on;
        self
    }
}

/// What happens to the message. Ordered by severity so verdicts combine with `max`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Accept,
    Tag,
    Quarantine,
    Reject,
    /// Not a policy outcome: used when analysis could not finish (DNS or
    /// internal error) and the configuration asks the sender to retry.
    Tempfail,
}

impl Action {
    pub const ALL: &'static [Action] = &[
        Action::Accept,
        Action::Tag,
        Action::Quarantine,
        Action::Reject,
        Action::Tempfail,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Tag => "tag",
            Action::Quarantine => "quarantine",
            Action::Reject => "reject",
            Action::Tempfail => "tempfail",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        for k in FindingKind::ALL {
            assert_eq!(FindingKind::from_name(k.as_str()), Some(*k));
            let json = serde_json::to_string(k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
        assert_eq!(FindingKind::from_name("no-such-kind"), None);
    }

    #[test]
    fn actions_order_by_severity() {
        assert!(Action::Accept < Action::Tag);
        assert!(Action::Tag < Action::Quarantine);
        assert!(Action::Quarantine < Action::Reject);
    }
}
