//! QR codes in images: the links a phone camera would open.
//!
//! A QR code moves the link off the mail and onto the reader's phone,
//! where no mail filter or browser warning follows it; phishers use them
//! for exactly that. This module only turns image bytes into the texts of
//! the codes in them: the caller decides which images to look at, within
//! its budget, and judges the texts as links (see `links::extract`).
//!
//! Cost is bounded before any pixel is decoded: the dimensions come from
//! the image header, images over the caller's pixel bound are not decoded,
//! and the decoded picture is scaled down to [`SCAN_PIXELS`] before the
//! QR detector sees it.

use image::{DynamicImage, ImageFormat, ImageReader};
use std::io::Cursor;

/// Pixels the QR detector scans at most; bigger pictures are scaled down
/// first, by a whole factor (2 for anything up to 16 megapixels). The scan
/// costs about as much as the decoding; scaling down further saves little
/// and loses codes: quirc needs modules of about 3 pixels, and a code
/// printed small in a photo has few more.
pub const SCAN_PIXELS: u64 = 4_000_000;

/// The smallest QR code (version 1) is 21 modules wide: an image narrower
/// than that holds none, which rules out tracking pixels and spacers.
const MIN_SIDE: u32 = 21;

/// Finder patterns the detector follows per picture (quirc's own cap,
/// which keeps its pairing cheap). A real code has three; a picture that
/// reaches the cap may hide a code behind decoys, and says so.
const MAX_FINDERS: usize = 32;

/// What one image showed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// The text of each code read (the detector reads at most 8).
    pub texts: Vec<String>,
    /// The picture had more finder patterns than the detector follows, so
    /// a code may have gone unread.
    pub crowded: bool,
}

/// The still-image formats mail carries that we decode, by content.
pub fn format(bytes: &[u8]) -> Option<ImageFormat> {
    match image::guess_format(bytes).ok()? {
        f @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP) => {
            Some(f)
        }
        _ => None,
    }
}

/// Whether a picture of this size can hold a QR code at all.
pub fn could_hold_code(w: u32, h: u32) -> bool {
    w.min(h) >= MIN_SIDE
}

/// Width and height from the header alone; `None` when it does not parse.
pub fn dimensions(bytes: &[u8], format: ImageFormat) -> Option<(u32, u32)> {
    let reader = ImageReader::with_format(Cursor::new(bytes), format);
    std::panic::catch_unwind(|| reader.into_dimensions().ok())
        .ok()
        .flatten()
}

/// The QR codes in an image of at most `max_pixels` pixels. Anything the
/// decoders cannot read, or that makes one of them panic, counts as no code.
pub fn decode(bytes: &[u8], format: ImageFormat, max_pixels: u64) -> Scan {
    std::panic::catch_unwind(|| decode_unguarded(bytes, format, max_pixels)).unwrap_or_default()
}

