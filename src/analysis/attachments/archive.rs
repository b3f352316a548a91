//! The members of an archive, one level deep, through maintained readers.
//!
//! Every read is bounded, per archive and per message (see [`Allowance`]):
//! at most [`MAX_MEMBERS`] names and [`MAX_UNPACKED`] decompressed bytes per
//! archive, of which each member gives only its first [`SNIFF_BYTES`]
//! (enough for its magic bytes); a 7z header and dictionary within
//! [`SEVEN_ZIP_MEMORY_KB`]; and a time slice of [`ARCHIVE_TIME`]. A member
//! the budget no longer covers is still judged by its name; an archive the
//! readers refuse is reported as unreadable, never skipped in silence.

use super::kind::{Container, SNIFF_BYTES};
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::time::{Duration, Instant};

pub const MAX_MEMBERS: usize = 1000;
pub const MAX_UNPACKED: usize = 4 * 1024 * 1024;
/// Decompressed bytes all the archives of one message may cost together.
pub const MESSAGE_UNPACKED: usize = 16 * 1024 * 1024;
/// sevenz-rust2 applies one limit to the decoded header and to each
/// decoder's dictionary. 7-Zip compresses headers with a 1 MiB dictionary
/// and a header of 4 MiB names tens of thousands of files, so real archives
/// fit; an LZMA2 header that decodes to gigabytes does not.
pub const SEVEN_ZIP_MEMORY_KB: usize = 4 * 1024;
/// What one archive may take; the readers run on the analysis thread and
/// every message after this one waits for it.
pub const ARCHIVE_TIME: Duration = Duration::from_millis(250);
/// What all the archives of one message may take together.
pub const MESSAGE_TIME: Duration = Duration::from_secs(1);
/// Reasons quote reader errors, which may quote the input.
const MAX_REASON: usize = 160;

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
    /// Members beyond [`MAX_MEMBERS`], or content beyond the byte budget,
    /// were not read.
    pub cut: bool,
    /// Why the archive, or the rest of it, could not be read.
    pub unreadable: Option<String>,
}

/// What the archives of one message may still cost.
#[derive(Debug, Clone)]
pub struct Allowance {
    pub bytes: usize,
    pub until: Instant,
}

impl Allowance {
    pub fn for_message() -> Self {
        Allowance {
            bytes: MESSAGE_UNPACKED,
            until: Instant::now() + MESSAGE_TIME,
        }
    }

    /// Why no further archive can be opened, if so.
    pub fn spent(&self) -> Option<&'static str> {
        if Instant::now() >= self.until {
            Some("the message's time for archives is spent")
        } else if self.bytes == 0 {
            Some("the message's budget of decompressed bytes is spent")
        } else {
            None
        }
    }
}

struct Budget(usize);

impl Budget {
    fn head(&mut self, r: impl Read, out: &mut Listing) -> Vec<u8> {
        let want = SNIFF_BYTES.min(self.0);
        out.cut |= want == 0;
        let mut head = Vec::new();
        let _ = r.take(want as u64).read_to_end(&mut head);
        self.0 -= head.len();
        head
    }
}

/// The input of a reader, which fails every read and seek once the time
/// slice is spent: the crates' own loops (7z header decoding, zip's
/// directory search, tar's entries) then end at their next read.
struct Clocked<R> {
    inner: R,
    until: Instant,
}

impl<R> Clocked<R> {
    fn check(&self) -> io::Result<()> {
        if Instant::now() >= self.until {
            Err(io::Error::new(io::ErrorKind::TimedOut, "time slice spent"))
        } else {
            Ok(())
        }
    }
}

impl<R: Read> Read for Clocked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.check()?;
        self.inner.read(buf)
    }
}

impl<R: Seek> Seek for Clocked<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.check()?;
        self.inner.seek(pos)
    }
}

/// The members of `bytes`, a `container`, within a fresh allowance.
pub fn list(container: Container, bytes: &[u8], name: &str) -> Listing {
    list_within(container, bytes, name, &mut Allowance::for_message())
}

/// The members of `bytes`, a `container`, charged to `allowance`. `name` is
/// the archive's own file name, which names a gzip file's one member when
/// its header does not. Unreadable input gives what could be read before
/// the error, and the error.
pub fn list_within(
    container: Container,
    bytes: &[u8],
    name: &str,
    allowance: &mut Allowance,
) -> Listing {
    let start = Instant::now();
    let until = allowance.until.min(start + ARCHIVE_TIME);
    let mut budget = Budget(MAX_UNPACKED.min(allowance.bytes));
    let granted = budget.0;
    let mut out = Listing::default();
    let input = Clocked {
        inner: Cursor::new(bytes),
        until,
    };
    match container {
        Container::Zip => zip(input, &mut budget, &mut out),
        Container::Gzip => gzip(input, name, &mut budget, &mut out),
        Container::Tar => tar(input, &mut budget, &mut out, false),
        Container::SevenZip => seven_zip(bytes, input, &mut out),
        Container::Cab => cab(input, &mut out),
        Container::Rar | Container::Ole => {}
    }
    allowance.bytes -= granted - budget.0;
    if Instant::now() >= until {
        // Whatever error the reader gave, the clock caused it.
        let which = if until < start + ARCHIVE_TIME {
            "the message's time for archives"
        } else {
            "its time slice"
        };
        out.unreadable = Some(format!(
            "reading stopped after {} ms, {which} spent",
            start.elapsed().as_millis()
        ));
    }
    out
}

