//! EXIF, as the TIFF structure it is: read the few fields the output depends on, and rewrite the
//! block for an upscaled image.
//!
//! The rewrite keeps every byte of the original where it was and appends a new first IFD (and a
//! new Exif IFD) after it, so that offsets into the block that nothing here understands (a camera's
//! maker note often points into the block) stay valid. What is dropped is also wiped: the GPS IFD
//! and its values when location is not kept, and the thumbnail (IFD1 and its JPEG), which shows the
//! image as it was before and would be wrong for the upscaled one. A block that does not parse is
//! dropped whole rather than copied blind.

use std::ops::Range;

/// Tags this module reads or writes.
mod tag {
    pub const ORIENTATION: u16 = 0x0112;
    pub const X_RESOLUTION: u16 = 0x011A;
    pub const Y_RESOLUTION: u16 = 0x011B;
    pub const RESOLUTION_UNIT: u16 = 0x0128;
    pub const THUMBNAIL_OFFSET: u16 = 0x0201;
    pub const THUMBNAIL_LENGTH: u16 = 0x0202;
    pub const EXIF_IFD: u16 = 0x8769;
    pub const GPS_IFD: u16 = 0x8825;
    pub const INTEROP_IFD: u16 = 0xA005;
    pub const PIXEL_X_DIMENSION: u16 = 0xA002;
    pub const PIXEL_Y_DIMENSION: u16 = 0xA003;
}

/// Byte order, 42 and the offset of IFD0.
const HEADER: Range<usize> = 0..8;

const SHORT: u16 = 3;
const LONG: u16 = 4;
const RATIONAL: u16 = 5;

/// Bytes per value of each TIFF field type (1 BYTE … 12 DOUBLE).
fn type_size(kind: u16) -> Option<usize> {
    match kind {
        1 | 2 | 6 | 7 => Some(1),
        3 | 8 => Some(2),
        4 | 9 | 11 | 13 => Some(4),
        5 | 10 | 12 => Some(8),
        _ => None,
    }
}

/// What the rewritten block should say about the new image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rewrite {
    pub width: u32,
    pub height: u32,
    /// Pixels per inch to record, if any.
    pub dpi: Option<f64>,
    /// Keep the GPS IFD (camera location).
    pub keep_location: bool,
}

/// A block that records only a density: for WebP and AVIF, which keep it nowhere else.
pub fn with_density(dpi: f64) -> Vec<u8> {
    let mut writer = Writer { out: b"MM\0*\0\0\0\0".to_vec(), little_endian: false };
    let entries = writer.resolution(dpi).to_vec();
    let ifd0 = writer.ifd(entries);
    let header = writer.u32_bytes(ifd0);
    writer.out[4..8].copy_from_slice(&header);
    writer.out
}

/// An EXIF block (the TIFF structure, without JPEG's `Exif\0\0` prefix) as read.
pub struct Exif<'a> {
    bytes: &'a [u8],
    little_endian: bool,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    tag: u16,
    kind: u16,
    count: u32,
    /// The four value-or-offset bytes, as stored.
    raw: [u8; 4],
}

struct Ifd {
    entries: Vec<Entry>,
    /// Where its table lies (count, entries, next offset).
    span: Range<usize>,
    next: u32,
}

