//! `[[brand]]` entries of a policy file: the protected brands, checked one
//! by one so that a mistake in one does not hide those of the next.

use super::data::Brand;
use super::format::{At, Builder};
use super::schema::{BrandFile, RequireAuth};
use crate::vocab::domain::normalize_domain;
use crate::vocab::tomlfile::SourceError;

impl Builder {
    pub(super) fn add_brands(
        &mut self,
        at: &At,
        brands: Vec<BrandFile>,
    ) -> Result<(), SourceError> {
        // One wrong brand does not hide the mistakes of the next.
        let errors = brands
            .into_iter()
            .filter_map(|bf| self.add_brand(at, bf).err())
            .collect();
        SourceError::all(errors)
    }

    fn add_brand(&mut self, at: &At, bf: BrandFile) -> Result<(), SourceError> {
        {
            let id = bf.id.get_ref().trim().to_string();
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(at.err(
                    bf.id.span(),
                    "brand.id",
                    "use ASCII letters, digits, '-' and '_' (it becomes a metric label)".into(),
                ));
            }
            if let Some(first) = self.brand_defined.get(&id) {
                return Err(at.err(
                    bf.id.span(),
                    "brand.id",
                    format!("brand `{id}` is defined twice (first at {first})"),
                ));
            }
            self.brand_defined
                .insert(id.clone(), at.place(bf.id.span().start));
            let mut domains = Vec::new();
            for d in &bf.domains {
                domains.push(
                    normalize_domain(d.get_ref())
                        .map_err(|m| at.err(d.span(), "brand.domains", m))?,
                );
            }
            let mut authorized = Vec::new();
            for d in &bf.authorized {
                authorized.push(
                    normalize_domain(d.get_ref())
                        .map_err(|m| at.err(d.span(), "brand.authorized", m))?,
                );
            }
            let mut names = Vec::new();
            for n in &bf.names {
                let name = n.get_ref().trim();
                if name.chars().count() < 2 {
                    return Err(at.err(
                        n.span(),
                        "brand.names",
                        format!("`{name}` is too short to match safely"),
                    ));
                }
                names.push(name.to_string());
            }
            if names.is_empty() && domains.is_empty() {
                return Err(at.err(
                    bf.id.span(),
                    "brand",
                    format!("brand `{id}` needs at least one name or domain"),
                ));
            }
            if let Some(words) = bf.link_words {
                let words = words
                    .iter()
                    .map(|w| w.trim().to_lowercase())
                    .filter(|w| !w.is_empty())
                    .collect();
                self.link_words.insert(id.clone(), words);
            }
            self.brands.push(Brand {
                id,
                names,
                domains,
                authorized,
                action: bf.action,
                spoof_action: match bf.require_authentication {
                    Some(RequireAuth::Flag(true)) => {
                        Some(crate::vocab::findings::Action::Quarantine)
                    }
                    Some(RequireAuth::Flag(false)) | None => None,
                    Some(RequireAuth::Floor(a)) => Some(a),
                },
                banner: bf
                    .banner
                    .map(|b| b.trim().to_string())
                    .filter(|b| !b.is_empty()),
            });
        }
        Ok(())
    }
}
