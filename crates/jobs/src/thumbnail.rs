//! The CPU-bound job: decode an image, resize it, encode the thumbnail.
//!
//! The input is drawn in code (a colour gradient with a pattern, so the PNG encoder has real work
//! to do), encoded to PNG the way an upload would arrive, then decoded, resized with a Lanczos
//! filter and encoded again. This is plain synchronous code: callers run it on a blocking thread
//! (`tokio::task::spawn_blocking`), never on the async executor, where a 50 ms resize would stall
//! every request that executor thread was serving.

use std::io::Cursor;

use image::imageops::FilterType;
use image::{ImageBuffer, ImageFormat, Rgb};

/// What one thumbnail job produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thumbnail {
    pub width: u32,
    pub height: u32,
    /// Size of the encoded PNG.
    pub bytes: usize,
}

/// A `width` × `height` PNG, as an upload would bring it.
pub fn sample_png(width: u32, height: u32) -> Result<Vec<u8>, image::ImageError> {
    let image = ImageBuffer::from_fn(width, height, |x, y| {
        let r = (x * 255 / width.max(1)) as u8;
        let g = (y * 255 / height.max(1)) as u8;
        let b = ((x ^ y) & 0xff) as u8;
        Rgb([r, g, b])
    });
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, ImageFormat::Png)?;
    Ok(out.into_inner())
}

/// Decodes `png`, fits it in `max_side` × `max_side` keeping its aspect ratio, encodes it as PNG.
pub fn make_thumbnail(png: &[u8], max_side: u32) -> Result<Thumbnail, image::ImageError> {
    let decoded = image::load_from_memory_with_format(png, ImageFormat::Png)?;
    let small = decoded.resize(max_side, max_side, FilterType::Lanczos3);
    let mut out = Cursor::new(Vec::new());
    small.write_to(&mut out, ImageFormat::Png)?;
    Ok(Thumbnail {
        width: small.width(),
        height: small.height(),
        bytes: out.into_inner().len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thumbnail_fits_the_box_and_keeps_the_aspect_ratio() {
        let png = sample_png(400, 200).unwrap();
        let thumb = make_thumbnail(&png, 100).unwrap();
        assert_eq!((thumb.width, thumb.height), (100, 50));
        assert!(thumb.bytes > 0);
    }

    #[test]
    fn bytes_that_are_not_a_png_are_an_error_not_a_panic() {
        assert!(make_thumbnail(b"not an image", 100).is_err());
    }
}