fn decode_unguarded(bytes: &[u8], format: ImageFormat, max_pixels: u64) -> Scan {
    let Some((w, h)) = dimensions(bytes, format) else {
        return Scan::default();
    };
    if !could_hold_code(w, h) || u64::from(w) * u64::from(h) > max_pixels {
        return Scan::default();
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    // The decoded picture (up to 16 bits per channel, four channels) and
    // the decoder's own buffers, never more whatever the file claims.
    limits.max_alloc = Some(max_pixels.saturating_mul(8).saturating_add(1 << 20));
    reader.limits(limits);
    let Ok(picture) = reader.decode() else {
        return Scan::default();
    };
    let (grey, w, h) = scan_grey(picture);
    codes(&grey, w, h)
}

/// The picture in grey, scaled down to at most [`SCAN_PIXELS`].
fn scan_grey(picture: DynamicImage) -> (Vec<u8>, usize, usize) {
    let grey = match picture {
        DynamicImage::ImageLuma8(g) => g,
        // JPEG photos arrive as RGB: an integer weighting is a third of the
        // cost of `image`'s generic conversion, and thresholding needs no more.
        DynamicImage::ImageRgb8(rgb) => {
            let (w, h) = rgb.dimensions();
            let luma = rgb
                .as_raw()
                .chunks_exact(3)
                .map(|p| {
                    ((54 * u32::from(p[0]) + 183 * u32::from(p[1]) + 19 * u32::from(p[2])) >> 8)
                        as u8
                })
                .collect();
            image::GrayImage::from_raw(w, h, luma).expect("one byte per pixel")
        }
        other => other.into_luma8(),
    };
    let (w, h) = grey.dimensions();
    let pixels = u64::from(w) * u64::from(h);
    let grey = if pixels > SCAN_PIXELS {
        // An area average by a whole factor: module edges blur by at most
        // a pixel, where nearest-neighbour sampling would drop thin modules.
        let f = (pixels as f64 / SCAN_PIXELS as f64).sqrt().ceil() as u32;
        let (nw, nh) = (w / f, h / f);
        image::imageops::thumbnail(&grey, nw.max(1), nh.max(1))
    } else {
        grey
    };
    let (w, h) = (grey.width() as usize, grey.height() as usize);
    (grey.into_raw(), w, h)
}

/// The codes in a grey picture, `w` × `h`, row by row.
fn codes(grey: &[u8], w: usize, h: usize) -> Scan {
    let mut detector = quircs::Quirc::default();
    let texts = detector
        .identify(w, h, grey)
        .filter_map(|code| code.ok()?.decode().ok())
        .map(|data| String::from_utf8_lossy(&data.payload).into_owned())
        .collect();
    Scan {
        texts,
        crowded: detector.num_capstones() >= MAX_FINDERS,
    }
}

#[cfg(test)]
#[path = "../../tests/support/qr_image.rs"]
pub(crate) mod qr_image;

#[cfg(test)]
mod tests {
    use super::qr_image::{busy_picture, encode, qr_picture};
    use super::*;

    const URL: &str = "https://smbc.co.at.example/phone.php";

    fn texts(bytes: &[u8]) -> Vec<String> {
        let f = format(bytes).expect("an image format we decode");
        decode(bytes, f, 16_000_000).texts
    }

    #[test]
    fn codes_are_read_in_every_format_mail_carries() {
        let code = DynamicImage::ImageLuma8(qr_picture(URL, 4));
        for f in [
            ImageFormat::Png,
            ImageFormat::Jpeg,
            ImageFormat::Gif,
            ImageFormat::WebP,
        ] {
            let bytes = encode(&code, f);
            assert_eq!(format(&bytes), Some(f));
            assert_eq!(texts(&bytes), [URL], "{f:?}");
        }
    }

    /// A 3000x2000 photo-like JPEG with a code in one corner: scaled down
    /// to the scan size and still read.
    #[test]
    fn a_code_in_a_large_photo_survives_scaling_down() {
        let code = qr_picture(URL, 8);
        let photo = busy_picture(3000, 2000, Some((&code, 2400, 1400)));
        let bytes = encode(&DynamicImage::ImageRgb8(photo), ImageFormat::Jpeg);
        assert_eq!(dimensions(&bytes, ImageFormat::Jpeg), Some((3000, 2000)));
        assert_eq!(texts(&bytes), [URL]);
    }

    #[test]
    fn pixel_bound_is_checked_from_the_header_before_decoding() {
        let bytes = encode(
            &DynamicImage::ImageLuma8(qr_picture(URL, 4)),
            ImageFormat::Png,
        );
        let (w, h) = dimensions(&bytes, ImageFormat::Png).unwrap();
        let pixels = u64::from(w) * u64::from(h);
        assert_eq!(
            decode(&bytes, ImageFormat::Png, pixels - 1),
            Scan::default()
        );
        assert_eq!(decode(&bytes, ImageFormat::Png, pixels).texts, [URL]);
    }

    #[test]
    fn broken_and_foreign_files_give_nothing() {
        let png = encode(
            &DynamicImage::ImageLuma8(qr_picture(URL, 4)),
            ImageFormat::Png,
        );
        let cut = &png[..png.len() / 2];
        assert!(texts(cut).is_empty());
        assert!(format(b"%PDF-1.7\n").is_none());
        assert!(format(b"PK\x03\x04 zip").is_none());
        // Spacers and tracking pixels cannot hold a code.
        let pixel = encode(&DynamicImage::new_luma8(1, 1), ImageFormat::Gif);
        assert_eq!(dimensions(&pixel, ImageFormat::Gif), Some((1, 1)));
        assert!(!could_hold_code(1, 1));
        assert!(texts(&pixel).is_empty());
    }

    /// A picture tiled with finder patterns costs the detector little and
    /// is reported as crowded.
    #[test]
    fn decoys_are_bounded_and_reported() {
        let tile = qr_picture(URL, 2);
        let mut picture = image::GrayImage::new(tile.width() * 6, tile.height() * 6);
        for i in 0..36 {
            let (x, y) = ((i % 6) * tile.width(), (i / 6) * tile.height());
            image::imageops::overlay(&mut picture, &tile, x.into(), y.into());
        }
        let bytes = encode(&DynamicImage::ImageLuma8(picture), ImageFormat::Png);
        let started = std::time::Instant::now();
        let scan = decode(&bytes, ImageFormat::Png, u64::MAX);
        assert!(scan.crowded, "{scan:?}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}
