//! Phishing URL feeds: JPCERT/CC's CSV (`date,URL,description`) and plain
//! one-URL-a-line lists, compiled into hash sets at load time.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Known phishing locations, keyed without scheme (http and https copies of
/// one kit are the same threat).
#[derive(Debug, Default, Clone)]
pub struct Feed {
    /// Hosts listed with an empty path: the whole host is the phishing site.
    pub hosts: HashSet<String>,
    /// `host/path` (no trailing slash) of listed URLs with a path.
    pub host_paths: HashSet<String>,
    /// `host/path?query` of listed URLs with a query.
    pub urls: HashSet<String>,
}

impl Feed {
    pub fn len(&self) -> usize {
        self.hosts.len() + self.host_paths.len() + self.urls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds the entries of one feed file; errors carry the 1-based line.
    pub fn load_file(&mut self, path: &Path) -> Result<(), (PathBuf, usize, String)> {
        let text = std::fs::read(path).map_err(|e| (path.to_path_buf(), 0, e.to_string()))?;
        let text = String::from_utf8_lossy(&text);
        self.load_str(&text)
            .map_err(|(line, m)| (path.to_path_buf(), line, m))
    }

    /// Adds entries from feed text, detecting the format from its first line.
    pub fn load_str(&mut self, text: &str) -> Result<(), (usize, String)> {
        let mut csv = None;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_start_matches('\u{feff}').trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let is_csv = *csv.get_or_insert_with(|| line.to_ascii_lowercase().starts_with("date,"));
            let url = if is_csv {
                if line.to_ascii_lowercase().starts_with("date,") {
                    continue;
                }
                let fields = csv_fields(line).map_err(|m| (i + 1, m))?;
                if fields.len() < 2 {
                    return Err((i + 1, "expected `date,URL,description`".into()));
                }
                fields[1].trim().to_string()
            } else {
                line.to_string()
            };
            self.add(&url).map_err(|m| (i + 1, m))?;
        }
        Ok(())
    }

    fn add(&mut self, raw: &str) -> Result<(), String> {
        let s = if raw.contains("://") {
            raw.to_string()
        } else {
            format!("http://{raw}")
        };
        let u = url::Url::parse(&s)
            .map_err(|e| format!("`{}`: {e}", crate::vocab::sanitize::one_line(raw, 80)))?;
        let key = Key::of(&u)
            .ok_or_else(|| format!("`{}`: no host", crate::vocab::sanitize::one_line(raw, 80)))?;
        match (key.path_is_root(), key.query.is_some()) {
            (true, false) => {
                self.hosts.insert(key.host);
            }
            (false, false) => {
                self.host_paths.insert(key.host_path());
            }
            (root, true) => {
                // A non-root path names the kit even when the query varies per victim.
                if !root {
                    self.host_paths.insert(key.host_path());
                }
                self.urls.insert(key.full());
            }
        }
        Ok(())
    }

    /// Which feed entry, if any, the URL matches.
    pub fn matches(&self, u: &url::Url) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let key = Key::of(u)?;
        if self.hosts.contains(&key.host) {
            return Some(key.host);
        }
        let hp = key.host_path();
        if self.host_paths.contains(&hp) {
            return Some(hp);
        }
        if key.query.is_some() {
            let full = key.full();
            if self.urls.contains(&full) {
                return Some(full);
            }
        }
        None
    }
}

struct Key {
    host: String,
    path: String,
    query: Option<String>,
}

impl Key {
    fn of(u: &url::Url) -> Option<Key> {
        let host = u.host_str()?.trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty() {
            return None;
        }
        Some(Key {
            host,
            path: u.path().trim_end_matches('/').to_string(),
            query: u.query().filter(|q| !q.is_empty()).map(str::to_string),
        })
    }

    fn path_is_root(&self) -> bool {
        self.path.is_empty()
    }

    fn host_path(&self) -> String {
        format!("{}{}", self.host, self.path)
    }

