//! The members of an archive, one level deep, through maintained readers.
//!
//! Every read is bounded: at most [`MAX_MEMBERS`] names per archive and
//! [`MAX_UNPACKED`] decompressed bytes per archive, of which each member
//! gives only its first [`SNIFF_BYTES`] (enough for its magic bytes). A
//! member the budget no longer covers is still judged by its name.

use super::kind::{Container, SNIFF_BYTES};
use std::io::{Cursor, Read};

pub const MAX_MEMBERS: usize = 1000;
pub const MAX_UNPACKED: usize = 4 * 1024 * 1024;

/// One member: its name and the start of its content, when it was read.
#[derive(Debug, Default)]
pub struct Member {
    pub name: String,
    pub head: Vec<u8>,
}

#[derive(Debug, Default)]
pub struct Listing {
    pub members: Vec<Member>,
    /// Some member (or the archive's own header) needs a password.
    pub encrypted: bool,
    /// Members beyond [`MAX_MEMBERS`] were not listed.
    pub cut: bool,
}

struct Budget(usize);

impl Budget {
    fn head(&mut self, r: impl Read) -> Vec<u8> {
        let want = SNIFF_BYTES.min(self.0);
        let mut head = Vec::new();
        let _ = r.take(want as u64).read_to_end(&mut head);
        self.0 -= head.len();
        head
    }
}

/// The members of `bytes`, a `container`. `name` is the archive's own file
/// name, which names a gzip file's one member when its header does not.
/// Unreadable input gives what could be read before the error.
pub fn list(container: Container, bytes: &[u8], name: &str) -> Listing {
    let mut budget = Budget(MAX_UNPACKED);
    let mut out = Listing::default();
    match container {
        Container::Zip => zip(bytes, &mut budget, &mut out),
        Container::Gzip => gzip(bytes, name, &mut budget, &mut out),
        Container::Tar => tar(bytes, &mut budget, &mut out),
        Container::SevenZip => seven_zip(bytes, &mut out),
        Container::Cab => cab(bytes, &mut out),
        Container::Rar | Container::Ole => {}
    }
    out
}

fn room(out: &mut Listing) -> bool {
    out.cut = out.members.len() >= MAX_MEMBERS;
    !out.cut
}

fn zip(bytes: &[u8], budget: &mut Budget, out: &mut Listing) {
    let Ok(mut z) = zip::ZipArchive::new(Cursor::new(bytes)) else {
        return;
    };
    for i in 0..z.len() {
        if !room(out) {
            return;
        }
        let (name, encrypted, dir) = match z.by_index_raw(i) {
            Ok(f) => (
                f.name().map(|n| n.into_owned()).unwrap_or_default(),
                f.encrypted(),
                f.is_dir(),
            ),
            Err(_) => continue,
        };
        if dir {
            continue;
        }
        out.encrypted |= encrypted;
        let head = match (encrypted, z.by_index(i)) {
            (false, Ok(f)) => budget.head(f),
            _ => Vec::new(),
        };
        out.members.push(Member { name, head });
    }
}

fn gzip(bytes: &[u8], name: &str, budget: &mut Budget, out: &mut Listing) {
    let mut gz = flate2::read::GzDecoder::new(bytes);
    let inner_name = gz
        .header()
        .and_then(|h| h.filename())
        .map(|f| String::from_utf8_lossy(f).into_owned());
    let mut unpacked = Vec::new();
    let _ = (&mut gz).take(budget.0 as u64).read_to_end(&mut unpacked);
    budget.0 -= unpacked.len();
    if super::kind::by_content(&unpacked) == super::kind::Content::Container(Container::Tar) {
        return tar(&unpacked, budget, out);
    }
    let name = inner_name.unwrap_or_else(|| {
        let lower = name.to_ascii_lowercase();
        match lower.rfind(".gz").or_else(|| lower.rfind(".tgz")) {
            Some(i) => name[..i].to_string(),
            None => name.to_string(),
        }
    });
    unpacked.truncate(SNIFF_BYTES);
    out.members.push(Member {
        name,
        head: unpacked,
    });
}

fn tar(bytes: &[u8], budget: &mut Budget, out: &mut Listing) {
    let mut a = tar::Archive::new(Cursor::new(bytes));
    let Ok(entries) = a.entries() else { return };
    for e in entries {
        let Ok(e) = e else { return };
        if !room(out) {
            return;
        }
        if e.header().entry_type().is_dir() {
            continue;
        }
        let name = e
            .path()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let head = budget.head(e);
        out.members.push(Member { name, head });
    }
}

/// 7z compresses whole blocks at once, so members are judged by name.
fn seven_zip(bytes: &[u8], out: &mut Listing) {
    let password = sevenz_rust2::Password::empty();
    match sevenz_rust2::Archive::read(&mut Cursor::new(bytes), &password) {
        Ok(a) => {
            for f in a.files.iter().filter(|f| !f.is_directory()) {
                if !room(out) {
                    return;
                }
                out.members.push(Member {
                    name: f.name().to_string(),
                    head: Vec::new(),
                });
            }
        }
        Err(sevenz_rust2::Error::PasswordRequired | sevenz_rust2::Error::MaybeBadPassword(_)) => {
            out.encrypted = true;
        }
        Err(_) => {}
    }
}

fn cab(bytes: &[u8], out: &mut Listing) {
    let Ok(c) = cab::Cabinet::new(Cursor::new(bytes)) else {
        return;
    };
    for folder in c.folder_entries() {
        for f in folder.file_entries() {
            if !room(out) {
                return;
            }
            out.members.push(Member {
                name: f.name().to_string(),
                head: Vec::new(),
            });
        }
    }
}

/// Whether an OLE compound file carries a VBA project: Word keeps it under
/// `Macros`, Excel under `_VBA_PROJECT_CUR`, both with a `VBA` storage.
pub fn ole_has_vba(bytes: &[u8]) -> bool {
    let Ok(cf) = cfb::CompoundFile::open(Cursor::new(bytes)) else {
        return false;
    };
    let found = cf.walk().take(MAX_MEMBERS).any(|e| {
        let n = e.name();
        n.eq_ignore_ascii_case("VBA")
            || n.eq_ignore_ascii_case("_VBA_PROJECT_CUR")
            || n.eq_ignore_ascii_case("_VBA_PROJECT")
            || n.eq_ignore_ascii_case("Macros")
    });
    found
}