fn room(out: &mut Listing) -> bool {
    let full = out.members.len() >= MAX_MEMBERS;
    out.cut |= full;
    !full
}

fn unreadable(out: &mut Listing, what: &str, e: impl std::fmt::Display) {
    let mut reason = format!("{what}: {e}");
    if reason.len() > MAX_REASON {
        let mut end = MAX_REASON;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        reason.push('…');
    }
    out.unreadable.get_or_insert(reason);
}

type Input<'a> = Clocked<Cursor<&'a [u8]>>;

fn zip(input: Input, budget: &mut Budget, out: &mut Listing) {
    let mut z = match zip::ZipArchive::new(input) {
        Ok(z) => z,
        Err(e) => return unreadable(out, "zip", e),
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
            Err(e) => {
                unreadable(out, &format!("zip entry {i}"), e);
                continue;
            }
        };
        if dir {
            continue;
        }
        out.encrypted |= encrypted;
        // An entry in a method we do not decode is judged by its name.
        let head = match (encrypted, z.by_index(i)) {
            (false, Ok(f)) => budget.head(f, out),
            _ => Vec::new(),
        };
        out.members.push(Member { name, head });
    }
}

fn gzip(input: Input, name: &str, budget: &mut Budget, out: &mut Listing) {
    let mut gz = flate2::read::GzDecoder::new(input);
    let inner_name = gz
        .header()
        .and_then(|h| h.filename())
        .map(|f| String::from_utf8_lossy(f).into_owned());
    // One byte past the budget says whether there was more.
    let mut unpacked = Vec::new();
    if let Err(e) = (&mut gz)
        .take(budget.0 as u64 + 1)
        .read_to_end(&mut unpacked)
    {
        unreadable(out, "gzip", e);
    }
    let partial = unpacked.len() > budget.0;
    unpacked.truncate(budget.0);
    out.cut |= partial;
    budget.0 -= unpacked.len();
    if super::kind::by_content(&unpacked) == super::kind::Content::Container(Container::Tar) {
        let inner = Clocked {
            inner: Cursor::new(unpacked.as_slice()),
            until: gz.get_ref().until,
        };
        return tar(inner, budget, out, partial);
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

/// `partial`: the tar was cut at the byte budget, so an error at its end
/// is the cut, not damage.
fn tar(input: Input, budget: &mut Budget, out: &mut Listing, partial: bool) {
    let mut a = tar::Archive::new(input);
    let entries = match a.entries() {
        Ok(e) => e,
        Err(e) => return unreadable(out, "tar", e),
    };
    for e in entries {
        let e = match e {
            Ok(e) => e,
            Err(_) if partial => return,
            Err(e) => return unreadable(out, "tar", e),
        };
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
        let head = budget.head(e, out);
        out.members.push(Member { name, head });
    }
}

/// 7z compresses whole blocks at once, so members are judged by name and
/// only the header is decoded, within [`SEVEN_ZIP_MEMORY_KB`].
fn seven_zip(bytes: &[u8], mut input: Input, out: &mut Listing) {
    use sevenz_rust2::{EncoderMethod, Error};
    // With a start header of zeros (CRC included) sevenz-rust2 guesses
    // where the end header is, trying every 0x01 and 0x17 byte of the last
    // MiB and decoding each candidate's stream again: 1,000 candidates in a
    // 58 KB message took 52 s. The archive says nothing about where its
    // header is, so it is judged as that.
    if bytes.get(8..32).is_some_and(|h| h.iter().all(|b| *b == 0)) {
        out.unreadable =
            Some("7z: the start header is blank (no header offset, size or CRC)".into());
        return;
    }
    let password = sevenz_rust2::Password::empty();
    match sevenz_rust2::Archive::read_with_memory_limit(&mut input, &password, SEVEN_ZIP_MEMORY_KB)
    {
        Ok(a) => {
            // Encrypted blocks name no file when the listing is cut short.
            out.encrypted = a.blocks.iter().any(|b| {
                b.coders
                    .iter()
                    .any(|c| c.encoder_method_id() == EncoderMethod::ID_AES256_SHA256)
            });
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
        // Built without AES (we never decrypt: the key derivation's cost is
        // the archive's to choose), an encrypted header (`7z -mhe`) stops at
        // its coder, which the crate names so.
        Err(Error::UnsupportedCompressionMethod(m)) if m == EncoderMethod::AES256_SHA256.name() => {
            out.encrypted = true;
        }
        // What the crate says instead once built with AES.
        Err(Error::PasswordRequired | Error::MaybeBadPassword(_)) => out.encrypted = true,
        Err(e) => unreadable(out, "7z", e),
    }
}

fn cab(input: Input, out: &mut Listing) {
    let c = match cab::Cabinet::new(input) {
        Ok(c) => c,
        Err(e) => return unreadable(out, "cab", e),
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
    let input = Clocked {
        inner: Cursor::new(bytes),
        until: Instant::now() + ARCHIVE_TIME,
    };
    let Ok(cf) = cfb::CompoundFile::open(input) else {
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
