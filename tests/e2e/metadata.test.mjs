// Faithful output: a photo's colour profile, EXIF (rewritten: upright, the new size, no GPS unless
// asked), XMP and print density travel from a JPEG, PNG or WebP into PNG, JPEG and lossy WebP,
// through the page, the widget and the API; "none" keeps nothing; a print size makes its pixels
// and writes its DPI; lossy WebP is the browser's own encoder's, and is never anything else under
// WebP's name; AVIF is listed as unavailable, with the reason.
//
// The fixtures are made here: an EXIF block built by hand (camera, date, copyright, orientation
// 6, 300 DPI, a GPS position), an XMP packet and a small RGB colour profile, spliced into what
// the page's canvas encodes, in the place each container keeps them: a JPEG (JFIF at 300 DPI,
// APP1 EXIF and XMP, APP2 ICC), a PNG (iCCP, eXIf, iTXt, pHYs at 300 DPI) and an extended-format
// WebP (VP8X, ICCP, EXIF, XMP; its DPI is EXIF's). The outputs are read here too, byte by byte:
// PNG chunks, JPEG segments, WebP's RIFF chunks and the EXIF inside.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import * as h from './harness.mjs';

let env;

before(async () => {
  env = await h.start();
});
after(() => env?.close());

const app = (t, options) => h.openAppFor(t, env, options);

// ---- The fixture ---------------------------------------------------------------------------

const MAKE = 'UpresCam';
const COPYRIGHT = '(c) Sage & Linen shop';
const DATE = '2024:05:06 07:08:09';
/** The GPS latitude's values, which must not survive anywhere in a block that drops location. */
const LATITUDE = [
  [52, 1],
  [22, 1],
  [4711, 100],
];
const XMP_MARKER = 'upres-xmp-marker-5c1e';

/** A small RGB display profile: the 128-byte header, an empty tag table and a marker to find. */
function iccProfile() {
  const marker = Buffer.from('upres-test-profile-7f3a\0', 'latin1');
  const profile = Buffer.alloc(128 + 4 + marker.length);
  profile.writeUInt32BE(profile.length, 0);
  profile.write('upre', 4, 'latin1');
  profile.writeUInt32BE(0x04300000, 8); // version 4.3
  profile.write('mntr', 12, 'latin1');
  profile.write('RGB ', 16, 'latin1');
  profile.write('XYZ ', 20, 'latin1');
  profile.write('acsp', 36, 'latin1');
  profile.writeUInt32BE(0, 128); // no tags
  marker.copy(profile, 132);
  return profile;
}
const ICC = iccProfile();

const TYPE = { BYTE: 1, ASCII: 2, SHORT: 3, LONG: 4, RATIONAL: 5 };
const TYPE_SIZE = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8 };

/**
 * A TIFF structure (what EXIF is) from IFDs given as `{ name: [[tag, type, value], …] }`, the
 * first being IFD0. A value is a string (ASCII), an array of numbers (BYTE, SHORT, LONG), an
 * array of [numerator, denominator] (RATIONAL), or `{ ifd: name }`: the offset of another IFD.
 */
function tiff(littleEndian, ifds) {
  const names = Object.keys(ifds);
  const offsets = {};
  let at = 8;
  for (const name of names) {
    offsets[name] = at;
    at += 2 + 12 * ifds[name].length + 4;
  }
  const out = Buffer.alloc(4096);
  const u16 = (value, where) => (littleEndian ? out.writeUInt16LE(value, where) : out.writeUInt16BE(value, where));
  const u32 = (value, where) => (littleEndian ? out.writeUInt32LE(value, where) : out.writeUInt32BE(value, where));
  out.write(littleEndian ? 'II' : 'MM', 0, 'latin1');
  u16(42, 2);
  u32(offsets[names[0]], 4);
  let data = at;
  for (const name of names) {
    const entries = [...ifds[name]].sort((a, b) => a[0] - b[0]);
    let entry = offsets[name];
    u16(entries.length, entry);
    entry += 2;
    for (const [tag, type, value] of entries) {
      const values = value.ifd
        ? [offsets[value.ifd]]
        : type === TYPE.ASCII
          ? [...Buffer.from(`${value}\0`, 'latin1')]
          : value.flat();
      const count = type === TYPE.RATIONAL ? values.length / 2 : values.length;
      const size = TYPE_SIZE[type] * count;
      let where = entry + 8;
      if (size > 4) {
        data += data % 2;
        u32(data, entry + 8);
        where = data;
        data += size;
      }
      for (const v of values) {
        if (type === TYPE.SHORT) u16(v, where);
        else if (type === TYPE.LONG || type === TYPE.RATIONAL) u32(v, where);
        else out[where] = v;
        where += type === TYPE.RATIONAL ? 4 : TYPE_SIZE[type];
      }
      u16(tag, entry);
      u16(type, entry + 2);
      u32(count, entry + 4);
      entry += 12;
    }
    u32(0, entry);
  }
  return out.subarray(0, data);
}

/** The camera's EXIF for a `width`×`height` photo stored on its side (orientation 6). */
function cameraExif(littleEndian, width, height) {
  return tiff(littleEndian, {
    ifd0: [
      [0x010f, TYPE.ASCII, MAKE],
      [0x0112, TYPE.SHORT, [6]],
      [0x011a, TYPE.RATIONAL, [[300, 1]]],
      [0x011b, TYPE.RATIONAL, [[300, 1]]],
      [0x0128, TYPE.SHORT, [2]],
      [0x0132, TYPE.ASCII, DATE],
      [0x8298, TYPE.ASCII, COPYRIGHT],
      [0x8769, TYPE.LONG, { ifd: 'exif' }],
      [0x8825, TYPE.LONG, { ifd: 'gps' }],
    ],
    exif: [
      [0x9003, TYPE.ASCII, DATE],
      [0xa002, TYPE.LONG, [width]],
      [0xa003, TYPE.LONG, [height]],
    ],
    gps: [
      [0x0000, TYPE.BYTE, [2, 3, 0, 0]],
      [0x0001, TYPE.ASCII, 'N'],
      [0x0002, TYPE.RATIONAL, LATITUDE],
    ],
  });
}

