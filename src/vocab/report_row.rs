//! What a DMARC aggregate report (RFC 9990) needs of one message, carried
//! on its verdict line. The daemon writes it, `dmarc-report` reads it back
//! from the logs of every MX host: no store of our own, so ten hosts whose
//! lines the site's log pipeline gathers report as one.

use serde::{Deserialize, Serialize};

/// One message's row: who sent it, what authenticated, what the owner
/// asked and what we did.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DmarcRow {
    pub source_ip: String,
    pub header_from: String,
    /// The MAIL FROM domain; empty for the null sender.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub envelope_from: String,
    /// The first recipient's domain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub envelope_to: String,
    /// The domain whose DMARC record was applied.
    pub policy_domain: String,
    /// The owner's policy as evaluated: `none`, `quarantine`, `reject`.
    pub policy: String,
    /// What we did: `none`, `quarantine`, `reject`.
    pub disposition: String,
    /// DMARC's DKIM and SPF verdicts: an aligned pass or not.
    pub dkim_aligned: bool,
    pub spf_aligned: bool,
    /// Why the disposition is not the owner's policy, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    pub spf: SpfRow,
    #[serde(default)]
    pub dkim: Vec<DkimRow>,
}

/// RFC 9990's policy override reason.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Reason {
    /// `trusted_forwarder`, `mailing_list`, `local_policy`, `policy_test_mode`, `other`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SpfRow {
    pub domain: String,
    /// `mfrom`, or `helo` for the null sender.
    pub scope: String,
    pub result: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DkimRow {
    pub domain: String,
    pub selector: String,
    pub result: String,
}
