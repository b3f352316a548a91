//! The policy a security team tunes: protected brands, scores, action bands,
//! lists and allowlists.
//!
//! A policy is one or more TOML files read in order ([`format`]). Tables
//! (`[scores]`, `[bands]`, `[auth]`, `[lists]`) merge key by key, later files
//! winning; `[[brand]]` and `[[allow]]` entries accumulate. The merged
//! [`PolicyData`] is compiled once (each analyser builds its own index from
//! it) into an immutable [`Policy`] that every connection shares through an
//! `Arc` until the next reload.

use crate::analysis::brand::BrandIndex;
use crate::analysis::links::LinkRules;
use crate::analysis::lure::LureIndex;
use crate::analysis::organisation::OrgRules;
use crate::policy::data::{Allow, AuthPolicy, Bands, Brand, PolicyData};
use crate::policy::format::{Builder, EMBEDDED_NAME, EMBEDDED_POLICY};
use crate::vocab::findings::FindingKind;
use crate::vocab::tomlfile::SourceError;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

pub struct Policy {
    pub name: String,
    pub version: String,
    /// Where it came from, for logs and `policy_info`.
    pub sources: Vec<String>,
    scores: HashMap<FindingKind, i32>,
    pub bands: Bands,
    pub auth: AuthPolicy,
    pub brands: Vec<Brand>,
    pub brand_index: BrandIndex,
    pub freemail: HashSet<String>,
    pub links: LinkRules,
    pub lures: LureIndex,
    pub allow: Allow,
    /// The banner's default statement (`[policy] banner`).
    pub banner: Option<String>,
    /// The recipient's own organisation (`[organisation]`).
    pub organisation: OrgRules,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("name", &self.name)
            .field("sources", &self.sources)
            .field("brands", &self.brands.len())
            .finish_non_exhaustive()
    }
}

/// Points for a finding kind when the policy does not say.
pub fn default_score(kind: FindingKind) -> i32 {
    use FindingKind::*;
    match kind {
        // The owner's DMARC policy is applied as an action floor (see
        // [`AuthPolicy`]); the score only adds weight to other evidence.
        DmarcReject | DmarcQuarantine => 30,
        DmarcFail => 15,
        SpfFail => 10,
        SpfSoftfail => 5,
        DkimFail => 5,
        // Tags alone; with a request it is brand-impersonation as well,
        // and the two reach the quarantine band.
        BrandSpoof => 40,
        Homograph => 80,
        Typo => 60,
        TldSwap => 60,
        Combo => 50,
        Subdomain => 60,
        DisplayName => 60,
        // Content a customer should never run from mail: at the quarantine band.
        AttachmentExecutable | AttachmentScript | AttachmentShortcut | AttachmentDiskImage
        | AttachmentMacro | AttachmentOnenote => 70,
        ArchiveEncrypted => 30,
        AttachmentNameTrick => 40,
        // Damage is also what a broken mailer produces: weight for other
        // evidence, below the tag band alone.
        ArchiveUnreadable => 20,
        FreemailBrand => 70,
        SubjectBrand | GreetingBrand => 15,
        HiddenChars => 20,
        LinkTextMismatch => 30,
        LinkLookalike => 70,
        LinkBrand => 30,
        LinkIpHost => 20,
        LinkUserinfo => 40,
        LinkPunycode => 20,
        LinkShortener => 10,
        // Legitimate projects use these platforms too (Firebase sends its
        // own password-reset mail from them): weight for other evidence only.
        LinkHosting => 10,
        SenderHosting => 20,
        // Request signals: alone they are what newsletters do (subscription
        // pages, search boxes); they weigh with a claim or lure wording.
        LinkCredentialPath => 10,
        LinkFeed => 100,
        FormPassword => 50,
        FormExternalAction => 15,
        HtmlAttachment => 40,
        // Tags alone (a software vendor's mail links its installers too);
        // with any brand claim it is the request of brand-impersonation.
        LinkDownload => 40,
        DataUri => 20,
        // With the weakest claim (a subject, 15) this reaches quarantine.
        BrandImpersonation => 60,
        BrandCredentialLink => 60,
        OfficialCredentialLink => 0,
        CredentialLure => 25,
        // With the lure and hosting points this reaches quarantine: together
        // they describe a throwaway login page, which neither does alone.
        HostedLure => 35,
        // Just enough to lift a lure into the tag band: mail that pushes the
        // reader to log in elsewhere than the sender's own site.
        LureForeignLink => 10,
        Truncated => 0,
    }
}