impl<'a> Exif<'a> {
    /// Checks the TIFF header; `None` for anything else. A leading `Exif\0\0` (as JPEG's APP1
    /// and some WebP writers carry it) is skipped.
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        let bytes = bytes.strip_prefix(b"Exif\0\0").unwrap_or(bytes);
        let little_endian = match bytes.get(..4)? {
            [b'I', b'I', 42, 0] => true,
            [b'M', b'M', 0, 42] => false,
            _ => return None,
        };
        let exif = Self { bytes, little_endian };
        exif.ifd(exif.u32_at(4)?)?;
        Some(exif)
    }

    /// The resolution in pixels per inch, if the block records one (X; Y is nearly always equal).
    pub fn dpi(&self) -> Option<f64> {
        let ifd0 = self.ifd(self.u32_at(4)?)?;
        let find = |tag: u16| ifd0.entries.iter().find(|e| e.tag == tag).copied();
        let resolution = find(tag::X_RESOLUTION).filter(|e| e.kind == RATIONAL)?;
        let at = self.u32_from(resolution.raw) as usize;
        let (numerator, denominator) = (self.u32_at(at)?, self.u32_at(at + 4)?);
        if denominator == 0 || numerator == 0 {
            return None;
        }
        let value = f64::from(numerator) / f64::from(denominator);
        // 2 is inches (also the default when the unit is missing), 3 centimetres, 1 "no unit".
        match find(tag::RESOLUTION_UNIT).map(|e| self.short_value(e)) {
            None | Some(2) => Some(value),
            Some(3) => Some(value * 2.54),
            _ => None,
        }
    }

    /// The block for an upscaled image: orientation 1 (the pixels are upright), the pixel
    /// dimensions and resolution of the new image, no thumbnail, GPS only if asked. `None` when
    /// the structure is broken somewhere this needs to read.
    pub fn rewrite(&self, rewrite: &Rewrite) -> Option<Vec<u8>> {
        let ifd0 = self.ifd(self.u32_at(4)?)?;
        let find = |ifd: &Ifd, tag: u16| ifd.entries.iter().find(|e| e.tag == tag).copied();
        let exif_ifd = match find(&ifd0, tag::EXIF_IFD) {
            Some(entry) => Some(self.ifd(self.u32_from(entry.raw))?),
            None => None,
        };

        // Everything that stays referenced: where the output may be cut short.
        let mut kept: Vec<Range<usize>> = vec![HEADER, ifd0.span.clone()];
        let mut wiped: Vec<Range<usize>> = Vec::new();
        // The structures the output walks as they are: the header, and the IFDs kept in place.
        let mut structures = vec![HEADER];
        let dropped_tags = |tag: u16| {
            matches!(tag, tag::ORIENTATION | tag::X_RESOLUTION | tag::Y_RESOLUTION | tag::RESOLUTION_UNIT)
                || (tag == tag::GPS_IFD && !rewrite.keep_location)
                || tag == tag::EXIF_IFD
        };
        for entry in &ifd0.entries {
            let values = self.value_range(entry)?;
            if entry.tag == tag::GPS_IFD {
                let gps = self.ifd(self.u32_from(entry.raw))?;
                let mut ranges = vec![gps.span.clone()];
                for e in &gps.entries {
                    ranges.extend(self.value_range(e)?);
                }
                if rewrite.keep_location {
                    structures.push(gps.span);
                    kept.extend(ranges);
                } else {
                    wiped.extend(ranges);
                }
            } else if !dropped_tags(entry.tag) {
                kept.extend(values);
            }
        }
        if let Some(exif_ifd) = &exif_ifd {
            kept.push(exif_ifd.span.clone());
            for entry in &exif_ifd.entries {
                kept.extend(self.value_range(entry)?);
                if entry.tag == tag::INTEROP_IFD
                    && let Some(interop) = self.ifd(self.u32_from(entry.raw))
                {
                    kept.push(interop.span.clone());
                    structures.push(interop.span.clone());
                    for e in &interop.entries {
                        kept.extend(self.value_range(e)?);
                    }
                }
            }
        }
        if ifd0.next != 0
            && let Some(ifd1) = self.ifd(ifd0.next)
        {
            wiped.push(ifd1.span.clone());
            for entry in &ifd1.entries {
                wiped.extend(self.value_range(entry)?);
            }
            let offset = find(&ifd1, tag::THUMBNAIL_OFFSET).map(|e| self.long_value(e));
            let length = find(&ifd1, tag::THUMBNAIL_LENGTH).map(|e| self.long_value(e));
            if let (Some(offset), Some(length)) = (offset, length)
                && let Some(end) = (offset as usize).checked_add(length as usize)
                && end <= self.bytes.len()
            {
                wiped.push(offset as usize..end);
            }
        }

        let end = kept.iter().map(|r| r.end).max().unwrap_or(8);
        let mut out = self.bytes[..end].to_vec();
        for range in wiped {
            out[range.start.min(end)..range.end.min(end)].fill(0);
        }
        // A thumbnail or GPS value said to lie over the header or a kept IFD is a lie about
        // where it lies: wiping those bytes would leave a block that no reader can walk.
        for structure in structures {
            out[structure.clone()].copy_from_slice(&self.bytes[structure]);
        }
        let mut writer = Writer { out, little_endian: self.little_endian };

        // An IFD counts its entries in 16 bits; ours adds a few to the original's.
        let fits = |entries: &[Entry]| entries.len() <= usize::from(u16::MAX);

        // The new Exif IFD first, so that IFD0 can point at it.
        let exif_offset = match exif_ifd {
            Some(exif_ifd) => {
                let mut entries: Vec<Entry> = exif_ifd
                    .entries
                    .iter()
                    .filter(|e| !matches!(e.tag, tag::PIXEL_X_DIMENSION | tag::PIXEL_Y_DIMENSION))
                    .copied()
                    .collect();
                entries.push(writer.long(tag::PIXEL_X_DIMENSION, rewrite.width));
                entries.push(writer.long(tag::PIXEL_Y_DIMENSION, rewrite.height));
                if !fits(&entries) {
                    return None;
                }
                Some(writer.ifd(entries))
            }
            None => None,
        };

        let mut entries: Vec<Entry> = ifd0.entries.iter().filter(|e| !dropped_tags(e.tag)).copied().collect();
        entries.push(writer.short(tag::ORIENTATION, 1));
        if let Some(dpi) = rewrite.dpi {
            entries.extend(writer.resolution(dpi));
        }
        if let Some(offset) = exif_offset {
            entries.push(writer.long(tag::EXIF_IFD, offset));
        }
        if !rewrite.keep_location {
            entries.retain(|e| e.tag != tag::GPS_IFD);
        }
        if !fits(&entries) {
            return None;
        }
        let ifd0_offset = writer.ifd(entries);
        let header = writer.u32_bytes(ifd0_offset);
        writer.out[4..8].copy_from_slice(&header);
        Some(writer.out)
    }

    fn ifd(&self, offset: u32) -> Option<Ifd> {
        let start = offset as usize;
        let count = self.u16_at(start)? as usize;
        let table_end = start.checked_add(2 + 12 * count)?;
        let next = self.u32_at(table_end)?;
        let entries = (0..count)
            .map(|i| {
                let at = start + 2 + 12 * i;
                Some(Entry {
                    tag: self.u16_at(at)?,
                    kind: self.u16_at(at + 2)?,
                    count: self.u32_at(at + 4)?,
                    raw: self.bytes.get(at + 8..at + 12)?.try_into().ok()?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Ifd { entries, span: start..table_end + 4, next })
    }

    /// Where an entry's values lie when they do not fit in its four bytes; `Some(None)` when
    /// they do, `None` when they would lie outside the block.
    fn value_range(&self, entry: &Entry) -> Option<Option<Range<usize>>> {
        // An unknown type's size is unknown: nothing to keep beyond the entry itself.
        let Some(size) = type_size(entry.kind) else { return Some(None) };
        let length = size.checked_mul(entry.count as usize)?;
        if length <= 4 {
            return Some(None);
        }
        let start = self.u32_from(entry.raw) as usize;
        let end = start.checked_add(length)?;
        (end <= self.bytes.len()).then_some(Some(start..end))
    }

    fn short_value(&self, entry: Entry) -> u16 {
        self.u16_from([entry.raw[0], entry.raw[1]])
    }

    fn long_value(&self, entry: Entry) -> u32 {
        if entry.kind == SHORT { u32::from(self.short_value(entry)) } else { self.u32_from(entry.raw) }
    }

    // Offsets are 32-bit: checked, since on a 32-bit target (wasm32) one near the top plus a
    // field's width would wrap around to the start.
    fn u16_at(&self, at: usize) -> Option<u16> {
        Some(self.u16_from(self.bytes.get(at..at.checked_add(2)?)?.try_into().ok()?))
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        Some(self.u32_from(self.bytes.get(at..at.checked_add(4)?)?.try_into().ok()?))
    }

    fn u16_from(&self, bytes: [u8; 2]) -> u16 {
        if self.little_endian { u16::from_le_bytes(bytes) } else { u16::from_be_bytes(bytes) }
    }

    fn u32_from(&self, bytes: [u8; 4]) -> u32 {
        if self.little_endian { u32::from_le_bytes(bytes) } else { u32::from_be_bytes(bytes) }
    }
}

/// Appends IFDs and out-of-line values to a block in its byte order.
struct Writer {
    out: Vec<u8>,
    little_endian: bool,
}

impl Writer {
    fn u16_bytes(&self, value: u16) -> [u8; 2] {
        if self.little_endian { value.to_le_bytes() } else { value.to_be_bytes() }
    }

    fn u32_bytes(&self, value: u32) -> [u8; 4] {
        if self.little_endian { value.to_le_bytes() } else { value.to_be_bytes() }
    }

    /// TIFF wants IFDs and values on even offsets.
    fn align(&mut self) -> u32 {
        if self.out.len() % 2 == 1 {
            self.out.push(0);
        }
        self.out.len() as u32
    }

    fn short(&self, tag: u16, value: u16) -> Entry {
        let [a, b] = self.u16_bytes(value);
        Entry { tag, kind: SHORT, count: 1, raw: [a, b, 0, 0] }
    }

    fn long(&self, tag: u16, value: u32) -> Entry {
        Entry { tag, kind: LONG, count: 1, raw: self.u32_bytes(value) }
    }

    fn rational(&mut self, tag: u16, numerator: u32, denominator: u32) -> Entry {
        let at = self.align();
        let (n, d) = (self.u32_bytes(numerator), self.u32_bytes(denominator));
        self.out.extend_from_slice(&n);
        self.out.extend_from_slice(&d);
        Entry { tag, kind: RATIONAL, count: 1, raw: self.u32_bytes(at) }
    }

    /// The three entries of a density in dots per inch, in hundredths (300 is 30000/100, and
    /// 72.009 stays 72.01).
    fn resolution(&mut self, dpi: f64) -> [Entry; 3] {
        let hundredths = (dpi * 100.0).round().clamp(1.0, f64::from(u32::MAX)) as u32;
        [
            self.rational(tag::X_RESOLUTION, hundredths, 100),
            self.rational(tag::Y_RESOLUTION, hundredths, 100),
            self.short(tag::RESOLUTION_UNIT, 2),
        ]
    }

    /// Writes an IFD (entries sorted by tag, as TIFF requires, no next IFD); returns its offset.
    fn ifd(&mut self, mut entries: Vec<Entry>) -> u32 {
        entries.sort_by_key(|e| e.tag);
        let at = self.align();
        let count = self.u16_bytes(entries.len() as u16);
        self.out.extend_from_slice(&count);
        for entry in entries {
            let (tag, kind, count) =
                (self.u16_bytes(entry.tag), self.u16_bytes(entry.kind), self.u32_bytes(entry.count));
            self.out.extend_from_slice(&tag);
            self.out.extend_from_slice(&kind);
            self.out.extend_from_slice(&count);
            self.out.extend_from_slice(&entry.raw);
        }
        self.out.extend_from_slice(&[0; 4]);
        at
    }
}
