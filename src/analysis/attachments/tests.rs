//! Every attachment type, built here with the same crates' writers.

use super::*;
use std::io::{Cursor, Write};
use std::time::{Duration, Instant};

#[path = "../../../tests/support/sevenz.rs"]
mod sevenz;

/// A minimal PE image: DOS header pointing at a PE signature.
fn pe() -> Vec<u8> {
    let mut b = b"MZ".to_vec();
    b.resize(0x200, 0);
    b[0x3c] = 0x80;
    b[0x80..0x86].copy_from_slice(b"PE\0\0\x4c\x01");
    b
}

fn pdf() -> Vec<u8> {
    b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec()
}

fn jpeg() -> Vec<u8> {
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9".to_vec()
}

fn zip_of(files: &[(&str, &[u8])], password: Option<&[u8]>) -> Vec<u8> {
    use zip::unstable::write::FileOptionsExt;
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in files {
        let mut opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        if let Some(p) = password {
            opts = opts.with_deprecated_encryption(p).unwrap();
        }
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn ole(storages: &[&str]) -> Vec<u8> {
    let mut cf = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
    cf.create_stream("/WordDocument")
        .unwrap()
        .write_all(b"text")
        .unwrap();
    for s in storages {
        cf.create_storage_all(s).unwrap();
        cf.create_stream(format!("{s}/dir"))
            .unwrap()
            .write_all(b"attribut")
            .unwrap();
    }
    cf.flush().unwrap();
    cf.into_inner().into_inner()
}

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(name: &str, data: &[u8]) -> Vec<u8> {
    let mut e = flate2::GzBuilder::new()
        .filename(name)
        .write(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn cab_of(names: &[&str]) -> Vec<u8> {
    let mut b = cab::CabinetBuilder::new();
    let folder = b.add_folder(cab::CompressionType::None);
    for n in names {
        folder.add_file(*n);
    }
    let mut w = b.build(Cursor::new(Vec::new())).unwrap();
    while let Some(mut f) = w.next_file().unwrap() {
        f.write_all(&pe()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn dangers(hits: &[Hit]) -> Vec<(Danger, Option<&str>)> {
    hits.iter()
        .filter_map(|h| match h {
            Hit::Danger { danger, member, .. } => Some((*danger, member.as_deref())),
            _ => None,
        })
        .collect()
}

#[test]
fn executable_is_found_by_content_whatever_its_name() {
    let hits = inspect("invoice.pdf", &pe());
    assert_eq!(dangers(&hits), [(Danger::Executable, None)]);
    assert!(matches!(
        hits[0],
        Hit::Danger {
            by_content: true,
            ..
        }
    ));
}

#[test]
fn scripts_shortcuts_and_disk_images() {
    let js = inspect("請求書.js", b"var s = new ActiveXObject('WScript.Shell');");
    assert_eq!(dangers(&js), [(Danger::Script, None)]);
    let hta = inspect(
        "view.txt",
        b"<html><HTA:APPLICATION id=x><script>x</script>",
    );
    assert_eq!(dangers(&hta), [(Danger::Script, None)]);
    let lnk =
        b"\x4c\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46rest";
    assert_eq!(dangers(&inspect("doc", lnk)), [(Danger::Shortcut, None)]);
    let mut iso = vec![0u8; 0x9000];
    iso[0x8001..0x8006].copy_from_slice(b"CD001");
    assert_eq!(
        dangers(&inspect("scan.dat", &iso)),
        [(Danger::DiskImage, None)]
    );
    assert_eq!(
        dangers(&inspect("disk.vhdx", b"vhdxfile\0\0")),
        [(Danger::DiskImage, None)]
    );
    let one = b"\xe4\x52\x5c\x7b\x8c\xd8\xa7\x4d\xae\xb1\x53\x78\xd0\x29\x96\xd3....";
    assert_eq!(dangers(&inspect("memo", one)), [(Danger::OneNote, None)]);
}

#[test]
fn macros_in_ooxml_and_ole_but_not_in_plain_documents() {
    let docm = zip_of(
        &[
            ("[Content_Types].xml", b"<Types/>"),
            ("word/document.xml", b"<w:document/>"),
            ("word/vbaProject.bin", &ole(&["/VBA"])),
        ],
        None,
    );
    assert_eq!(
        dangers(&inspect("report.docx", &docm)),
        [(Danger::Macro, Some("word/vbaProject.bin"))]
    );
    let xls = ole(&["/_VBA_PROJECT_CUR/VBA"]);
    assert_eq!(dangers(&inspect("book.xls", &xls)), [(Danger::Macro, None)]);
    let plain_doc = ole(&[]);
    assert!(inspect("letter.doc", &plain_doc).is_empty());
    let docx = zip_of(
        &[
            ("[Content_Types].xml", b"<Types/>"),
            ("word/document.xml", b"<w:document/>"),
        ],
        None,
    );
    assert!(inspect("letter.docx", &docx).is_empty());
}

#[test]
fn archives_are_opened_one_level_deep() {
    let z = zip_of(&[("readme.txt", b"hi"), ("setup.exe", &pe())], None);
    assert_eq!(
        dangers(&inspect("photos.zip", &z)),
        [(Danger::Executable, Some("setup.exe"))]
    );
    // Content, not name, inside the archive too.
    let z = zip_of(&[("scan.jpg", &pe())], None);
    assert_eq!(
        dangers(&inspect("photos.zip", &z)),
        [(Danger::Executable, Some("scan.jpg"))]
    );
    let t = tar_of(&[("a/run.vbs", b"WScript.Echo 1")]);
    assert_eq!(
        dangers(&inspect("x.tar", &t)),
        [(Danger::Script, Some("a/run.vbs"))]
    );
    let tgz = gzip("bundle.tar", &t);
    assert_eq!(
        dangers(&inspect("bundle.tgz", &tgz)),
        [(Danger::Script, Some("a/run.vbs"))]
    );
    let gz = gzip("payload.bin", &pe());
    assert_eq!(
        dangers(&inspect("payload.gz", &gz)),
        [(Danger::Executable, Some("payload.bin"))]
    );
    let c = cab_of(&["tool.exe"]);
    assert_eq!(
        dangers(&inspect("update.cab", &c)),
        [(Danger::Executable, Some("tool.exe"))]
    );
}

#[test]
fn ordinary_attachments_stay_quiet() {
    assert!(inspect("請求書.pdf", &pdf()).is_empty());
    assert!(inspect("photo.jpg", &jpeg()).is_empty());
    let z = zip_of(&[("invoice.pdf", &pdf()), ("photo.jpg", &jpeg())], None);
    assert!(inspect("documents.zip", &z).is_empty());
    assert!(inspect("data.csv", b"a,b\n1,2\n").is_empty());
}

#[test]
fn password_protected_zip_is_reported_and_names_still_judged() {
    let z = zip_of(&[("invoice.pdf", &pdf())], Some(b"1234"));
    assert_eq!(inspect("invoice.zip", &z), [Hit::Encrypted]);
    let z = zip_of(&[("invoice.exe", &pe())], Some(b"1234"));
    let hits = inspect("invoice.zip", &z);
    assert!(hits.contains(&Hit::Encrypted));
    assert_eq!(dangers(&hits), [(Danger::Executable, Some("invoice.exe"))]);
}

#[test]
fn name_tricks_inside_and_outside_archives() {
    let hits = inspect("invoice\u{202e}fdp.exe", &pe());
    assert!(hits.contains(&Hit::Trick {
        trick: NameTrick::Bidi,
        member: None
    }));
    let z = zip_of(&[("invoice.pdf.js", b"x")], None);
    assert!(inspect("a.zip", &z).contains(&Hit::Trick {
        trick: NameTrick::DoubleExtension,
        member: Some("invoice.pdf.js".into())
    }));
}

#[test]
fn garbage_and_truncated_containers_give_no_panic() {
    let z = zip_of(&[("setup.exe", &pe())], None);
    for cut in [4, 30, z.len() / 2, z.len() - 10] {
        let _ = inspect("a.zip", &z[..cut]);
    }
    let _ = inspect("a.gz", b"\x1f\x8b\x08\x00garbage");
    let _ = inspect("a.7z", b"7z\xbc\xaf\x27\x1c\x00\x04garbage");
    let _ = inspect("a.cab", b"MSCF\0\0\0\0garbage");
    let _ = inspect("a.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1garbage");
    // The exact zip is still recognised after all that.
    assert_eq!(dangers(&inspect("a.zip", &z)).len(), 1);
}

fn mail_with(name: &str, ctype: &str, data: &[u8]) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut b64 = String::new();
    for chunk in data.chunks(57) {
        let _ = writeln!(b64, "{}", crate::vocab::header_text::base64(chunk));
    }
    format!(
        "From: a@x.example\r\nSubject: s\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
         Content-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n\
         Content-Type: {ctype}\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n{b64}--b--\r\n"
    )
    .into_bytes()
}

#[test]
fn analyse_reports_one_finding_per_kind_unless_trusted() {
    let z = zip_of(&[("setup.exe", &pe()), ("tool.exe", &pe())], None);
    let raw = mail_with("請求書.zip", "application/zip", &z);
    let msg = crate::analysis::parse(&raw);
    let f = analyze(&msg, &Bounds::default(), false);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].kind, FindingKind::AttachmentExecutable);
    assert!(f[0].evidence.contains("setup.exe"), "{}", f[0].evidence);
    assert!(analyze(&msg, &Bounds::default(), true).is_empty());
    let raw = mail_with("invoice.pdf", "application/pdf", &pdf());
    assert!(analyze(&crate::analysis::parse(&raw), &Bounds::default(), false).is_empty());
}

/// An allowlisted sender may send executables only when authentication
/// shows the mail is theirs: a forged allowlisted From gets the finding.
#[test]
fn a_forged_allowlisted_sender_gets_no_pass_for_files() {
    let policy = crate::analysis::policy::Policy::from_toml(
        "t.toml",
        "[[allow]]\nsender_domain = \"partner.example\"\nreason = \"supplier\"\n",
    )
    .unwrap();
    let raw = mail_with("tool.exe", "application/octet-stream", &pe())
        .splitn(2, |&b| b == b'\n')
        .nth(1)
        .map(|rest| [b"From: a@partner.example\r\n".as_slice(), rest].concat())
        .unwrap();
    let judged = |auth: &crate::vocab::auth::AuthSummary| {
        crate::analysis::analyze(
            &raw,
            None,
            &crate::vocab::message::Envelope::default(),
            auth,
            &policy,
            &crate::settings::limits::Limits::default(),
        )
        .findings
        .iter()
        .any(|f| f.kind == FindingKind::AttachmentExecutable)
    };
    assert!(judged(&crate::vocab::auth::AuthSummary::default()));
    let passed = crate::vocab::auth::AuthSummary {
        dmarc: crate::vocab::auth::Res::Pass,
        ..crate::vocab::auth::AuthSummary::default()
    };
    assert!(!judged(&passed));
}

fn unreadable(hits: &[Hit]) -> Option<&str> {
    hits.iter().find_map(|h| match h {
        Hit::Unreadable(why) => Some(why.as_str()),
        _ => None,
    })
}

/// Runs `f` and fails if it took longer than `limit`: the readers run on
/// the thread every later message waits for.
fn quick<T>(limit: Duration, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    assert!(t.elapsed() < limit, "took {:?}", t.elapsed());
    r
}

#[test]
fn the_7z_builder_writes_what_the_reader_lists() {
    let a = sevenz::stored("請求書.js", b"WScript.Echo(1)");
    let hits = inspect("a.7z", &a);
    assert_eq!(dangers(&hits), [(Danger::Script, Some("請求書.js"))]);
    assert_eq!(unreadable(&hits), None);
}

/// sevenz-rust2 guesses the end header when the start header is blank and
/// decodes the stream once per candidate: 200 records of 8 MiB took 1.6 GB
/// of decoding and gave no finding.
#[test]
fn a_7z_with_a_blank_start_header_is_unreadable_at_once() {
    let bait = sevenz::guessing_bait(200, 8 << 20);
    let hits = quick(Duration::from_millis(200), || inspect("invoice.7z", &bait));
    let why = unreadable(&hits).expect("an unreadable 7z is a finding");
    assert!(why.contains("start header is blank"), "{why}");
    // A start header that is not blank but lies about its CRC is refused
    // by the reader itself.
    let mut lying = sevenz::stored("a.txt", b"text");
    lying[8..12].copy_from_slice(&[0; 4]);
    let why = unreadable(&inspect("a.7z", &lying)).map(str::to_string);
    assert!(
        why.as_deref().is_some_and(|w| w.contains("Checksum")),
        "{why:?}"
    );
}

/// An LZMA2 header that decodes to 256 MiB took memory in proportion and
/// gave no finding; within the memory bound it stops at 4 MiB.
#[test]
fn a_7z_header_bomb_stops_at_the_memory_bound() {
    let bomb = sevenz::header_bomb(256 << 20);
    assert!(bomb.len() < 64 << 10, "{}", bomb.len());
    let hits = quick(Duration::from_millis(500), || inspect("a.7z", &bomb));
    let why = unreadable(&hits).expect("a header past the bound is a finding");
    assert!(why.contains("MaxMemLimited"), "{why}");
}

#[test]
fn a_7z_header_in_a_coder_we_do_not_decode_is_unreadable_not_silence() {
    // BZip2: sevenz-rust2 is built without it.
    let coder = sevenz::Coder {
        id: &[0x04, 0x02, 0x02],
        props: &[],
    };
    let packed = b"BZh9 not really";
    let streams = sevenz::streams_info(0, packed.len() as u64, &[coder], &[100]);
    let a = sevenz::archive(packed, &sevenz::encoded_header(&streams));
    let why = unreadable(&inspect("a.7z", &a)).map(str::to_string);
    assert!(
        why.as_deref()
            .is_some_and(|w| w.contains("UnsupportedCompressionMethod")),
        "{why:?}"
    );
}

/// Made by 7-Zip 25.01 (tests/data/7z/README.md): `-mhe` hides the names,
/// without it only the content is encrypted and `invoice.pdf` is visible.
#[test]
fn encrypted_7z_headers_and_members_are_password_protected_archives() {
    let header = include_bytes!("../../../tests/data/7z/encrypted-header.7z");
    let hits = quick(Duration::from_millis(200), || inspect("a.7z", header));
    assert_eq!(hits, [Hit::Encrypted]);
    let member = include_bytes!("../../../tests/data/7z/encrypted-member.7z");
    let hits = inspect("a.7z", member);
    assert!(hits.contains(&Hit::Encrypted), "{hits:?}");
    assert_eq!(unreadable(&hits), None);
    // Hand-written: an AES block under a plain header.
    let aes = sevenz::Coder {
        id: sevenz::AES,
        props: &[0x13, 0x00],
    };
    let streams = sevenz::streams_info(0, 16, &[aes], &[16]);
    let a = sevenz::archive(
        &[7; 16],
        &sevenz::header(&streams, &sevenz::files_info(&["run.js"])),
    );
    let hits = inspect("a.7z", &a);
    assert!(hits.contains(&Hit::Encrypted), "{hits:?}");
    assert_eq!(dangers(&hits), [(Danger::Script, Some("run.js"))]);
}

#[test]
fn analyse_names_encrypted_and_unreadable_7z() {
    let header = include_bytes!("../../../tests/data/7z/encrypted-header.7z");
    let raw = mail_with("invoice.7z", "application/x-7z-compressed", header);
    let f = analyze(&crate::analysis::parse(&raw), &Bounds::default(), false);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].kind, FindingKind::ArchiveEncrypted);
    let raw = mail_with(
        "invoice.7z",
        "application/x-7z-compressed",
        &sevenz::guessing_bait(3, 1 << 20),
    );
    let f = analyze(&crate::analysis::parse(&raw), &Bounds::default(), false);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].kind, FindingKind::ArchiveUnreadable);
    assert!(f[0].evidence.contains("invoice.7z"), "{}", f[0].evidence);
}