const XMP =
  `<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">` +
  `<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" ` +
  `xmlns:tiff="http://ns.adobe.com/tiff/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" tiff:Orientation="6">` +
  `<dc:rights>${XMP_MARKER}</dc:rights></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="r"?>`;

function segment(marker, body) {
  const header = Buffer.from([0xff, marker, 0, 0]);
  header.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([header, body]);
}

/**
 * A `width`×`height` JPEG from `page`'s canvas, its own APP segments (Chromium writes JFIF and an
 * sRGB profile) replaced by: JFIF at 300 DPI, the camera's EXIF (`littleEndian` or big-endian
 * TIFF), XMP, and ICC. Decoded upright it is `height`×`width` (orientation 6).
 */
async function cameraJpeg(page, width, height, littleEndian = false) {
  const base = await h.jpegInPage(page, width, height, 0.9);
  let at = 2;
  while (base[at] === 0xff && base[at + 1] >= 0xe0 && base[at + 1] <= 0xef) at += 2 + base.readUInt16BE(at + 2);
  const jfif = Buffer.from([...Buffer.from('JFIF\0', 'latin1'), 1, 2, 1, 1, 44, 1, 44, 0, 0]); // 1 = dots per inch, 300 × 300
  return Buffer.concat([
    base.subarray(0, 2),
    segment(0xe0, jfif),
    segment(0xe1, Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), cameraExif(littleEndian, width, height)])),
    segment(0xe1, Buffer.concat([Buffer.from('http://ns.adobe.com/xap/1.0/\0', 'latin1'), Buffer.from(XMP, 'utf8')])),
    segment(0xe2, Buffer.concat([Buffer.from('ICC_PROFILE\0', 'latin1'), Buffer.from([1, 1]), ICC])),
    base.subarray(at),
  ]);
}

/** testImage() as a file of MIME `type` that `page`'s canvas encodes (at `quality`, 0–1, for lossy types). */
async function canvasInPage(page, width, height, type, quality) {
  const bytes = await page.evaluate(
    async ({ width, height, rgb, type, quality }) => {
      const rgba = new Uint8ClampedArray(width * height * 4);
      for (let i = 0; i < width * height; i++) rgba.set([rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2], 255], 4 * i);
      const canvas = Object.assign(document.createElement('canvas'), { width, height });
      canvas.getContext('2d').putImageData(new ImageData(rgba, width, height), 0, 0);
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, type, quality));
      return [...new Uint8Array(await blob.arrayBuffer())];
    },
    { width, height, rgb: [...h.testImage(width, height)], type, quality },
  );
  return Buffer.from(bytes);
}

const PNG_SIGNATURE = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);

/** A PNG chunk: big-endian length, type, data, and the CRC-32 of type and data. */
function pngChunk(type, data) {
  const typed = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(4 + typed.length + 4);
  out.writeUInt32BE(data.length, 0);
  typed.copy(out, 4);
  out.writeUInt32BE(crc32(typed), 4 + typed.length);
  return out;
}

/** A PNG's chunks in file order: [{ type, data }]. */
function pngChunks(bytes) {
  assert.ok(bytes.subarray(0, 8).equals(PNG_SIGNATURE), 'a PNG');
  const chunks = [];
  for (let at = 8; at + 12 <= bytes.length; ) {
    const length = bytes.readUInt32BE(at);
    chunks.push({ type: bytes.toString('latin1', at + 4, at + 8), data: bytes.subarray(at + 8, at + 8 + length) });
    at += 12 + length;
  }
  return chunks;
}

/**
 * A `width`×`height` PNG from `page`'s canvas (Chromium writes RGBA, opaque here, which upres
 * reads as RGB), its chunks besides IHDR, IDAT and IEND dropped, with the camera's metadata as
 * PNG keeps it, all before the pixels: iCCP (the profile, zlib-compressed), eXIf (the TIFF block,
 * with no `Exif\0\0` prefix), XMP in an uncompressed iTXt under Adobe's keyword, and pHYs at
 * 300 DPI (11811 pixels per metre). Decoded upright it is `height`×`width` (orientation 6).
 */
