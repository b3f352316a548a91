//! Links in QR codes: the image parts of a message, read as a phone camera
//! would, within a per-message budget of images and decoded pixels.
//!
//! Only the header of an image is read until the budget allows decoding
//! it, and images too small to hold a code (tracking pixels, spacers) cost
//! nothing but that header. A message without image parts decodes nothing.

use super::bare::bare_links;
use super::normalize::normalize;
use super::{Link, LinkKind, Origin};
use crate::analysis::qr;
use crate::vocab::message::Bounds;
use url::Url;

/// The image budget of one message and what it had to leave out.
pub(crate) struct Images {
    max_images: usize,
    max_image_pixels: u64,
    max_pixels_total: u64,
    decoded: usize,
    pixels: u64,
    too_large: usize,
    over_count: usize,
    over_total: usize,
    crowded: usize,
}

impl Images {
    pub fn new(bounds: &Bounds) -> Self {
        Images {
            max_images: bounds.max_qr_images,
            max_image_pixels: bounds.max_qr_image_pixels,
            max_pixels_total: bounds.max_qr_pixels_total,
            decoded: 0,
            pixels: 0,
            too_large: 0,
            over_count: 0,
            over_total: 0,
            crowded: 0,
        }
    }

    /// The links in the QR codes of one part's bytes, when they are an
    /// image the budget still covers; `label` names the part in evidence.
    pub fn qr_links(&mut self, bytes: &[u8], label: impl FnOnce() -> String) -> Vec<Link> {
        let Some(format) = qr::format(bytes) else {
            return Vec::new();
        };
        let Some((w, h)) = qr::dimensions(bytes, format) else {
            return Vec::new();
        };
        if !qr::could_hold_code(w, h) {
            return Vec::new();
        }
        let pixels = u64::from(w) * u64::from(h);
        if pixels > self.max_image_pixels {
            self.too_large += 1;
            return Vec::new();
        }
        if self.decoded >= self.max_images {
            self.over_count += 1;
            return Vec::new();
        }
        if self.pixels.saturating_add(pixels) > self.max_pixels_total {
            self.over_total += 1;
            return Vec::new();
        }
        self.decoded += 1;
        self.pixels += pixels;
        let scan = qr::decode(bytes, format, pixels);
        if scan.crowded {
            self.crowded += 1;
        }
        if scan.texts.is_empty() {
            return Vec::new();
        }
        let label = label();
        scan.texts
            .iter()
            .flat_map(|t| links_in(t))
            .map(|mut l| {
                l.image = Some(label.clone());
                l
            })
            .collect()
    }

    /// Images decoded so far.
    pub fn decoded(&self) -> usize {
        self.decoded
    }

    /// One phrase per bound that left an image unread.
    pub fn truncated(&self, bounds: &Bounds) -> Vec<String> {
        let mut out = Vec::new();
        let mut note = |n: usize, why: String| {
            if n > 0 {
                out.push(format!("{n} images {why} not scanned for QR codes"));
            }
        };
        note(
            self.too_large,
            format!("over max_qr_image_pixels ({})", bounds.max_qr_image_pixels),
        );
        note(
            self.over_count,
            format!("beyond max_qr_images ({})", bounds.max_qr_images),
        );
        note(
            self.over_total,
            format!(
                "beyond max_qr_pixels_total ({})",
                bounds.max_qr_pixels_total
            ),
        );
        if self.crowded > 0 {
            out.push(format!(
                "{} images with more QR finder patterns than the decoder follows: a code may be hidden among decoys",
                self.crowded
            ));
        }
        out
    }
}

/// The links a QR code's text opens: its URLs, or the text itself when it
/// is a bare host name with an optional path, which phone cameras open too.
fn links_in(text: &str) -> Vec<Link> {
    let found: Vec<Link> = bare_links(text, LinkKind::QrCode, Origin::Image).collect();
    if !found.is_empty() {
        return found;
    }
    schemeless(text.trim()).into_iter().collect()
}

fn schemeless(text: &str) -> Option<Link> {
    if text.is_empty() || text.contains(char::is_whitespace) || text.contains(':') {
        return None;
    }
    let u = Url::parse(&format!("http://{text}")).ok()?;
    let tld = u.host_str()?.rsplit_once('.')?.1;
    if tld.is_empty() || !tld.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    normalize(&u, LinkKind::QrCode, Origin::Image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_texts_become_links() {
        let hosts = |t: &str| -> Vec<String> { links_in(t).into_iter().map(|l| l.host).collect() };
        assert_eq!(hosts("https://evil.example/login"), ["evil.example"]);
        assert_eq!(
            hosts("Scan: www.evil.example/a and more"),
            ["www.evil.example"]
        );
        assert_eq!(hosts("evil.example/login?x=1"), ["evil.example"]);
        // Not links: words, versions, other schemes, Wi-Fi settings.
        for t in [
            "hello",
            "v1.2",
            "mailto:a@b.example",
            "WIFI:S:net;T:WPA;P:pw;;",
            "a b.example",
        ] {
            assert!(links_in(t).is_empty(), "{t}");
        }
        let l = &links_in("https://evil.example/")[0];
        assert_eq!((l.kind, l.origin), (LinkKind::QrCode, Origin::Image));
    }
}
