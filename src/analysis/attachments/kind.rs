//! What one file is, judged by its first bytes and by its name.
//!
//! Content wins over the name: an executable called `invoice.pdf` is an
//! executable. Formats without magic bytes (most scripts) can only be told
//! by name, which is still what decides how Windows opens them.

use std::sync::OnceLock;

/// The dangers a file can carry, in the order a report names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Danger {
    Executable,
    Script,
    Shortcut,
    DiskImage,
    Macro,
    OneNote,
}

impl Danger {
    pub fn describe(self) -> &'static str {
        match self {
            Danger::Executable => "executable",
            Danger::Script => "script",
            Danger::Shortcut => "shortcut",
            Danger::DiskImage => "disk image",
            Danger::Macro => "macro-enabled Office file",
            Danger::OneNote => "OneNote file",
        }
    }
}

/// A container whose members are looked at one level deep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Zip,
    Gzip,
    Tar,
    SevenZip,
    Cab,
    /// Recognised, but no maintained pure-Rust reader lists its members.
    Rar,
    /// OLE compound file (legacy Office, MSI): searched for VBA storages.
    Ole,
}

/// What the first bytes say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    Danger(Danger),
    Container(Container),
    Other,
}

const EXECUTABLE_EXT: &[&str] = &[
    "exe", "dll", "scr", "com", "pif", "cpl", "msi", "msp", "jar", "apk", "appx", "msix",
];
const SCRIPT_EXT: &[&str] = &[
    "js", "jse", "vbs", "vbe", "vb", "wsf", "wsh", "wsc", "hta", "ps1", "psm1", "psd1", "bat",
    "cmd", "reg", "sct", "chm",
];
const SHORTCUT_EXT: &[&str] = &[
    "lnk",
    "url",
    "scf",
    "website",
    "library-ms",
    "searchconnector-ms",
];
const DISK_EXT: &[&str] = &["iso", "img", "vhd", "vhdx", "dmg"];
const MACRO_EXT: &[&str] = &[
    "docm", "dotm", "xlsm", "xltm", "xlam", "pptm", "potm", "ppsm", "ppam", "sldm",
];
const ONENOTE_EXT: &[&str] = &["one", "onepkg"];

/// Extensions a reader takes for a harmless document or picture: the first
/// half of a double extension such as `invoice.pdf.exe`.
const DECOY_EXT: &[&str] = &[
    "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "txt", "rtf", "csv", "jpg", "jpeg", "png",
    "gif", "bmp", "mp3", "mp4", "htm", "html",
];

/// The danger the name's last extension stands for.
pub fn by_name(name: &str) -> Option<Danger> {
    let ext = extension(name)?;
    let table: [(&[&str], Danger); 6] = [
        (EXECUTABLE_EXT, Danger::Executable),
        (SCRIPT_EXT, Danger::Script),
        (SHORTCUT_EXT, Danger::Shortcut),
        (DISK_EXT, Danger::DiskImage),
        (MACRO_EXT, Danger::Macro),
        (ONENOTE_EXT, Danger::OneNote),
    ];
    table
        .iter()
        .find(|(exts, _)| exts.contains(&ext.as_str()))
        .map(|&(_, d)| d)
}

/// The container the name says, for members we only know by name.
pub fn container_by_name(name: &str) -> Option<Container> {
    match extension(name)?.as_str() {
        "zip" => Some(Container::Zip),
        "gz" | "tgz" => Some(Container::Gzip),
        "tar" => Some(Container::Tar),
        "7z" => Some(Container::SevenZip),
        "cab" => Some(Container::Cab),
        "rar" => Some(Container::Rar),
        _ => None,
    }
}

fn extension(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next()?;
    let (_, ext) = base.rsplit_once('.')?;
    let ext = ext.trim_end_matches(|c: char| c.is_whitespace() || c == '.');
    (!ext.is_empty()).then(|| ext.to_ascii_lowercase())
}

/// Formats `infer` does not know, told apart by their published signatures.
fn detector() -> &'static infer::Infer {
    static INFER: OnceLock<infer::Infer> = OnceLock::new();
    INFER.get_or_init(|| {
        let mut i = infer::Infer::new();
        // [MS-SHLLINK] header size and LinkCLSID.
        i.add("application/x-ms-shortcut", "lnk", |b| {
            b.starts_with(
                b"\x4c\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46",
            )
        });
        // [MS-ONESTORE] file format GUIDs of .one and .onetoc2.
        i.add("application/onenote", "one", |b| {
            b.starts_with(b"\xe4\x52\x5c\x7b\x8c\xd8\xa7\x4d\xae\xb1\x53\x78\xd0\x29\x96\xd3")
                || b.starts_with(
                    b"\xa1\x2f\xff\x43\xd9\xef\x76\x4c\x9e\xe2\x10\xea\x57\x22\x76\x5f",
                )
        });
        i.add("application/x-vhdx", "vhdx", |b| b.starts_with(b"vhdxfile"));
        // Dynamic VHDs start with a copy of the footer.
        i.add("application/x-vhd", "vhd", |b| b.starts_with(b"conectix"));
        // ISO 9660 primary volume descriptor at sector 16.
        i.add("application/x-iso9660-image", "iso", |b| {
            b.get(0x8001..0x8006) == Some(b"CD001")
        });
        i.add("application/x-mswinurl", "url", |b| {
            let head = &b[..b.len().min(64)];
            head.windows(18)
                .any(|w| w.eq_ignore_ascii_case(b"[InternetShortcut]"))
        });
        i.add("application/hta", "hta", |b| {
            let head = &b[..b.len().min(4096)];
            head.windows(16)
                .any(|w| w.eq_ignore_ascii_case(b"<hta:application"))
        });
        i.add("text/x-shellscript", "sh", |b| b.starts_with(b"#!"));
        i
    })
}

