//! Every attachment type, built here with the same crates' writers.

use super::*;
use std::io::{Cursor, Write};

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
