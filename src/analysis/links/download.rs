//! Links that download a file a reader would run: by the path's file name,
//! or a query parameter that names the download, judged with the same
//! tables as attachments.

use super::extract::Link;

/// Phone and desktop packages the attachment tables leave out: an
/// attachment of these is rare, a link to one is how spyware is handed out.
const APP_EXT: &[&str] = &[
    "ipa",
    "mobileconfig",
    "xapk",
    "apks",
    "apkm",
    "pkg",
    "deb",
    "rpm",
    "appimage",
];

/// Query parameters that name the file a link downloads (storage services'
/// `response-content-disposition`, download scripts' `filename=`).
const NAME_PARAMS: &[&str] = &[
    "filename",
    "file",
    "name",
    "fn",
    "download",
    "attachment",
    "response-content-disposition",
];

/// The file `l` downloads, when its name (the path's last segment, or a
/// query parameter that names it) is of a kind a reader would run, or
/// dressed up as a document: the name and what it is.
pub(super) fn download_of(l: &Link) -> Option<(String, &'static str)> {
    let (path, query) = l.path.split_once('?').unwrap_or((&l.path, ""));
    let last = path.rsplit('/').next().unwrap_or("");
    let mut names = vec![last.to_string()];
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if NAME_PARAMS.contains(&k) {
            // `attachment; filename="x.apk"` keeps its name after the last `=`.
            let v = v.rsplit('=').next().unwrap_or(v);
            names.push(
                v.trim_matches(|c: char| c == '"' || c == '\'' || c == ';')
                    .to_string(),
            );
        }
    }
    for name in names.into_iter().filter(|n| n.contains('.')) {
        let ext = name.rsplit('.').next().unwrap_or("");
        // `.com` and `.url` end host names in redirect paths
        // (`…/to/www.example.com`), not downloads; a `.dll` cannot be run by
        // opening it, and in a URL it is a web server's ISAPI handler
        // (`/cgi-bin/runisa.dll?…`, seen in a 2002 newsletter).
        if matches!(ext, "com" | "url" | "dll") {
            continue;
        }
        if let Some(trick) = crate::analysis::attachments::kind::name_trick(&name) {
            return Some((name, trick.describe()));
        }
        if let Some(d) = crate::analysis::attachments::kind::by_name(&name) {
            return Some((name, d.describe()));
        }
        if APP_EXT.contains(&ext) {
            return Some((name, "app or installer package"));
        }
    }
    None
}