/// Where policy text comes from: a file on disk or the built-in example.
pub enum Source<'a> {
    File(&'a Path),
    Embedded,
}

impl Policy {
    /// "1 brand", "3 brands": for the lines people read.
    pub fn brands_counted(&self) -> String {
        match self.brands.len() {
            1 => "1 brand".to_string(),
            n => format!("{n} brands"),
        }
    }

    /// The built-in example policy.
    pub fn embedded() -> Result<Policy, SourceError> {
        Policy::load(&[Source::Embedded])
    }

    pub fn load_files(paths: &[PathBuf]) -> Result<Policy, SourceError> {
        if paths.is_empty() {
            return Policy::embedded();
        }
        let sources: Vec<Source> = paths.iter().map(|p| Source::File(p)).collect();
        Policy::load(&sources)
    }

    pub fn load(sources: &[Source]) -> Result<Policy, SourceError> {
        let mut b = Builder::default();
        // Every file is read and checked, so one run names every error.
        let mut errors = Vec::new();
        for source in sources {
            let (name, text, dir) = match source {
                Source::Embedded => (EMBEDDED_NAME.to_string(), EMBEDDED_POLICY.to_string(), None),
                Source::File(path) => {
                    let name = path.display().to_string();
                    let text = match std::fs::read_to_string(path) {
                        Ok(t) => t,
                        Err(e) => {
                            errors.push(SourceError {
                                file: name.clone(),
                                line: 0,
                                field: "(file)".into(),
                                message: e.to_string(),
                                ..Default::default()
                            });
                            continue;
                        }
                    };
                    (
                        name,
                        text,
                        Some(path.parent().unwrap_or(Path::new(".")).to_path_buf()),
                    )
                }
            };
            if let Err(e) = b.add(&name, &text, dir.as_deref()) {
                errors.push(e);
            }
        }
        SourceError::all(errors)?;
        Policy::compile(b.finish())
    }

    /// A policy from one TOML text; list files resolve against the
    /// built-in lists. For tests, fuzzing and tools that hold the text.
    pub fn from_toml(name: &str, text: &str) -> Result<Policy, SourceError> {
        let mut b = Builder::default();
        b.add(name, text, None)?;
        Policy::compile(b.finish())
    }

    /// Builds every analyser's index from the stated policy.
    pub fn compile(data: PolicyData) -> Result<Policy, SourceError> {
        let brand_index = BrandIndex::new(&data.brands);
        let links = LinkRules::new(
            data.shorteners,
            data.redirectors,
            data.hosting,
            &data.feeds,
            &data.brands,
            &data.link_words,
        )
        .map_err(|(path, line, m)| SourceError {
            file: path.display().to_string(),
            line,
            field: "lists.feeds".into(),
            message: m,
            ..Default::default()
        })?;
        Ok(Policy {
            name: data.name,
            version: data.version,
            sources: data.sources,
            scores: data.scores,
            bands: data.bands,
            auth: data.auth,
            brands: data.brands,
            brand_index,
            freemail: data.freemail,
            links,
            lures: LureIndex::new(&data.lure_asks, &data.lure_pressures),
            allow: data.allow,
            banner: data.banner,
            organisation: OrgRules::new(&data.organisation),
        })
    }

    pub fn score(&self, kind: FindingKind) -> i32 {
        self.scores
            .get(&kind)
            .copied()
            .unwrap_or_else(|| default_score(kind))
    }

