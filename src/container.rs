//! Metadata into files the encoders wrote: the chunks, segments and boxes each format keeps it in,
//! where the encoder itself cannot write them (density and XMP in PNG, XMP in JPEG, everything in
//! WebP, which libwebp and the browser write bare, and the colour profile in AVIF). And one repair
//! on the way in: a WebP header that promises metadata the file lacks.
//!
//! The writers expect an encoder's output but must not panic on anything else (the fuzz target
//! `container` feeds them hostile bytes): what they do not understand they hand back unchanged
//! or refuse with `None`.

use std::ops::Range;

/// PNG: `pHYs` (density, in pixels per metre) and an `iTXt` XMP packet, after `IHDR`.
/// The encoder wrote `iCCP` and `eXIf` itself.
pub fn png(bytes: Vec<u8>, dpi: Option<f64>, xmp: Option<&[u8]>) -> Vec<u8> {
    // Signature (8) and IHDR (4 + 4 + 13 + 4).
    const AFTER_IHDR: usize = 33;
    if bytes.len() < AFTER_IHDR || &bytes[12..16] != b"IHDR" || (dpi.is_none() && xmp.is_none()) {
        return bytes;
    }
    let mut chunks = Vec::new();
    if let Some(dpi) = dpi {
        let per_metre = (dpi / 0.0254).round().clamp(1.0, f64::from(u32::MAX)) as u32;
        let mut data = Vec::with_capacity(9);
        data.extend_from_slice(&per_metre.to_be_bytes());
        data.extend_from_slice(&per_metre.to_be_bytes());
        data.push(1);
        png_chunk(&mut chunks, b"pHYs", &data);
    }
    if let Some(xmp) = xmp {
        // Keyword, no compression, no language, no translated keyword: what Adobe's XMP
        // specification prescribes for PNG.
        let mut data = b"XML:com.adobe.xmp\0\0\0\0\0".to_vec();
        data.extend_from_slice(xmp);
        png_chunk(&mut chunks, b"iTXt", &data);
    }
    splice(bytes, AFTER_IHDR..AFTER_IHDR, &chunks)
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// JPEG: an XMP APP1 segment, after the segments the encoder wrote before its frame (JFIF,
/// EXIF, ICC). A packet over one segment's 65 504 bytes would need Extended XMP; it is left out.
pub fn jpeg(bytes: Vec<u8>, xmp: Option<&[u8]>) -> Vec<u8> {
    const NAMESPACE: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";
    let Some(xmp) = xmp.filter(|xmp| NAMESPACE.len() + xmp.len() + 2 <= 0xFFFF) else { return bytes };
    // Not a JPEG (an empty file is not): nothing to insert after.
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return bytes;
    }
    // Walk the APPn segments after SOI; insert before the first that is not one.
    let mut at = 2;
    while let Some([0xFF, marker, high, low]) = bytes.get(at..at + 4).and_then(|s| <[u8; 4]>::try_from(s).ok()) {
        let next = at + 2 + usize::from(u16::from_be_bytes([high, low]));
        // A segment that runs past the end is no APPn the encoder wrote: insert before it.
        if !(0xE0..=0xEF).contains(&marker) || next > bytes.len() {
            break;
        }
        at = next;
    }
    let mut segment = vec![0xFF, 0xE1];
    segment.extend_from_slice(&((NAMESPACE.len() + xmp.len() + 2) as u16).to_be_bytes());
    segment.extend_from_slice(NAMESPACE);
    segment.extend_from_slice(xmp);
    splice(bytes, at..at, &segment)
}

/// What goes into a WebP beside the image data.
#[derive(Clone, Copy, Debug, Default)]
pub struct WebPExtras<'a> {
    pub icc: Option<&'a [u8]>,
    pub exif: Option<&'a [u8]>,
    pub xmp: Option<&'a [u8]>,
}

