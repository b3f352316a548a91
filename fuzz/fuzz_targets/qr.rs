//! QR codes in images: format sniffing, header dimensions, the PNG, JPEG,
//! GIF and WebP decoders within our limits, scaling and the QR detector.
//! The first byte picks the format the file is read as, so each decoder
//! sees input that is not its own too; the seeds are real images.
#![no_main]
use image::ImageFormat;
use kinko_milter::analysis::qr;
use libfuzzer_sys::fuzz_target;

const FORMATS: &[ImageFormat] = &[
    ImageFormat::Png,
    ImageFormat::Jpeg,
    ImageFormat::Gif,
    ImageFormat::WebP,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let format = qr::format(body).unwrap_or(FORMATS[pick as usize % FORMATS.len()]);
    if let Some((w, h)) = qr::dimensions(body, format) {
        // The pixel bound the milter uses by default: above it, nothing is
        // decoded, whatever the header claims.
        let scan = qr::decode(body, format, 16_000_000);
        if u64::from(w) * u64::from(h) > 16_000_000 {
            assert!(scan.texts.is_empty());
        }
        assert!(scan.texts.len() <= 8, "the detector reads at most 8 codes");
    }
});