    fn full(&self) -> String {
        format!(
            "{}{}?{}",
            self.host,
            self.path,
            self.query.as_deref().unwrap_or("")
        )
    }
}

/// Fields of one CSV line (RFC 4180 quoting; JPCERT quotes URLs with commas).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && at_start {
            quoted = true;
            at_start = false;
        } else if c == ',' {
            fields.push(std::mem::take(&mut cur));
            at_start = true;
        } else {
            cur.push(c);
            at_start = false;
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    fields.push(cur);
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn jpcert_csv_rows_land_in_the_right_sets() {
        let mut f = Feed::default();
        f.load_str(
            "date,URL,description\n\
             2025/01/07 16:23:00,https://027cmm.com/,りそな銀行\n\
             2025/01/08 13:16:00,https://mizuhobank.jp.against.hfctrk.cn/net_shoukai/,みずほ銀行\n\
             2025/01/07 17:04:00,https://ids.wildroots.co.tz/gm/web/?unlock=code&country=none,GMOあおぞらネット銀行\n\
             2019/10/03 11:55:00,\"http://arrow.razor.jp/special/,v/crypt/index.php\",OneDrive\n",
        )
        .unwrap();
        assert!(f.hosts.contains("027cmm.com"));
        assert!(f
            .host_paths
            .contains("mizuhobank.jp.against.hfctrk.cn/net_shoukai"));
        assert!(f
            .host_paths
            .contains("arrow.razor.jp/special/,v/crypt/index.php"));
        assert!(f
            .urls
            .contains("ids.wildroots.co.tz/gm/web?unlock=code&country=none"));
        // Scheme and trailing slash do not matter; other paths on a listed host do.
        assert!(f.matches(&url("http://027cmm.com/any/where")).is_some());
        assert!(f
            .matches(&url("http://MizuhoBank.jp.against.hfctrk.cn/net_shoukai"))
            .is_some());
        assert!(f
            .matches(&url("https://ids.wildroots.co.tz/gm/web/?x=1"))
            .is_some());
        assert!(f
            .matches(&url("https://mizuhobank.jp.against.hfctrk.cn/other/"))
            .is_none());
        assert!(f.matches(&url("https://www.mizuhobank.co.jp/")).is_none());
    }

    #[test]
    fn plain_list_accepts_urls_and_bare_hosts() {
        let mut f = Feed::default();
        f.load_str("# local additions\nhttps://evil.example/login\nbad-host.example\n\n")
            .unwrap();
        assert!(f.host_paths.contains("evil.example/login"));
        assert!(f.hosts.contains("bad-host.example"));
    }

    #[test]
    fn errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("feed.csv");
        std::fs::write(&p, "date,URL,description\n2025/01/01 00:00:00,https://ok.example/,x\n2025/01/01 00:00:00\n").unwrap();
        let mut f = Feed::default();
        let (path, line, msg) = f.load_file(&p).unwrap_err();
        assert_eq!((path.as_path(), line), (p.as_path(), 3));
        assert!(msg.contains("date,URL"), "{msg}");

        let p2 = dir.path().join("plain.txt");
        std::fs::write(&p2, "https://ok.example/\nhttp://[::1/\n").unwrap();
        let (path, line, _) = f.load_file(&p2).unwrap_err();
        assert_eq!((path.as_path(), line), (p2.as_path(), 2));

        let (_, line, _) = f.load_file(&dir.path().join("missing.txt")).unwrap_err();
        assert_eq!(line, 0);
    }

    #[test]
    fn every_corpus_jpcert_file_loads() {
        let root =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/urls/jpcert-phishurl");
        assert!(
            root.exists(),
            "{} is missing: the development corpus must lie beside the project",
            root.display()
        );
        let mut f = Feed::default();
        let mut files = 0;
        for year in std::fs::read_dir(&root).unwrap() {
            for file in std::fs::read_dir(year.unwrap().path()).unwrap() {
                f.load_file(&file.unwrap().path()).unwrap();
                files += 1;
            }
        }
        assert!(files > 50);
        assert!(f.len() > 100_000, "{}", f.len());
    }
}
