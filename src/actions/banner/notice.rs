//! What the banner of one message says, from its findings and the policy.

use super::wording::{Lang, Notice};
use crate::analysis::policy::Policy;
use crate::analysis::Analysis;

/// The first brand the findings name, as its customers know it, with its
/// statement (or the policy's default); with no brand, the generic words.
pub fn notice(analysis: &Analysis, policy: &Policy, lang: Lang) -> Notice {
    let brand = analysis
        .findings
        .iter()
        .filter_map(|f| f.brand.as_deref())
        .find_map(|id| policy.brand(id));
    let Some(b) = brand else {
        return Notice {
            lang,
            brand: None,
            statement: None,
        };
    };
    // Customers reading English know the brand by its Latin name, those
    // reading Japanese by its Japanese one.
    let name = b
        .names
        .iter()
        .find(|n| n.is_ascii() == (lang == Lang::En))
        .or(b.names.first())
        .or(b.domains.first())
        .unwrap_or(&b.id);
    Notice {
        lang,
        brand: Some(name.clone()),
        statement: b.banner.clone().or_else(|| policy.banner.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::findings::{Finding, FindingKind};

    fn analysis(findings: Vec<Finding>) -> Analysis {
        Analysis {
            findings,
            ..Analysis::default()
        }
    }

    #[test]
    fn the_example_brand_speaks_in_its_own_words() {
        let policy = Policy::embedded().unwrap();
        let a = analysis(vec![
            Finding::new(FindingKind::LinkShortener, "bit.ly"),
            Finding::new(FindingKind::DisplayName, "x").with_brand("kinko-shinkin"),
        ]);
        let ja = notice(&a, &policy, Lang::Ja);
        assert_eq!(ja.brand.as_deref(), Some("きんこ信用金庫"));
        let said = ja.statement.unwrap();
        assert!(said.contains("ワンタイムパスワード") && said.contains("ログインしないでください"));
        assert_eq!(
            notice(&a, &policy, Lang::En).brand.as_deref(),
            Some("Kinko Shinkin Bank")
        );
        // No brand: the generic words, not a bank's statement.
        let generic = notice(
            &analysis(vec![Finding::new(FindingKind::LinkShortener, "bit.ly")]),
            &policy,
            Lang::Ja,
        );
        assert_eq!((generic.brand, generic.statement), (None, None));
    }

    #[test]
    fn a_brand_without_words_takes_the_policy_default() {
        let policy = Policy::from_toml(
            "t.toml",
            "[policy]\nname = \"t\"\nbanner = \"default words\"\n[[brand]]\nid = \"b\"\nnames = [\"ビー銀行\"]\n",
        )
        .unwrap();
        let a = analysis(vec![
            Finding::new(FindingKind::DisplayName, "x").with_brand("b")
        ]);
        let n = notice(&a, &policy, Lang::En);
        // No Latin name: the Japanese one rather than none.
        assert_eq!(n.brand.as_deref(), Some("ビー銀行"));
        assert_eq!(n.statement.as_deref(), Some("default words"));
    }
}