#[test]
fn a_spent_time_slice_stops_the_reader_and_says_so() {
    let t = tar_of(&[("a.txt", b"a"), ("b.txt", b"b")]);
    let mut spent = archive::Allowance {
        bytes: archive::MESSAGE_UNPACKED,
        until: Instant::now(),
    };
    let l = archive::list_within(Container::Tar, &t, "a.tar", &mut spent);
    let why = l.unreadable.expect("stopped by the clock");
    assert!(why.contains("the message's time for archives"), "{why}");
    // Past the message's time, no further archive is opened.
    let hits = inspect_within("a.tar", &t, &mut spent);
    assert!(
        matches!(&hits[..], [Hit::Cut(why)] if why.contains("time for archives")),
        "{hits:?}"
    );
}

/// A gzip that inflates past the archive's byte budget is read to the
/// budget and reported cut; the message's budget then runs out and the
/// rest are not opened, so a message of bombs costs 16 MiB of inflating.
#[test]
fn gzip_bombs_are_read_to_the_budgets_of_archive_and_message() {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        e.write_all(&zeros).unwrap();
    }
    let bomb = e.finish().unwrap();
    let mut allowance = archive::Allowance::for_message();
    let mut cut = 0;
    let mut not_opened = 0;
    quick(Duration::from_secs(1), || {
        for _ in 0..10 {
            for h in inspect_within("a.gz", &bomb, &mut allowance) {
                match h {
                    Hit::Cut(w) if w.starts_with("not opened") => not_opened += 1,
                    Hit::Cut(_) => cut += 1,
                    other => panic!("{other:?}"),
                }
            }
        }
    });
    let per_message = archive::MESSAGE_UNPACKED / archive::MAX_UNPACKED;
    assert_eq!((cut, not_opened), (per_message, 10 - per_message));
    assert_eq!(allowance.bytes, 0);
}