    pub fn brand(&self, id: &str) -> Option<&Brand> {
        self.brands.iter().find(|b| b.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::findings::Action;

    fn load_str(src: &str) -> Result<Policy, SourceError> {
        Policy::from_toml("test.toml", src)
    }

    #[test]
    fn embedded_policy_loads() {
        let p = Policy::embedded().expect("embedded policy must be valid");
        assert!(!p.brands.is_empty());
        assert!(p.freemail.contains("gmail.com"));
    }

    #[test]
    fn unknown_key_names_file_line_and_field() {
        let e = load_str("[bands]\ntag = 10\nquarantin = 20\n").unwrap_err();
        assert_eq!(e.file, "test.toml");
        assert_eq!(e.line, 3);
        assert_eq!(e.field, "bands.quarantin");
        assert!(e.message.contains("unknown field"), "{e}");
    }

    #[test]
    fn unknown_score_kind_is_rejected_with_line() {
        let e = load_str("[scores]\nhomograph = 10\nhomograf = 5\n").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (3, "scores.homograf"));
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        let e = load_str("[bands]\ntag = \"high\"\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().starts_with("test.toml:2: "), "{e}");
    }

    #[test]
    fn bands_must_rise() {
        let e = load_str("[bands]\ntag = 50\nquarantine = 40\n").unwrap_err();
        assert_eq!(e.field, "bands");
    }

    #[test]
    fn bad_brand_domain_is_reported() {
        let e =
            load_str("[[brand]]\nid = \"x\"\nnames = [\"エックス銀行\"]\ndomains = [\"nodot\"]\n")
                .unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (4, "brand.domains"));
    }

    #[test]
    fn bands_pick_the_highest_reached_action() {
        let b = Bands {
            tag: Some(10),
            quarantine: Some(50),
            reject: Some(100),
            lone_link_signal_tags: false,
        };
        assert_eq!(b.action_for(0), Action::Accept);
        assert_eq!(b.action_for(10), Action::Tag);
        assert_eq!(b.action_for(99), Action::Quarantine);
        assert_eq!(b.action_for(100), Action::Reject);
    }

    #[test]
    fn later_files_override_scores_and_add_brands() {
        let mut b = Builder::default();
        b.add(
            "a.toml",
            "[scores]\ntypo = 10\n[[brand]]\nid = \"a\"\nnames = [\"エー銀行\"]\n",
            None,
        )
        .unwrap();
        b.add(
            "b.toml",
            "[scores]\ntypo = 20\n[[brand]]\nid = \"b\"\nnames = [\"ビー銀行\"]\n",
            None,
        )
        .unwrap();
        let p = Policy::compile(b.finish()).unwrap();
        assert_eq!(p.score(FindingKind::Typo), 20);
        assert_eq!(p.brands.len(), 2);
        assert_eq!(
            p.score(FindingKind::Homograph),
            default_score(FindingKind::Homograph)
        );
    }

    #[test]
    fn allowlist_needs_a_reason() {
        let e =
            load_str("[[allow]]\nclient_network = \"10.0.0.0/8\"\nreason = \" \"\n").unwrap_err();
        assert_eq!(e.field, "allow.reason");
        let p =
            load_str("[[allow]]\nclient_network = \"10.0.0.0/8\"\nreason = \"internal relay\"\n")
                .unwrap();
        assert_eq!(
            p.allow.client("10.1.2.3".parse().unwrap()),
            Some("internal relay")
        );
    }

    #[test]
    fn honor_pct_still_loads_though_rfc_9989_dropped_pct() {
        assert!(load_str("[auth]\nhonor_pct = true\n").is_ok());
    }

    #[test]
    fn trusted_arc_sealers_each_need_a_reason() {
        let e = load_str(
            "[auth]\ntrusted_arc_sealers = [{ domain = \"lists.example.org\", reason = \"\" }]\n",
        )
        .unwrap_err();
        assert_eq!(e.field, "auth.trusted_arc_sealers.reason");
        let p = load_str(
            "[[auth.trusted_arc_sealers]]\ndomain = \"Lists.Example.ORG\"\nreason = \"our list server\"\n",
        )
        .unwrap();
        assert_eq!(
            p.auth
                .local
                .trusted_arc_sealers
                .get("lists.example.org")
                .map(String::as_str),
            Some("our list server")
        );
    }
}
