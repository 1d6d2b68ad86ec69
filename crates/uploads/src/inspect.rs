//! Deciding what a file *is* from its first bytes, and refusing images too large to decode.
//!
//! All three paths run the same checks on the same prefix (the backend on the stream as it
//! arrives, the direct path on a ranged GET after the fact, tus on the finished file):
//!
//! 1. **Magic numbers, not names.** A client's `Content-Type` and extension are claims; the
//!    first bytes are evidence. [`decide`] asks `infer` what the bytes are, requires that type
//!    to be on the [`Allowlist`], and then requires the claims to *agree* with it: a declared
//!    type that differs, or an extension the type does not use (`.jpg.php`: the server would
//!    act on `.php`), is refused with 415. The stored and served type is the detected one.
//! 2. **Dimensions before decoding.** A 40 KB PNG can declare 100 000 × 100 000 pixels, 40 GB
//!    of RGBA once decoded (a decompression bomb). [`dimensions`] reads the width and height
//!    from the header alone (PNG `IHDR`, JPEG `SOFn`, GIF's logical screen) without touching
//!    pixel data, and [`Limits::check_image`] refuses the file before any decoder runs.
//!
//! What this does not do: prove a file is *well-formed* past its header, or safe to open
//! (a PDF can carry JavaScript). Production adds a decoder in a sandbox for thumbnails, and a
//! malware scanner before a file is shared with anyone but its owner.

/// How many leading bytes the checks look at. PNG and GIF headers are in the first 30 bytes; a
/// JPEG's `SOF` comes after its `APPn` segments (EXIF thumbnails can be tens of KB), so 64 KiB.
/// A JPEG whose header is further in is refused rather than read further.
pub const SNIFF_BYTES: usize = 64 * 1024;

/// One accepted type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub mime: &'static str,
    /// Extensions a file of this type may carry (lowercase, without the dot).
    pub extensions: &'static [&'static str],
    /// Whether the dimension check applies.
    pub image: bool,
}

/// The types this server accepts. Everything else is 415, including types `infer` knows
/// (executables, archives, HTML is not even detectable by magic number and so never passes).
#[derive(Debug, Clone)]
pub struct Allowlist(pub Vec<Kind>);

impl Default for Allowlist {
    fn default() -> Self {
        Self(vec![
            Kind {
                mime: "image/png",
                extensions: &["png"],
                image: true,
            },
            Kind {
                mime: "image/jpeg",
                extensions: &["jpg", "jpeg"],
                image: true,
            },
            Kind {
                mime: "image/gif",
                extensions: &["gif"],
                image: true,
            },
            Kind {
                mime: "application/pdf",
                extensions: &["pdf"],
                image: false,
            },
        ])
    }
}

impl Allowlist {
    pub fn get(&self, mime: &str) -> Option<Kind> {
        self.0.iter().copied().find(|k| k.mime == mime)
    }

    /// The accepted types, for error messages and the README.
    pub fn mimes(&self) -> Vec<&'static str> {
        self.0.iter().map(|k| k.mime).collect()
    }
}

/// Size and pixel limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted file, in bytes.
    pub max_bytes: u64,
    /// Largest accepted image, in pixels (width × height).
    pub max_pixels: u64,
    /// Largest accepted side, in pixels (a 1 × 50 000 000 strip is a bomb too).
    pub max_side: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 2 * 1024 * 1024 * 1024,
            // 50 megapixels: a modern phone photo is 12 to 48; decoded as RGBA that is 200 MB.
            max_pixels: 50_000_000,
            max_side: 20_000,
        }
    }
}

/// Why a file's content was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the file is empty")]
    Empty,
    #[error("the content's type could not be determined from its first bytes")]
    Unknown,
    #[error("the content is {detected}, which is not accepted (accepted: {accepted})")]
    NotAllowed { detected: String, accepted: String },
    #[error("the content is {detected}, but it was declared as {declared}")]
    DeclaredMismatch { detected: String, declared: String },
    #[error("the content is {detected}, but the name ends in .{extension}")]
    ExtensionMismatch { detected: String, extension: String },
    #[error("the image header could not be read in the first {SNIFF_BYTES} bytes")]
    NoImageHeader,
    #[error(
        "the image is {width}×{height} pixels, over the limit of {limit} (a decompression bomb)"
    )]
    TooManyPixels {
        width: u32,
        height: u32,
        limit: String,
    },
}

impl Refusal {
    /// Whether this is a type problem (415) rather than a content problem (422).
    pub fn is_type(&self) -> bool {
        matches!(
            self,
            Refusal::Unknown
                | Refusal::NotAllowed { .. }
                | Refusal::DeclaredMismatch { .. }
                | Refusal::ExtensionMismatch { .. }
        )
    }
}