/// A gzip of a gzip of a gzip: one level is read, the inner one is a
/// member judged by its content (not dangerous), not opened in turn.
#[test]
fn nested_gzip_is_read_one_level_deep() {
    let mut inner = pe();
    for _ in 0..3 {
        inner = gzip("x.gz", &inner);
    }
    let hits = quick(Duration::from_millis(100), || inspect("a.gz", &inner));
    assert_eq!(dangers(&hits), []);
    assert_eq!(unreadable(&hits), None);
    // One level holds the executable: found.
    assert_eq!(
        dangers(&inspect("a.gz", &gzip("setup.exe", &pe()))),
        [(Danger::Executable, Some("setup.exe"))]
    );
}

#[test]
fn damaged_zip_tar_and_cab_are_unreadable() {
    let z = zip_of(&[("setup.exe", &pe())], None);
    let why = unreadable(&inspect("a.zip", &z[..z.len() - 10])).map(str::to_string);
    assert!(
        why.as_deref().is_some_and(|w| w.starts_with("zip")),
        "{why:?}"
    );
    let why = unreadable(&inspect("a.cab", b"MSCF\0\0\0\0garbage")).map(str::to_string);
    assert!(
        why.as_deref().is_some_and(|w| w.starts_with("cab")),
        "{why:?}"
    );
    let mut t = tar_of(&[("a.txt", b"a")]);
    t[148..156].copy_from_slice(b"0000000\0"); // header checksum
    let why = unreadable(&inspect("a.tar", &t)).map(str::to_string);
    assert!(
        why.as_deref().is_some_and(|w| w.starts_with("tar")),
        "{why:?}"
    );
}

