//! Writes QR code images in every format the milter decodes into a folder:
//! seeds for the `qr` fuzz target (scripts/fuzz.sh).
#[path = "../tests/support/qr_image.rs"]
mod qr_image;

use image::{DynamicImage, ImageFormat};

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus/qr".into());
    std::fs::create_dir_all(&dir)?;
    let code = DynamicImage::ImageLuma8(qr_image::qr_picture("https://evil.example/login", 2));
    let photo = DynamicImage::ImageRgb8(qr_image::busy_picture(120, 90, None));
    for (i, f) in [
        ImageFormat::Png,
        ImageFormat::Jpeg,
        ImageFormat::Gif,
        ImageFormat::WebP,
    ]
    .into_iter()
    .enumerate()
    {
        // The fuzz target reads its first byte as a format choice.
        for (kind, picture) in [("code", &code), ("photo", &photo)] {
            let mut seed = vec![i as u8];
            seed.extend(qr_image::encode(picture, f));
            let ext = f.extensions_str()[0];
            std::fs::write(format!("{dir}/{kind}.{ext}"), seed)?;
        }
    }
    Ok(())
}