/// WebP: rebuilds the RIFF container with the image chunks of `bytes` and exactly `extras`: in the
/// extended format (`VP8X`, then `ICCP`, the image chunks, `EXIF`, `XMP `, as the WebP container
/// specification orders them) when there is metadata or alpha, else the simple one. Whatever
/// metadata the encoder wrote itself is dropped (a browser tags every WebP with its own sRGB
/// profile). `None` when `bytes` is not a still WebP.
pub fn webp(bytes: &[u8], width: u32, height: u32, alpha: bool, extras: WebPExtras<'_>) -> Option<Vec<u8>> {
    if bytes.get(..4)? != b"RIFF" || bytes.get(8..12)? != b"WEBP" {
        return None;
    }
    let mut image = Vec::new();
    let mut chunks = 0;
    let mut at = 12;
    while at < bytes.len() {
        let kind: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        let size = u32::from_le_bytes(bytes.get(at + 4..at + 8)?.try_into().ok()?) as usize;
        let end = at.checked_add(8)?.checked_add(size)?.checked_add(size % 2)?.min(bytes.len());
        match &kind {
            b"ALPH" | b"VP8 " | b"VP8L" => {
                image.extend_from_slice(&bytes[at..end]);
                chunks += 1;
            }
            b"ANIM" | b"ANMF" => return None,
            // The encoder's own VP8X and metadata are replaced.
            _ => {}
        }
        at = end;
    }
    if chunks == 0 {
        return None;
    }
    let mut body = b"WEBP".to_vec();
    let simple = chunks == 1 && extras.icc.is_none() && extras.exif.is_none() && extras.xmp.is_none();
    if !simple {
        let mut flags = 0u8;
        for (present, bit) in
            [(extras.icc.is_some(), 0x20), (alpha, 0x10), (extras.exif.is_some(), 0x08), (extras.xmp.is_some(), 0x04)]
        {
            if present {
                flags |= bit;
            }
        }
        let mut vp8x = vec![flags, 0, 0, 0];
        vp8x.extend_from_slice(&(width.max(1) - 1).to_le_bytes()[..3]);
        vp8x.extend_from_slice(&(height.max(1) - 1).to_le_bytes()[..3]);
        riff_chunk(&mut body, b"VP8X", &vp8x);
    }
    if let Some(icc) = extras.icc {
        riff_chunk(&mut body, b"ICCP", icc);
    }
    body.extend_from_slice(&image);
    if let Some(exif) = extras.exif {
        riff_chunk(&mut body, b"EXIF", exif);
    }
    if let Some(xmp) = extras.xmp {
        riff_chunk(&mut body, b"XMP ", xmp);
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&u32::try_from(body.len()).ok()?.to_le_bytes());
    out.extend_from_slice(&body);
    Some(out)
}

/// A WebP made consistent with itself where reading it needs: `None` when it is already (or is
/// no extended WebP). Two repairs. A `VP8X` header that announces EXIF or XMP that none of its
/// chunks holds has those flags cleared: the `image` crate refuses such a file outright, where
/// browsers show it, and a writer that dropped the metadata but not its flag is no reason to
/// refuse the picture, which is read without it. And a metadata chunk (ICC, EXIF, XMP) that runs
/// past the end of the file is given the size that remains: the decoder allocates the size a
/// chunk declares, up to 4 GiB, before it finds the file too short.
pub fn webp_repaired(bytes: &[u8]) -> Option<Vec<u8>> {
    // RIFF header (12 bytes), the VP8X chunk's header (8), then its flags byte.
    const FLAGS_AT: usize = 20;
    const EXIF_FLAG: u8 = 0x08;
    const XMP_FLAG: u8 = 0x04;
    if bytes.get(..4)? != b"RIFF" || bytes.get(8..16)? != b"WEBPVP8X" {
        return None;
    }
    let flags = *bytes.get(FLAGS_AT)?;
    let (mut exif, mut xmp) = (false, false);
    let mut cut_short = None;
    let mut at: usize = 12;
    // A chunk counts as there when its header is, as the decoder counts it.
    while let Some(header) = bytes.get(at..at.checked_add(8)?) {
        let size = u32::from_le_bytes(header[4..8].try_into().ok()?) as usize;
        let kind = &header[..4];
        match kind {
            b"EXIF" => exif = true,
            b"XMP " => xmp = true,
            _ => {}
        }
        let remaining = bytes.len() - at - 8;
        if size > remaining && matches!(kind, b"ICCP" | b"EXIF" | b"XMP ") {
            cut_short = Some((at + 4, remaining as u32));
        }
        at = at.checked_add(8)?.checked_add(size)?.checked_add(size % 2)?;
    }
    let mut cleared = flags;
    if !exif {
        cleared &= !EXIF_FLAG;
    }
    if !xmp {
        cleared &= !XMP_FLAG;
    }
    if cleared == flags && cut_short.is_none() {
        return None;
    }
    let mut out = bytes.to_vec();
    out[FLAGS_AT] = cleared;
    if let Some((size_at, size)) = cut_short {
        out[size_at..size_at + 4].copy_from_slice(&size.to_le_bytes());
    }
    Some(out)
}

fn riff_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(kind);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
}