/// What the checks concluded about an accepted file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub kind: Kind,
    pub dimensions: Option<(u32, u32)>,
}

/// Decides the type of a file from `head` (its first up to [`SNIFF_BYTES`] bytes) and checks
/// the client's claims and the image limits against it.
///
/// `declared` is the part's or request's `Content-Type` (`application/octet-stream`, what a
/// browser sends when it does not know, claims nothing); `extension` is the display name's.
pub fn decide(
    head: &[u8],
    declared: Option<&str>,
    extension: Option<&str>,
    allow: &Allowlist,
    limits: &Limits,
) -> Result<Decision, Refusal> {
    if head.is_empty() {
        return Err(Refusal::Empty);
    }
    let detected = infer::get(head).ok_or(Refusal::Unknown)?.mime_type();
    let kind = allow.get(detected).ok_or_else(|| Refusal::NotAllowed {
        detected: detected.to_owned(),
        accepted: allow.mimes().join(", "),
    })?;
    if let Some(declared) = declared.map(essence)
        && declared != "application/octet-stream"
        && declared != kind.mime
    {
        return Err(Refusal::DeclaredMismatch {
            detected: kind.mime.to_owned(),
            declared: declared.to_owned(),
        });
    }
    if let Some(ext) = extension
        && !kind.extensions.contains(&ext)
    {
        return Err(Refusal::ExtensionMismatch {
            detected: kind.mime.to_owned(),
            extension: ext.to_owned(),
        });
    }
    let dimensions = if kind.image {
        let (w, h) = dimensions(kind.mime, head).ok_or(Refusal::NoImageHeader)?;
        limits.check_image(w, h)?;
        Some((w, h))
    } else {
        None
    };
    Ok(Decision { kind, dimensions })
}

impl Limits {
    /// Refuses an image whose declared size would be too large to decode safely.
    pub fn check_image(&self, width: u32, height: u32) -> Result<(), Refusal> {
        let pixels = u64::from(width) * u64::from(height);
        if pixels > self.max_pixels || width > self.max_side || height > self.max_side {
            return Err(Refusal::TooManyPixels {
                width,
                height,
                limit: format!("{} pixels or {} per side", self.max_pixels, self.max_side),
            });
        }
        Ok(())
    }
}

/// `image/png; charset=x` → `image/png`, lowercased.
fn essence(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or_default().trim()
}

/// Width and height from an image's header, without decoding it. `None` when the header is not
/// in `head` or is malformed.
pub fn dimensions(mime: &str, head: &[u8]) -> Option<(u32, u32)> {
    match mime {
        "image/png" => png_dimensions(head),
        "image/jpeg" => jpeg_dimensions(head),
        "image/gif" => gif_dimensions(head),
        _ => None,
    }
}

/// PNG: the 8-byte signature, then the first chunk, which must be `IHDR` (length 13): width and
/// height as big-endian u32 at offsets 16 and 20.
fn png_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    if b.len() < 24 || &b[12..16] != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes(b[16..20].try_into().ok()?);
    let h = u32::from_be_bytes(b[20..24].try_into().ok()?);
    Some((w, h))
}

/// GIF: `GIF87a`/`GIF89a`, then the logical screen width and height as little-endian u16.
fn gif_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    if b.len() < 10 {
        return None;
    }
    let w = u16::from_le_bytes([b[6], b[7]]);
    let h = u16::from_le_bytes([b[8], b[9]]);
    Some((u32::from(w), u32::from(h)))
}

/// JPEG: walk the marker segments from `SOI` (each `FF xx` + a big-endian length that includes
/// itself) until a start-of-frame marker (`C0`–`CF` except `C4` DHT, `C8` JPG, `CC` DAC), whose
/// payload is precision (1 byte), height (2), width (2).
fn jpeg_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    if b.len() < 4 || b[0] != 0xFF || b[1] != 0xD8 {
        return None;
    }
    let mut i = 2;
    loop {
        // Markers may be padded with any number of 0xFF fill bytes.
        while *b.get(i)? == 0xFF && *b.get(i + 1)? == 0xFF {
            i += 1;
        }
        if *b.get(i)? != 0xFF {
            return None;
        }
        let marker = *b.get(i + 1)?;
        // Standalone markers without a length: TEM and RST0–7.
        if marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
            i += 2;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([*b.get(i + 2)?, *b.get(i + 3)?]));
        if len < 2 {
            return None;
        }
        let is_sof = (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            let h = u16::from_be_bytes([*b.get(i + 5)?, *b.get(i + 6)?]);
            let w = u16::from_be_bytes([*b.get(i + 7)?, *b.get(i + 8)?]);
            return Some((u32::from(w), u32::from(h)));
        }
        // Start of scan before any frame header: malformed.
        if marker == 0xDA {
            return None;
        }
        i += 2 + len;
    }
}