/// Zip's directory search and directory parse are the crate's loops over
/// the whole input: a 4 MiB run of end-of-directory records, and 50,000
/// entries, end within the time slice (give or take a loaded machine).
#[test]
fn zip_directory_spam_and_many_entries_end_within_the_slice() {
    let mut spam = b"PK\x03\x04".to_vec();
    let eocd = b"PK\x05\x06\0\0\0\0\x01\0\x01\0\x2e\0\0\0\0\0\0\0\0\0";
    while spam.len() < 4 << 20 {
        spam.extend(eocd);
    }
    let hits = quick(Duration::from_secs(1), || inspect("a.zip", &spam));
    assert!(unreadable(&hits).is_some(), "{hits:?}");
    let names: Vec<String> = (0..50_000).map(|i| format!("f{i}.txt")).collect();
    let files: Vec<(&str, &[u8])> = names
        .iter()
        .map(|n| (n.as_str(), b"x".as_slice()))
        .collect();
    let z = zip_of(&files, None);
    let hits = quick(Duration::from_secs(1), || inspect("a.zip", &z));
    assert!(
        matches!(&hits[..], [Hit::Cut(w)] if w.contains("listed 1000 members"))
            || matches!(&hits[..], [Hit::Unreadable(w)] if w.contains("time slice")),
        "{hits:?}"
    );
    // A zip bomb gives its first bytes only.
    let z = zip_of(&[("a.bin", &vec![0u8; 64 << 20])], None);
    let hits = quick(Duration::from_millis(200), || inspect("a.zip", &z));
    assert_eq!(hits, []);
}