/// AVIF: adds the colour profile as a `colr` property of type `prof` to the primary item (the
/// encoder writes only the coded colour space, `nclx`). The property goes at the end of `ipco`,
/// its association into `ipma`, the boxes around them grow, and every file offset in `iloc` that
/// points past the `meta` box moves by as much. `None` when the file's structure is not one this
/// understands.
pub fn avif_icc(bytes: &[u8], icc: &[u8]) -> Option<Vec<u8>> {
    let top = boxes(bytes, 0..bytes.len())?;
    let meta = top.iter().find(|b| &b.kind == b"meta")?.clone();
    // `meta` is a full box: version and flags before its children.
    let children = boxes(bytes, meta.body.start + 4..meta.body.end)?;
    let child = |kind: &[u8; 4]| children.iter().find(|b| &b.kind == kind).cloned();
    let (pitm, iloc, iprp) = (child(b"pitm")?, child(b"iloc")?, child(b"iprp")?);
    let properties = boxes(bytes, iprp.body.clone())?;
    let ipco = properties.iter().find(|b| &b.kind == b"ipco")?.clone();
    let ipma = properties.iter().find(|b| &b.kind == b"ipma")?.clone();
    if [&meta, &iprp, &ipco, &ipma].iter().any(|b| b.header != 8) {
        return None;
    }

    let primary = {
        let version = *bytes.get(pitm.body.start)?;
        let at = pitm.body.start + 4;
        if version == 0 { u32::from(read_u16(bytes, at)?) } else { read_u32(bytes, at)? }
    };
    let index = boxes(bytes, ipco.body.clone())?.len() + 1;

    let mut colr = Vec::with_capacity(12 + icc.len());
    colr.extend_from_slice(&u32::try_from(12 + icc.len()).ok()?.to_be_bytes());
    colr.extend_from_slice(b"colrprof");
    colr.extend_from_slice(icc);

    // ipma: version/flags, entry count, then per item its ID, association count, associations.
    let (version, flags) = (*bytes.get(ipma.body.start)?, *bytes.get(ipma.body.start + 3)?);
    let wide_index = flags & 1 == 1;
    if !wide_index && index > 0x7F || index > 0x7FFF {
        return None;
    }
    // Read within the box only: what lies past it is another box's.
    let ipma_bytes = &bytes[..ipma.body.end];
    let mut at = ipma.body.start + 4;
    let entries = read_u32(ipma_bytes, at)?;
    at += 4;
    let mut count_at = None;
    let mut association_end = 0;
    for _ in 0..entries {
        let (item, width) =
            if version < 1 { (u32::from(read_u16(ipma_bytes, at)?), 2) } else { (read_u32(ipma_bytes, at)?, 4) };
        at += width;
        let count = usize::from(*ipma_bytes.get(at)?);
        let end = at + 1 + count * if wide_index { 2 } else { 1 };
        if end > ipma.body.end {
            return None;
        }
        if item == primary {
            count_at = Some(at);
            association_end = end;
        }
        at = end;
    }
    let count_at = count_at?;
    if bytes[count_at] == u8::MAX {
        return None;
    }
    let association: Vec<u8> = if wide_index { (index as u16).to_be_bytes().to_vec() } else { vec![index as u8] };

    let growth = colr.len() + association.len();
    let meta_end = meta.body.end;
    let mut out = bytes.to_vec();
    // Offsets first, while every position is still the original's.
    shift_iloc(&mut out, iloc.body.clone(), meta_end, growth)?;
    for grown in [&meta, &iprp] {
        add_to_size(&mut out, grown.start, growth)?;
    }
    add_to_size(&mut out, ipco.start, colr.len())?;
    add_to_size(&mut out, ipma.start, association.len())?;
    out[count_at] += 1;
    // The later insertion first, so the earlier position stays right.
    let (first, second) = if ipco.body.end <= association_end {
        ((ipco.body.end, colr), (association_end, association))
    } else {
        ((association_end, association), (ipco.body.end, colr))
    };
    out.splice(second.0..second.0, second.1);
    out.splice(first.0..first.0, first.1);
    Some(out)
}

#[derive(Clone, Debug)]
struct IsoBox {
    kind: [u8; 4],
    start: usize,
    header: usize,
    body: Range<usize>,
}

