//! QR code images made by the tests and benches themselves: a text encoded
//! with the `qrcode` crate, drawn into an `image` buffer and written in the
//! formats mail carries. Shared by the unit tests (src/qr.rs), the e2e
//! suite and the benches.
#![allow(dead_code)]

use image::{GrayImage, ImageFormat, Luma};

/// `text` as a QR code, `module` pixels per module, with the four-module
/// quiet zone the standard asks for.
pub fn qr_picture(text: &str, module: u32) -> GrayImage {
    let code = qrcode::QrCode::new(text.as_bytes()).expect("text fits a QR code");
    let width = code.width() as u32;
    let colors = code.to_colors();
    let side = (width + 8) * module;
    GrayImage::from_fn(side, side, |x, y| {
        let (mx, my) = (x / module, y / module);
        let inside = (4..width + 4).contains(&mx) && (4..width + 4).contains(&my);
        let dark = inside && colors[((my - 4) * width + (mx - 4)) as usize] == qrcode::Color::Dark;
        Luma([if dark { 0 } else { 255 }])
    })
}

/// A photo-like picture (smooth gradients with fine noise that
/// compresses badly) of `w` × `h`, with `qr` pasted at (`x`, `y`) when given.
pub fn busy_picture(w: u32, h: u32, qr: Option<(&GrayImage, u32, u32)>) -> image::RgbImage {
    let mut seed = 0x2545_f491_u32;
    let mut img = image::RgbImage::from_fn(w, h, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let n = (seed & 0x3f) as u8;
        image::Rgb([
            ((x * 255 / w.max(1)) as u8).wrapping_add(n),
            ((y * 255 / h.max(1)) as u8).wrapping_add(n),
            (((x + y) * 127 / (w + h).max(1)) as u8).wrapping_add(n),
        ])
    });
    if let Some((code, x0, y0)) = qr {
        for (x, y, p) in code.enumerate_pixels() {
            let v = p.0[0];
            img.put_pixel(x0 + x, y0 + y, image::Rgb([v, v, v]));
        }
    }
    img
}

/// `picture` encoded as `format` (PNG, JPEG at quality 90, GIF, lossless WebP).
pub fn encode(picture: &image::DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    match format {
        ImageFormat::Jpeg => {
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
            picture
                .to_rgb8()
                .write_with_encoder(enc)
                .expect("JPEG encodes");
        }
        // The GIF and WebP encoders want RGBA.
        ImageFormat::Gif | ImageFormat::WebP => picture
            .to_rgba8()
            .write_to(&mut out, format)
            .expect("image encodes"),
        _ => picture.write_to(&mut out, format).expect("image encodes"),
    }
    out.into_inner()
}