/// Bytes needed to recognise every format above (the ISO descriptor is the
/// farthest in).
pub const SNIFF_BYTES: usize = 0x8006;

/// What the first [`SNIFF_BYTES`] of a file are.
pub fn by_content(head: &[u8]) -> Content {
    let Some(t) = detector().get(head) else {
        return Content::Other;
    };
    match t.extension() {
        "exe" | "dll" | "elf" | "mach" | "dex" | "class" => Content::Danger(Danger::Executable),
        "lnk" | "url" => Content::Danger(Danger::Shortcut),
        "iso" | "vhd" | "vhdx" | "qcow2" => Content::Danger(Danger::DiskImage),
        "one" => Content::Danger(Danger::OneNote),
        "hta" | "sh" => Content::Danger(Danger::Script),
        "zip" | "docx" | "xlsx" | "pptx" | "odt" | "ods" | "odp" | "epub" => {
            Content::Container(Container::Zip)
        }
        "gz" => Content::Container(Container::Gzip),
        "tar" => Content::Container(Container::Tar),
        "7z" => Content::Container(Container::SevenZip),
        "cab" => Content::Container(Container::Cab),
        "rar" => Content::Container(Container::Rar),
        "doc" | "xls" | "ppt" | "msi" => Content::Container(Container::Ole),
        _ => Content::Other,
    }
}

/// Tricks that make a file name look like something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameTrick {
    /// Right-to-left override and other bidi controls: `invoice\u{202e}fdp.exe`
    /// shows as `invoiceexe.pdf`.
    Bidi,
    /// A harmless-looking extension before a dangerous one.
    DoubleExtension,
    /// A long run of spaces pushes the real extension out of sight.
    Spaces,
}

impl NameTrick {
    pub fn describe(self) -> &'static str {
        match self {
            NameTrick::Bidi => "bidi control characters",
            NameTrick::DoubleExtension => "double extension",
            NameTrick::Spaces => "long run of spaces",
        }
    }
}

/// The first trick found in `name`, if any.
pub fn name_trick(name: &str) -> Option<NameTrick> {
    let bidi = |c: char| matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if name.chars().any(bidi) {
        return Some(NameTrick::Bidi);
    }
    let mut run = 0;
    for c in name.chars() {
        run = if c.is_whitespace() || c == '\u{3000}' {
            run + 1
        } else {
            0
        };
        if run >= 5 {
            return Some(NameTrick::Spaces);
        }
    }
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let mut parts = base.rsplit('.');
    let (last, before) = (parts.next()?, parts.next()?);
    parts.next()?;
    let decoy = before.trim().to_ascii_lowercase();
    (DECOY_EXT.contains(&decoy.as_str()) && by_name(&format!("x.{last}")).is_some())
        .then_some(NameTrick::DoubleExtension)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_say_the_danger() {
        assert_eq!(by_name("Setup.EXE"), Some(Danger::Executable));
        assert_eq!(by_name("a/b/run.vbs"), Some(Danger::Script));
        assert_eq!(by_name("doc.lnk"), Some(Danger::Shortcut));
        assert_eq!(by_name("disk.iso"), Some(Danger::DiskImage));
        assert_eq!(by_name("book.xlsm"), Some(Danger::Macro));
        assert_eq!(by_name("notes.one"), Some(Danger::OneNote));
        assert_eq!(by_name("invoice.pdf"), None);
        assert_eq!(by_name("noext"), None);
    }

    #[test]
    fn name_tricks() {
        assert_eq!(
            name_trick("invoice.pdf.exe"),
            Some(NameTrick::DoubleExtension)
        );
        assert_eq!(name_trick("請求書\u{202e}fdp.exe"), Some(NameTrick::Bidi));
        assert_eq!(
            name_trick("invoice.pdf          .js"),
            Some(NameTrick::Spaces)
        );
        assert_eq!(name_trick("report.2026.pdf"), None);
        assert_eq!(name_trick("photo.jpg.zip"), None);
        assert_eq!(name_trick("見積書 2026年 11月.pdf"), None);
    }

    #[test]
    fn content_beats_the_name() {
        let mut pe = b"MZ".to_vec();
        pe.resize(0x100, 0);
        pe[0x3c] = 0x80;
        pe[0x80..0x84].copy_from_slice(b"PE\0\0");
        assert_eq!(by_content(&pe), Content::Danger(Danger::Executable));
        let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0".to_vec();
        elf.resize(64, 0);
        assert_eq!(by_content(&elf), Content::Danger(Danger::Executable));
        let mut iso = vec![0u8; SNIFF_BYTES];
        iso[0x8001..0x8006].copy_from_slice(b"CD001");
        assert_eq!(by_content(&iso), Content::Danger(Danger::DiskImage));
        assert_eq!(
            by_content(b"[InternetShortcut]\r\nURL=http://x/\r\n"),
            Content::Danger(Danger::Shortcut)
        );
        assert_eq!(by_content(b"%PDF-1.7\n"), Content::Other);
        assert_eq!(by_content(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Content::Other);
    }
}