/// Test and demo inputs: the smallest headers that pass (or fail) the checks above. Not valid
/// images past their headers, which is the point: nothing here decodes pixels.
pub mod samples {
    /// A PNG signature and an `IHDR` declaring `width` × `height`, then `filler` bytes of
    /// (fake) compressed data. A bomb is this with large dimensions: 33 bytes that would
    /// decode to gigabytes.
    pub fn png(width: u32, height: u32, filler: usize) -> Vec<u8> {
        let mut b = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
        b.extend_from_slice(&13u32.to_be_bytes());
        b.extend_from_slice(b"IHDR");
        b.extend_from_slice(&width.to_be_bytes());
        b.extend_from_slice(&height.to_be_bytes());
        // Bit depth 8, colour type 6 (RGBA), compression, filter, interlace; then a CRC
        // placeholder (nothing here verifies chunk CRCs).
        b.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
        b.extend(std::iter::repeat_n(0x5A, filler));
        b
    }

    /// A JPEG `SOI`, an `APP0` (JFIF) segment, and a baseline `SOF0` declaring the size.
    pub fn jpeg(width: u16, height: u16) -> Vec<u8> {
        let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
        b.extend_from_slice(b"JFIF\0");
        b.extend_from_slice(&[1, 1, 0, 0, 1, 0, 1, 0, 0]);
        b.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 8]);
        b.extend_from_slice(&height.to_be_bytes());
        b.extend_from_slice(&width.to_be_bytes());
        b.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        b.extend_from_slice(&[0xFF, 0xD9]);
        b
    }

    /// A PDF header and `len` bytes in total of body (the demo's large files).
    pub fn pdf(len: usize) -> Vec<u8> {
        let mut b = b"%PDF-1.7\n".to_vec();
        b.resize(len.max(b.len()), b'x');
        b
    }

    /// The start of an ELF executable (what a spoofed `.png` carries in the hostile table).
    pub fn elf(len: usize) -> Vec<u8> {
        let mut b = vec![0x7F, b'E', b'L', b'F', 2, 1, 1, 0];
        b.resize(len.max(b.len()), 0);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide_default(
        head: &[u8],
        declared: Option<&str>,
        ext: Option<&str>,
    ) -> Result<Decision, Refusal> {
        decide(
            head,
            declared,
            ext,
            &Allowlist::default(),
            &Limits::default(),
        )
    }

    #[test]
    fn headers_give_dimensions_without_decoding() {
        assert_eq!(
            dimensions("image/png", &samples::png(640, 480, 0)),
            Some((640, 480))
        );
        assert_eq!(
            dimensions("image/jpeg", &samples::jpeg(1024, 768)),
            Some((1024, 768))
        );
        assert_eq!(
            dimensions("image/gif", b"GIF89a\x20\x00\x10\x00"),
            Some((32, 16))
        );
        assert_eq!(dimensions("image/png", &samples::png(1, 1, 0)[..20]), None);
    }

    #[test]
    fn the_detected_type_wins_and_claims_must_agree_with_it() {
        let png = samples::png(10, 10, 10);
        let ok = decide_default(&png, Some("image/png"), Some("png")).unwrap();
        assert_eq!(ok.kind.mime, "image/png");
        assert!(decide_default(&png, Some("application/octet-stream"), None).is_ok());
        assert!(matches!(
            decide_default(&png, Some("image/jpeg"), Some("png")),
            Err(Refusal::DeclaredMismatch { .. })
        ));
        assert!(matches!(
            decide_default(&samples::jpeg(5, 5), Some("image/jpeg"), Some("php")),
            Err(Refusal::ExtensionMismatch { .. })
        ));
        assert!(matches!(
            decide_default(&samples::elf(64), Some("image/png"), Some("png")),
            Err(Refusal::NotAllowed { .. })
        ));
        assert_eq!(decide_default(b"", None, None), Err(Refusal::Empty));
        assert_eq!(decide_default(b"hello", None, None), Err(Refusal::Unknown));
    }

    #[test]
    fn a_bomb_is_refused_by_its_header() {
        let bomb = samples::png(100_000, 100_000, 1000);
        let refusal = decide_default(&bomb, Some("image/png"), Some("png")).unwrap_err();
        assert!(matches!(
            refusal,
            Refusal::TooManyPixels { width: 100_000, .. }
        ));
        assert!(!refusal.is_type());
        assert!(matches!(
            decide_default(&samples::png(1, 30_000, 0), None, None),
            Err(Refusal::TooManyPixels { .. })
        ));
    }
}
