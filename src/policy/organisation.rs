//! `[organisation]` of a policy file: the recipient's own organisation,
//! merged across files.

use super::format::{At, Builder};
use super::schema::OrganisationFile;
use crate::vocab::domain::normalize_domain;
use crate::vocab::tomlfile::SourceError;

impl Builder {
    /// `[organisation]`: domains and names add up across files; a later
    /// file may turn the recipient's domains off (or on again).
    pub(super) fn add_organisation(
        &mut self,
        at: &At,
        org: Option<OrganisationFile>,
    ) -> Result<(), SourceError> {
        let Some(org) = org else { return Ok(()) };
        if let Some(on) = org.recipient_domains {
            self.organisation.recipient_domains = on;
        }
        for d in &org.domains {
            let n = normalize_domain(d.get_ref())
                .map_err(|m| at.err(d.span(), "organisation.domains", m))?;
            if !self.organisation.domains.contains(&n) {
                self.organisation.domains.push(n);
            }
        }
        for name in &org.names {
            let n = name.get_ref().trim();
            // A name of one or two characters is found inside ordinary
            // words and would make every mail a claim.
            if n.chars().count() < 3 {
                return Err(at.err(
                    name.span(),
                    "organisation.names",
                    format!("`{n}` is too short to tell the organisation by: give at least 3 characters"),
                ));
            }
            if !self.organisation.names.iter().any(|x| x == n) {
                self.organisation.names.push(n.to_string());
            }
        }
        Ok(())
    }
}