async function cameraPng(page, width, height) {
  const chunks = pngChunks(await canvasInPage(page, width, height, 'image/png'));
  const [header] = chunks.filter(({ type }) => type === 'IHDR');
  const pixels = chunks.filter(({ type }) => type === 'IDAT');
  const density = Buffer.alloc(9);
  density.writeUInt32BE(11811, 0);
  density.writeUInt32BE(11811, 4);
  density[8] = 1; // the metre
  return Buffer.concat([
    PNG_SIGNATURE,
    pngChunk('IHDR', header.data),
    // Profile name, \0, compression method 0 (zlib), the compressed profile.
    pngChunk('iCCP', Buffer.concat([Buffer.from('upres test\0\0', 'latin1'), deflateSync(ICC)])),
    pngChunk('eXIf', cameraExif(false, width, height)),
    // Keyword, \0, not compressed, method 0, no language \0, no translated keyword \0, the text.
    pngChunk('iTXt', Buffer.concat([Buffer.from('XML:com.adobe.xmp\0\0\0\0\0', 'latin1'), Buffer.from(XMP, 'utf8')])),
    pngChunk('pHYs', density),
    ...pixels.map(({ data }) => pngChunk('IDAT', data)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A RIFF chunk: FourCC, little-endian length, data, and a zero pad byte after odd lengths. */
function riffChunk(type, data) {
  const header = Buffer.alloc(8);
  header.write(type, 0, 'latin1');
  header.writeUInt32LE(data.length, 4);
  return Buffer.concat([header, data, Buffer.alloc(data.length % 2)]);
}

/** A WebP file's chunks in file order: [{ type, data }]. */
function webpChunks(bytes) {
  assert.ok(bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP', 'a WebP');
  const chunks = [];
  for (let at = 12; at + 8 <= bytes.length; ) {
    const length = bytes.readUInt32LE(at + 4);
    chunks.push({ type: bytes.toString('latin1', at, at + 4), data: bytes.subarray(at + 8, at + 8 + length) });
    at += 8 + length + (length % 2);
  }
  return chunks;
}

/** A WebP file: `RIFF`, the size of what follows, `WEBP`, then the chunks (from riffChunk). */
function webpFile(chunks) {
  const header = Buffer.from('RIFF\0\0\0\0WEBP', 'latin1');
  const body = Buffer.concat(chunks);
  header.writeUInt32LE(4 + body.length, 4);
  return Buffer.concat([header, body]);
}

const VP8X_FLAGS = { ICC: 0x20, ALPHA: 0x10, EXIF: 0x08, XMP: 0x04 };

/** The extended format's VP8X chunk: the flags, then the canvas's width − 1 and height − 1 as 24-bit little-endian. */
function vp8x(flags, width, height) {
  const data = Buffer.alloc(10);
  data[0] = flags;
  data.writeUIntLE(width - 1, 4, 3);
  data.writeUIntLE(height - 1, 7, 3);
  return riffChunk('VP8X', data);
}

/**
 * A `width`×`height` WebP from `page`'s canvas (Chromium writes VP8X, its own sRGB ICCP, then
 * lossy VP8), the image chunks alone kept (VP8, VP8L, ALPH) and wrapped in the extended format
 * with the camera's metadata: VP8X, ICCP, the image, EXIF (the TIFF block, no `Exif\0\0` prefix)
 * and `XMP `. WebP has no density of its own: 300 DPI is EXIF's XResolution alone. Decoded
 * upright it is `height`×`width` (orientation 6).
 */
async function cameraWebP(page, width, height) {
  const image = webpChunks(await canvasInPage(page, width, height, 'image/webp', 0.9)).filter(({ type }) =>
    ['VP8 ', 'VP8L', 'ALPH'].includes(type),
  );
  // Alpha is an ALPH chunk beside VP8, or a bit in VP8L's header (after its signature byte).
  const alpha = image.some(
    ({ type, data }) => type === 'ALPH' || (type === 'VP8L' && (data.readUInt32LE(1) >>> 28) & 1),
  );
  const flags = VP8X_FLAGS.ICC | VP8X_FLAGS.EXIF | VP8X_FLAGS.XMP | (alpha ? VP8X_FLAGS.ALPHA : 0);
  return webpFile([
    vp8x(flags, width, height),
    riffChunk('ICCP', ICC),
    ...image.map(({ type, data }) => riffChunk(type, data)),
    riffChunk('EXIF', cameraExif(false, width, height)),
    riffChunk('XMP ', Buffer.from(XMP, 'utf8')),
  ]);
}

// ---- Reading the outputs -------------------------------------------------------------------

/** What a PNG, JPEG or WebP file says besides its pixels: { format, width, height, icc, exif,
 *  xmp, density, lossy } (density as the container records it; lossy for WebP). */
function readFile(bytes) {
  if (bytes.subarray(0, 8).equals(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]))) return readPng(bytes);
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return readJpeg(bytes);
  if (bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') return readWebP(bytes);
  throw new Error(`not a PNG, JPEG or WebP: ${bytes.subarray(0, 12).toString('hex')}`);
}

function readPng(bytes) {
  const found = { format: 'png', icc: null, exif: null, xmp: null, density: null };
  for (let at = 8; at < bytes.length; ) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    const body = bytes.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') Object.assign(found, { width: body.readUInt32BE(0), height: body.readUInt32BE(4) });
    if (type === 'iCCP') {
      const name = body.indexOf(0);
      assert.equal(body[name + 1], 0, 'iCCP compression method 0 (zlib)');
      found.icc = inflateSync(body.subarray(name + 2));
    }
    if (type === 'eXIf') found.exif = Buffer.from(body);
    if (type === 'pHYs') found.density = { x: body.readUInt32BE(0), y: body.readUInt32BE(4), unit: body[8] };
    if (type === 'iTXt' && body.toString('latin1', 0, 18) === 'XML:com.adobe.xmp\0') {
      // keyword\0, compressed flag, method, language\0, translated keyword\0, text
      let text = 18;
      const compressed = body[text];
      text += 2;
      text = body.indexOf(0, text) + 1;
      text = body.indexOf(0, text) + 1;
      found.xmp = (compressed ? inflateSync(body.subarray(text)) : body.subarray(text)).toString('utf8');
    }
    at += 12 + length;
  }
  return found;
}

function readJpeg(bytes) {
  const found = { format: 'jpeg', icc: null, exif: null, xmp: null, density: null };
  const icc = [];
  for (let at = 2; at + 4 <= bytes.length; ) {
    const marker = bytes[at + 1];
    const length = bytes.readUInt16BE(at + 2);
    const body = bytes.subarray(at + 4, at + 2 + length);
    const starts = (text) => body.toString('latin1', 0, text.length) === text;
    if (marker === 0xe0 && starts('JFIF\0'))
      found.density = { unit: body[7], x: body.readUInt16BE(8), y: body.readUInt16BE(10) };
    if (marker === 0xe1 && starts('Exif\0\0')) found.exif = Buffer.from(body.subarray(6));
    if (marker === 0xe1 && starts('http://ns.adobe.com/xap/1.0/\0')) found.xmp = body.subarray(29).toString('utf8');
    if (marker === 0xe2 && starts('ICC_PROFILE\0')) icc[body[12] - 1] = body.subarray(14);
    if (marker >= 0xc0 && marker <= 0xc3)
      Object.assign(found, { height: body.readUInt16BE(1), width: body.readUInt16BE(3) });
    if (marker === 0xda) break;
    at += 2 + length;
  }
  if (icc.length > 0) found.icc = Buffer.concat(icc);
  return found;
}

function readWebP(bytes) {
  assert.equal(bytes.readUInt32LE(4) + 8, bytes.length, 'the RIFF size is the file size');
  const found = { format: 'webp', icc: null, exif: null, xmp: null, density: null, chunks: [] };
  for (let at = 12; at + 8 <= bytes.length; ) {
    const type = bytes.toString('latin1', at, at + 4);
    const length = bytes.readUInt32LE(at + 4);
    const body = bytes.subarray(at + 8, at + 8 + length);
    found.chunks.push(type);
    if (type === 'VP8X')
      Object.assign(found, { width: body.readUIntLE(4, 3) + 1, height: body.readUIntLE(7, 3) + 1, flags: body[0] });
    if (type === 'ICCP') found.icc = Buffer.from(body);
    if (type === 'EXIF')
      found.exif = Buffer.from(body.toString('latin1', 0, 6) === 'Exif\0\0' ? body.subarray(6) : body);
    if (type === 'XMP ') found.xmp = body.toString('utf8');
    // A simple-format WebP has no VP8X: the size is in the bitstream's header.
    if (type === 'VP8 ' && found.width === undefined) {
      Object.assign(found, { width: body.readUInt16LE(6) & 0x3fff, height: body.readUInt16LE(8) & 0x3fff });
    }
    if (type === 'VP8L' && found.width === undefined) {
      const bits = body.readUInt32LE(1);
      Object.assign(found, { width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 });
    }
    at += 8 + length + (length % 2);
  }
  found.lossy = found.chunks.includes('VP8 ');
  return found;
}

/** An EXIF block's IFD0, Exif IFD and GPS IFD as Maps from tag to value (strings for ASCII,
 *  numbers for SHORT and LONG, numerator/denominator for one RATIONAL, arrays for more). */
function readExif(block) {
  const little = block.toString('latin1', 0, 2) === 'II';
  assert.ok(little || block.toString('latin1', 0, 2) === 'MM', 'a TIFF header');
  const u16 = (at) => (little ? block.readUInt16LE(at) : block.readUInt16BE(at));
  const u32 = (at) => (little ? block.readUInt32LE(at) : block.readUInt32BE(at));
  const ifd = (offset) => {
    const entries = new Map();
    for (let i = 0, n = u16(offset); i < n; i++) {
      const at = offset + 2 + 12 * i;
      const [tag, type, count] = [u16(at), u16(at + 2), u32(at + 4)];
      const size = (TYPE_SIZE[type] ?? 1) * count;
      const where = size > 4 ? u32(at + 8) : at + 8;
      let value;
      if (type === TYPE.ASCII) value = block.toString('latin1', where, where + count).replace(/\0+$/, '');
      else if (type === TYPE.SHORT)
        value = count === 1 ? u16(where) : Array.from({ length: count }, (_, k) => u16(where + 2 * k));
      else if (type === TYPE.LONG)
        value = count === 1 ? u32(where) : Array.from({ length: count }, (_, k) => u32(where + 4 * k));
      else if (type === TYPE.RATIONAL) {
        const pairs = Array.from({ length: count }, (_, k) => u32(where + 8 * k) / u32(where + 8 * k + 4));
        value = count === 1 ? pairs[0] : pairs;
      } else value = block.subarray(where, where + size);
      entries.set(tag, value);
    }
    return entries;
  };
  const ifd0 = ifd(u32(4));
  return {
    little,
    ifd0,
    exif: ifd0.has(0x8769) ? ifd(ifd0.get(0x8769)) : new Map(),
    gps: ifd0.has(0x8825) ? ifd(ifd0.get(0x8825)) : null,
  };
}

/** The GPS latitude's rational values as they lie in a block of either byte order. */
function latitudeBytes(little) {
  const out = Buffer.alloc(24);
  for (const [i, v] of LATITUDE.flat().entries()) {
    if (little) out.writeUInt32LE(v, 4 * i);
    else out.writeUInt32BE(v, 4 * i);
  }
  return out;
}

/**
 * Checks that `file` (read by readFile) carries the camera photo's metadata, rewritten for a
 * `width`×`height` result: the same profile, EXIF upright with the new size and the camera's
 * fields, location only with `location`, the XMP upright, and 300 DPI where the format keeps it.
 */
function assertFaithful(file, { width, height, location = false, littleEndian = false }) {
  assert.deepEqual([file.width, file.height], [width, height], `${file.format} size`);
  assert.ok(file.icc?.equals(ICC), `${file.format}: the colour profile, byte for byte`);
  assert.ok(file.exif, `${file.format}: EXIF`);
  const exif = readExif(file.exif);
  assert.equal(exif.little, littleEndian, 'the byte order is kept');
  assert.equal(exif.ifd0.get(0x0112), 1, 'Orientation 1: the pixels are upright');
  assert.equal(exif.ifd0.get(0x010f), MAKE);
  assert.equal(exif.ifd0.get(0x8298), COPYRIGHT);
  assert.equal(exif.ifd0.get(0x0132), DATE);
  assert.equal(exif.ifd0.get(0x011a), 300, 'XResolution');
  assert.equal(exif.ifd0.get(0x011b), 300, 'YResolution');
  assert.equal(exif.ifd0.get(0x0128), 2, 'ResolutionUnit: inches');
  assert.deepEqual([exif.exif.get(0xa002), exif.exif.get(0xa003)], [width, height], 'PixelXDimension, PixelYDimension');
  assert.equal(exif.exif.get(0x9003), DATE, 'DateTimeOriginal');
  if (location) {
    assert.deepEqual(
      exif.gps?.get(0x0002),
      LATITUDE.map(([n, d]) => n / d),
      'GPSLatitude kept',
    );
  } else {
    assert.equal(exif.gps, null, 'no GPS IFD');
    assert.equal(file.exif.indexOf(latitudeBytes(littleEndian)), -1, 'the latitude is wiped from the block');
  }
  assert.ok(file.xmp?.includes(XMP_MARKER), `${file.format}: XMP`);
  assert.match(file.xmp, /tiff:Orientation="1"/);
  if (file.format === 'png')
    assert.deepEqual(file.density, { x: 11811, y: 11811, unit: 1 }, 'pHYs: 300 DPI in pixels per metre');
  if (file.format === 'jpeg') assert.deepEqual(file.density, { unit: 1, x: 300, y: 300 }, 'JFIF: 300 DPI');
}

/** The size `page`'s browser decodes `bytes` to: the file is one it reads. */
const decodedSize = (page, bytes) =>
  page.evaluate(
    async (data) => {
      const bitmap = await createImageBitmap(new Blob([new Uint8Array(data)]));
      return [bitmap.width, bitmap.height];
    },
    [...bytes],
  );

const FORMATS = {
  png: { select: 'png', extension: 'png' },
  jpeg: { select: 'jpeg', extension: 'jpg' },
  'lossy WebP': { select: 'webp-lossy', extension: 'webp', quality: '80' },
};

// ---- The page ------------------------------------------------------------------------------

/**
 * The camera photo in each container the page reads, stored 64×48 on its side: the same profile,
 * EXIF, XMP and 300 DPI, each where that format keeps it. `density` is what the container itself
 * records (WebP has none: its 300 DPI is in EXIF).
 */
const INPUTS = {
  JPEG: {
    name: 'shop.jpg',
    type: 'image/jpeg',
    make: (page) => cameraJpeg(page, 64, 48),
    density: { unit: 1, x: 300, y: 300 },
  },
  PNG: {
    name: 'shop.png',
    type: 'image/png',
    make: (page) => cameraPng(page, 64, 48),
    density: { x: 11811, y: 11811, unit: 1 },
  },
  WebP: { name: 'shop.webp', type: 'image/webp', make: (page) => cameraWebP(page, 64, 48), density: null },
};

/** Checks that a fixture says what it should before the page is asked anything about it. */
function assertCameraFixture(photo, input, density) {
  const file = readFile(photo);
  assert.deepEqual([file.width, file.height], [64, 48], `the ${input} fixture is stored 64×48`);
  assert.ok(file.icc?.equals(ICC), `the ${input} fixture's profile`);
  const exif = readExif(file.exif);
  assert.deepEqual(
    [exif.ifd0.get(0x0112), exif.ifd0.get(0x011a), exif.gps?.get(0x0002)],
    [6, 300, LATITUDE.map(([n, d]) => n / d)],
    `the ${input} fixture's EXIF: orientation 6, 300 DPI, a latitude`,
  );
  assert.ok(file.xmp?.includes(XMP_MARKER), `the ${input} fixture's XMP`);
  assert.deepEqual(file.density, density, `the ${input} fixture's own density`);
}

for (const [input, { name: fileName, type, make, density }] of Object.entries(INPUTS)) {
  test(`a ${input} photo's colour profile, EXIF (upright, resized, no GPS), XMP and 300 DPI are kept in PNG, JPEG and lossy WebP`, async (t) => {
    const { page, errors } = await app(t);
    assert.equal(await page.inputValue('select[name="metadata"]'), 'no-location', 'all but location by default');
    const photo = await make(page);
    assertCameraFixture(photo, input, density);
    assert.deepEqual(
      (await decodedSize(page, photo)).sort((a, b) => a - b),
      [48, 64],
      `the browser reads the ${input} fixture`,
    );
    await h.setScale(page, 2);

    for (const [output, { select, extension, quality }] of Object.entries(FORMATS)) {
      // A subtest each, so that one output's failure does not hide the others'.
      await t.test(`${input} to ${output}`, async (t) => {
        await page.selectOption('select[name="format"]', select);
        if (quality) {
          assert.ok(await page.isEnabled('input[name="quality"]'), 'lossy WebP has a quality');
          await page.fill('input[name="quality"]', quality);
        }
        const index = await page.locator('#queue li').count();
        const item = await h.addFile(page, fileName, photo, type);
        const result = await h.upscaleAndDownload(page, index);
        assert.equal(result.name, `shop@2x.${extension}`);
        const file = readFile(result.bytes);
        t.diagnostic(
          `${input} to ${output}: ${result.bytes.length} bytes${file.chunks ? `, chunks ${file.chunks.join(' ')}` : ''}`,
        );
        // Stored 64×48 on its side: 48×64 upright, 96×128 at 2×.
        assertFaithful(file, { width: 96, height: 128 });
        assert.deepEqual(await decodedSize(page, result.bytes), [96, 128], `the browser reads the ${output}`);
        if (output === 'lossy WebP') {
          assert.ok(file.lossy, 'a lossy (VP8) WebP');
          assert.deepEqual(file.chunks.slice(0, 2), ['VP8X', 'ICCP']);
        }
        assert.equal(
          await item.locator('.metadata').textContent(),
          'Metadata kept: colour profile, EXIF, XMP, 300 DPI.',
        );
      });
    }
    assert.deepEqual(errors, []);
  });
}

test('"None" keeps nothing of the photo in PNG, JPEG and lossy WebP', async (t) => {
  const { page, errors } = await app(t);
  const photo = await cameraJpeg(page, 64, 48);
  await h.setScale(page, 2);
  await page.selectOption('select[name="metadata"]', 'none');
  assert.match(await page.textContent('#metadata-note'), /^Nothing from the original/);
  let index = 0;
  for (const [name, { select, extension }] of Object.entries(FORMATS)) {
    await page.selectOption('select[name="format"]', select);
    const item = await h.addFile(page, 'shop.jpg', photo, 'image/jpeg');
    const result = await h.upscaleAndDownload(page, index++);
    assert.equal(result.name, `shop@2x.${extension}`);
    const file = readFile(result.bytes);
    assert.deepEqual([file.width, file.height], [96, 128], name);
    assert.deepEqual(await decodedSize(page, result.bytes), [96, 128], `the browser reads the ${name}`);
    assert.deepEqual(
      { icc: file.icc, exif: file.exif, xmp: file.xmp },
      { icc: null, exif: null, xmp: null },
      `${name} keeps nothing`,
    );
    if (name === 'jpeg') assert.notDeepEqual(file.density, { unit: 1, x: 300, y: 300 }, 'no density from the original');
    else assert.equal(file.density, null, `${name}: no density`);
    assert.equal(await item.locator('.metadata').textContent(), 'Metadata kept: none.');
    assert.match(await item.locator('.made').textContent(), /no metadata/);
  }
  assert.deepEqual(errors, []);
});

test('a print size: 8×10 in at 300 DPI on a 500×400 image is 3000×2400 pixels recorded at 300 DPI', async (t) => {
  const { page } = await app(t);
  await page.check('input[name="size"][value="print"]');
  await page.selectOption('select[name="paper"]', '8x10in');
  assert.equal(await page.inputValue('input[name="dpi"]'), '300', 'DPI defaults to 300');
  assert.ok(await page.isHidden('#print-custom'), 'a named size needs no custom width and height');
  assert.equal(
    await page.textContent('#print-note'),
    '8×10 in at 300 DPI is 2400×3000 pixels, turned to match each image; the file says to print it at that size.',
  );
  // Even with no metadata kept, the print size's density is written.
  await page.selectOption('select[name="metadata"]', 'none');
  await h.addFile(page, 'poster.png', h.encodePng(500, 400, h.testImage(500, 400)));
  const result = await h.upscaleAndDownload(page, 0);
  t.diagnostic(`500×400 to 3000×2400 in ${result.milliseconds} ms`);
  assert.equal(result.name, 'poster@8x10in-300dpi.png');
  const file = readFile(result.bytes);
  assert.deepEqual([file.width, file.height], [3000, 2400], 'turned to the landscape image');
  assert.deepEqual(file.density, { x: 11811, y: 11811, unit: 1 });
  assert.equal(file.icc, null);
  assert.match(await page.locator('#queue li .metadata').textContent(), /^Metadata kept: 300 DPI\.$/);
  assert.match(
    await page.locator('#queue li .made').textContent(),
    /^Made with 8×10 in at 300 DPI · PNG · no metadata\.$/,
  );

  // A custom size: the menu shows its fields, the note its pixels; the choice is remembered.
  await page.selectOption('select[name="paper"]', 'custom');
  assert.ok(await page.isVisible('#print-custom'));
  await page.fill('input[name="printWidth"]', '20');
  await page.fill('input[name="printHeight"]', '25');
  await page.selectOption('select[name="printUnit"]', 'cm');
  await page.fill('input[name="dpi"]', '150');
  await page.selectOption('select[name="printFit"]', 'cover');
  assert.equal(
    await page.textContent('#print-note'),
    '20×25 cm at 150 DPI, filled and cropped is 1181×1476 pixels, turned to match each image; the file says to print it at that size.',
  );
  h.artifact('print-options.png', await page.locator('#options').screenshot());
  await page.reload();
  await page.waitForSelector('#loading[data-state="done"]');
  assert.ok(await page.isChecked('input[name="size"][value="print"]'));
  assert.deepEqual(
    await Promise.all(
      ['paper', 'printWidth', 'printHeight', 'printUnit', 'dpi', 'printFit', 'metadata'].map((name) =>
        page.inputValue(`[name="${name}"]`),
      ),
    ),
    ['custom', '20', '25', 'cm', '150', 'cover', 'none'],
  );
});

test('formats: lossy WebP is offered where the browser encodes WebP, and AVIF is listed as unavailable with the reason', async (t) => {
  const { page } = await app(t);
  const option = (value) => page.locator(`select[name="format"] option[value="${value}"]`);
  assert.equal(await option('webp-lossy').isDisabled(), false);
  assert.ok(await option('avif').isDisabled(), 'AVIF is listed, not offered');
  assert.match(
    await page.textContent('#format-note'),
    /AVIF is written by the upres command line; browsers have no AVIF encoder of their own, and ours would be a multi-megabyte download\./,
  );
  await page.selectOption('select[name="format"]', 'png');
  assert.ok(await page.isDisabled('input[name="quality"]'));
  assert.match(await page.textContent('#quality-note'), /Only JPEG and lossy WebP have a quality/);
  await page.selectOption('select[name="format"]', 'webp-lossy');
  assert.ok(await page.isEnabled('input[name="quality"]'));

  // A browser whose canvas cannot write WebP (it writes PNG instead, as Safari does), where lossy
  // WebP was chosen before.
  const context = await env.browser.newContext({ serviceWorkers: 'block' });
  await context.addInitScript(() => {
    localStorage.setItem('upres.options', JSON.stringify({ format: 'webp-lossy', backend: 'cpu' }));
    const convert = OffscreenCanvas.prototype.convertToBlob;
    OffscreenCanvas.prototype.convertToBlob = function (options) {
      return convert.call(this, options?.type === 'image/webp' ? { type: 'image/png' } : options);
    };
  });
  const other = await app(t, { context });
  assert.ok(await other.page.locator('select[name="format"] option[value="webp-lossy"]').isDisabled());
  assert.match(
    await other.page.textContent('#format-note'),
    /^Lossy WebP: this browser cannot encode WebP images, so WebP is lossless only here\./,
  );
  assert.equal(
    await other.page.inputValue('select[name="format"]'),
    'webp',
    'a remembered lossy WebP falls back to lossless',
  );
});

test('the worker never passes off another format as lossy WebP', async (t) => {
  // The page's canvas writes WebP; the worker's writes PNG, as a browser without an encoder does.
  const context = await env.browser.newContext({ serviceWorkers: 'block' });
  await context.route('**/worker.js', async (route) => {
    const response = await route.fetch();
    const sabotage = `
      const convert = OffscreenCanvas.prototype.convertToBlob;
      OffscreenCanvas.prototype.convertToBlob = function (options) {
        return convert.call(this, options?.type === 'image/webp' ? { type: 'image/png' } : options);
      };\n`;
    await route.fulfill({ response, body: sabotage + (await response.text()) });
  });
  const { page } = await app(t, { context });
  await page.selectOption('select[name="format"]', 'webp-lossy');
  await h.setScale(page, 2);
  await h.addFile(page, 'photo.png', h.encodePng(40, 30, h.testImage(40, 30)));
  await page.click('#start');
  const { status, text } = await h.settled(page, 0);
  assert.equal(status, 'failed');
  assert.match(
    text,
    /Unsupported image: this browser cannot encode lossy WebP \(its encoder wrote image\/png\): choose WebP without a quality \(lossless\), JPEG or PNG/,
  );
});

// ---- The widget and the API ----------------------------------------------------------------

test('the API and the widget: metadata, print and lossy WebP options, capabilities() lists the formats', async (t) => {
  const context = await env.browser.newContext({ serviceWorkers: 'block' });
  t.after(() => context.close());
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error));
  await context.route(`${env.origin}/admin/photos`, (route) =>
    route.fulfill({
      contentType: 'text/html',
      body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><script type="module" src="${h.PREFIX}upres.js"></script></head><body>
      <upres-upscaler id="colour" scale="2" format="jpeg" metadata="color"></upres-upscaler>
      <upres-upscaler id="print" print="A4@300" fit="cover"></upres-upscaler>
      <upres-upscaler id="bad-print" print="B5@300"></upres-upscaler>
      <upres-upscaler id="avif" format="avif"></upres-upscaler>
      <upres-upscaler id="two-sizes" scale="2" print="A4"></upres-upscaler>
    </body></html>`,
    }),
  );
  await page.goto(`${env.origin}/admin/photos`);
  await page.waitForFunction(() => customElements.get('upres-upscaler'));
  const status = (id) => page.locator(`#${id} .status`).textContent();
  assert.equal(
    await status('print'),
    'Images are upscaled for printing A4 at 300 DPI, filled and cropped in this browser: nothing is uploaded.',
  );
  assert.match(
    await status('bad-print'),
    /^Invalid option: print must be WIDTHxHEIGHT with a unit \(in, cm or mm\) or a paper name \(A3, A4, .*\), then @DPI, e\.g\. "8x10in@300" or "A4@300", not "B5@300"$/,
  );
  assert.equal(
    await status('avif'),
    'Invalid option: format "avif" cannot be written in a browser: AVIF is written by the upres command line; ' +
      'browsers have no AVIF encoder of their own, and ours would be a multi-megabyte download. Choose "png", "jpeg" or "webp"',
  );
  assert.equal(
    await status('two-sizes'),
    'Invalid option: <upres-upscaler> takes one of the scale, long-edge and print attributes, not several',
  );
  // Attributes are properties too.
  assert.deepEqual(
    await page.evaluate(() => {
      const widget = document.getElementById('print');
      widget.metadata = 'none';
      return [widget.print, widget.fit, widget.getAttribute('metadata'), widget.longEdge];
    }),
    ['A4@300', 'cover', 'none', null],
  );

  // Little-endian EXIF this time.
  const photo = [...(await cameraJpeg(page, 64, 48, true))];
  const outcome = await page.evaluate(
    async ({ url, photo }) => {
      const upres = await import(url);
      const file = new File([new Uint8Array(photo)], 'shop.jpg', { type: 'image/jpeg' });
      const bytes = async (blob) => [...new Uint8Array(await blob.arrayBuffer())];
      const failure = (promise) =>
        promise.then(
          () => 'resolved',
          (error) => `${error.name} (${error.kind}): ${error.message}`,
        );
      const capabilities = await upres.capabilities();
      const webp = await upres.upscale(file, { scale: 2, format: 'webp', quality: 80 });
      const everything = await upres.upscale(file, { scale: 2, format: 'png', metadata: 'all' });
      const printed = await upres.upscale(new ImageData(40, 30), { target: { print: { paper: 'A6', dpi: 20 } } });

      // The widget, given the photo through its own file picker.
      const widget = document.getElementById('colour');
      const done = new Promise((resolve) => {
        widget.addEventListener(
          'upres-done',
          async ({ detail }) =>
            resolve({
              name: detail.blob.name,
              type: detail.blob.type,
              metadata: detail.metadata,
              bytes: await bytes(detail.blob),
            }),
          { once: true },
        );
        widget.addEventListener('upres-error', ({ detail }) => resolve({ error: detail.message }), { once: true });
      });
      const picker = widget.shadowRoot.querySelector('input[type="file"]');
      const transfer = new DataTransfer();
      transfer.items.add(file);
      picker.files = transfer.files;
      picker.dispatchEvent(new Event('change'));

      return {
        capabilities,
        webp: { name: webp.name, type: webp.type, bytes: await bytes(webp) },
        everything: await bytes(everything),
        printed: { type: printed.type, bytes: await bytes(printed) },
        widget: await done,
        errors: await Promise.all([
          failure(upres.upscale(file, { format: 'avif' })),
          failure(upres.upscale(file, { format: 'png', quality: 80 })),
          failure(upres.upscale(file, { metadata: 'gps' })),
          failure(upres.upscale(file, { target: { print: { width: 8, height: 10 } } })),
          failure(upres.upscale(file, { target: { print: { paper: 'A4', dpi: 0 } } })),
          failure(upres.upscale(file, { target: { print: 'A4', fit: 'cover' } })),
        ]),
      };
    },
    { url: `${h.PREFIX}upres.js`, photo },
  );

  t.diagnostic(JSON.stringify(outcome.capabilities.formats));
  assert.deepEqual(outcome.capabilities.formats, {
    png: { lossless: true, lossy: false },
    jpeg: { lossless: false, lossy: true },
    webp: { lossless: true, lossy: true },
    avif: {
      lossless: false,
      lossy: false,
      reason:
        'AVIF is written by the upres command line; browsers have no AVIF encoder of their own, and ours would be a multi-megabyte download',
    },
  });

  assert.equal(outcome.webp.name, 'shop@2x.webp');
  assert.equal(outcome.webp.type, 'image/webp', 'the lossy WebP blob says it is one');
  const webp = readFile(Buffer.from(outcome.webp.bytes));
  assert.ok(webp.lossy, 'lossy (VP8)');
  assertFaithful(webp, { width: 96, height: 128, littleEndian: true });

  assertFaithful(readFile(Buffer.from(outcome.everything)), {
    width: 96,
    height: 128,
    littleEndian: true,
    location: true,
  });

  // A6 at 20 DPI: 83×117 pixels, turned to the landscape image; contained, 83 high.
  const printed = readFile(Buffer.from(outcome.printed.bytes));
  assert.deepEqual([printed.width, printed.height, printed.density], [111, 83, { x: 787, y: 787, unit: 1 }]);

  assert.equal(outcome.widget.name, 'shop@2x.jpg', outcome.widget.error);
  assert.equal(outcome.widget.metadata, 'colour profile, 300 DPI');
  const jpeg = readFile(Buffer.from(outcome.widget.bytes));
  assert.deepEqual([jpeg.width, jpeg.height], [96, 128]);
  assert.ok(jpeg.icc?.equals(ICC), 'the colour profile');
  assert.deepEqual(
    { exif: jpeg.exif, xmp: jpeg.xmp, density: jpeg.density },
    { exif: null, xmp: null, density: { unit: 1, x: 300, y: 300 } },
  );
  assert.match(await status('colour'), /^Upscaled to 96×128 px \(JPEG quality ≈ 90\b.*\)\.$/);

  const expected = [
    /^RangeError \(parameter\): format "avif" cannot be written in a browser: AVIF is written by the upres command line/,
    /^TypeError \(parameter\): quality applies to JPEG and WebP \(which it makes lossy\) only; png output is lossless$/,
    /^RangeError \(parameter\): metadata must be "no-location", "all", "color" or "none", not "gps"$/,
    /^TypeError \(parameter\): target\.print needs a paper, or width, height and unit/,
    /^RangeError \(parameter\): target\.print\.dpi must be a whole number from 1 to 10000, not 0$/,
    /^TypeError \(parameter\): target takes print alone: its dpi and fit go inside it/,
  ];
  for (const [i, error] of outcome.errors.entries()) assert.match(error, expected[i]);
  assert.deepEqual(errors, []);
});

test('upscale() refuses lossy WebP at once where the browser cannot encode WebP', async (t) => {
  const context = await env.browser.newContext({ serviceWorkers: 'block' });
  t.after(() => context.close());
  await context.addInitScript(() => {
    const convert = OffscreenCanvas.prototype.convertToBlob;
    OffscreenCanvas.prototype.convertToBlob = function (options) {
      return convert.call(this, options?.type === 'image/webp' ? { type: 'image/png' } : options);
    };
  });
  const requests = [];
  context.on('request', (request) => requests.push(new URL(request.url()).pathname));
  const page = await context.newPage();
  await page.goto(`${env.url}embed-demo.html`);
  const outcome = await page.evaluate(async (url) => {
    const upres = await import(url);
    const { formats } = await upres.capabilities();
    const refused = await upres.upscale(new ImageData(8, 8), { format: 'webp', quality: 80 }).then(
      () => 'resolved',
      (error) => `${error.kind}: ${error.message}`,
    );
    return { webp: formats.webp, refused };
  }, `${h.PREFIX}upres.js`);
  assert.deepEqual(outcome.webp, {
    lossless: true,
    lossy: false,
    reason: 'this browser cannot encode WebP images, so WebP is lossless only here',
  });
  assert.equal(
    outcome.refused,
    'unsupported: lossy WebP is not available: this browser cannot encode WebP images, so WebP is lossless only here; leave out quality for lossless WebP',
  );
  assert.deepEqual(
    requests.filter((path) => /\.(wasm|bpk)$/.test(path)),
    [],
    'refused before any download',
  );
});