/// The boxes in `range`, in order.
fn boxes(bytes: &[u8], range: Range<usize>) -> Option<Vec<IsoBox>> {
    let mut found = Vec::new();
    let mut at = range.start;
    while at < range.end {
        let size = read_u32(bytes, at)? as usize;
        let kind: [u8; 4] = bytes.get(at + 4..at + 8)?.try_into().ok()?;
        let (header, size) = match size {
            0 => (8, range.end - at),
            1 => (16, usize::try_from(u64::from_be_bytes(bytes.get(at + 8..at + 16)?.try_into().ok()?)).ok()?),
            size => (8, size),
        };
        let end = at.checked_add(size)?;
        if size < header || end > range.end {
            return None;
        }
        found.push(IsoBox { kind, start: at, header, body: at + header..end });
        at = end;
    }
    Some(found)
}

/// Moves every file offset (construction method 0) at or past `from` by `by`.
fn shift_iloc(out: &mut [u8], body: Range<usize>, from: usize, by: usize) -> Option<()> {
    let version = *out.get(body.start)?;
    let mut at = body.start + 4;
    let sizes = *out.get(at)?;
    let more = *out.get(at + 1)?;
    let (offset_size, length_size, base_size) =
        (usize::from(sizes >> 4), usize::from(sizes & 15), usize::from(more >> 4));
    let index_size = if version >= 1 { usize::from(more & 15) } else { 0 };
    // ISO/IEC 14496-12 allows 0, 4 or 8 bytes for each (index_size 0, 4 or 8 as well).
    if [offset_size, length_size, base_size, index_size].iter().any(|size| ![0, 4, 8].contains(size)) {
        return None;
    }
    at += 2;
    let items = if version < 2 {
        let n = u32::from(read_u16(out, at)?);
        at += 2;
        n
    } else {
        let n = read_u32(out, at)?;
        at += 4;
        n
    };
    for _ in 0..items {
        at += if version < 2 { 2 } else { 4 };
        let method = if version >= 1 {
            let method = read_u16(out, at)? & 15;
            at += 2;
            method
        } else {
            0
        };
        at += 2; // data reference index
        let base_at = at;
        let base = read_sized(out, at, base_size)?;
        at += base_size;
        let extents = read_u16(out, at)?;
        at += 2;
        let shifts_base = method == 0 && base_size > 0 && base >= from as u64;
        if shifts_base {
            write_sized(out, base_at, base_size, base.checked_add(by as u64)?)?;
        }
        for _ in 0..extents {
            at += index_size;
            let offset = read_sized(out, at, offset_size)?;
            if method == 0 && !shifts_base && offset_size > 0 && base.checked_add(offset)? >= from as u64 {
                write_sized(out, at, offset_size, offset.checked_add(by as u64)?)?;
            }
            at += offset_size + length_size;
        }
    }
    (at <= body.end).then_some(())
}

fn add_to_size(out: &mut [u8], at: usize, by: usize) -> Option<()> {
    let size = read_u32(out, at)?.checked_add(u32::try_from(by).ok()?)?;
    out[at..at + 4].copy_from_slice(&size.to_be_bytes());
    Some(())
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn read_sized(bytes: &[u8], at: usize, size: usize) -> Option<u64> {
    Some(bytes.get(at..at + size)?.iter().fold(0u64, |value, &byte| value << 8 | u64::from(byte)))
}

fn write_sized(out: &mut [u8], at: usize, size: usize, value: u64) -> Option<()> {
    if size < 8 && value >> (8 * size) != 0 {
        return None;
    }
    for (i, byte) in out.get_mut(at..at + size)?.iter_mut().enumerate() {
        *byte = (value >> (8 * (size - 1 - i))) as u8;
    }
    Some(())
}

fn splice(mut bytes: Vec<u8>, at: Range<usize>, with: &[u8]) -> Vec<u8> {
    bytes.splice(at, with.iter().copied());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webp_metadata_chunk_said_to_run_past_the_end_is_cut_to_what_remains() {
        // Found by the fuzzer (container): an XMP chunk of "1.8 GB" in a file of 362 bytes made
        // the decoder ask for 1.8 GB (tests/regression/container-webp-xmp-chunk-past-the-end.bin).
        let mut webp = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\x04\0\0\0\0\0\0\0\0\0XMP ".to_vec();
        webp.extend(1_836_581_134u32.to_le_bytes());
        webp.extend(b"<x:xmpmeta>");
        let repaired = webp_repaired(&webp).expect("a repair");
        assert_eq!(repaired[34..38], 11u32.to_le_bytes(), "the bytes that remain");
        assert_eq!(repaired[..34], webp[..34]);
        assert_eq!(webp_repaired(&repaired), None, "consistent now");
    }
}
