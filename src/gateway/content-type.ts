/**
 * Content-Type of served files: from the name's extension when it has a known one (as Kubo does), otherwise sniffed
 * from the first bytes (a subset of the WHATWG MIME sniffing rules Go's http.DetectContentType implements, plus SVG).
 */

export const SNIFF_BYTES = 512

const BY_EXTENSION: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  htm: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  json: 'application/json',
  txt: 'text/plain; charset=utf-8',
  md: 'text/markdown; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  xml: 'application/xml',
  svg: 'image/svg+xml',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  ico: 'image/x-icon',
  bmp: 'image/bmp',
  mp4: 'video/mp4',
  m4v: 'video/mp4',
  webm: 'video/webm',
  mov: 'video/quicktime',
  mkv: 'video/x-matroska',
  ogv: 'video/ogg',
  m3u8: 'application/vnd.apple.mpegurl',
  ts: 'video/mp2t',
  mp3: 'audio/mpeg',
  m4a: 'audio/mp4',
  ogg: 'audio/ogg',
  oga: 'audio/ogg',
  wav: 'audio/wav',
  flac: 'audio/flac',
  opus: 'audio/ogg',
  pdf: 'application/pdf',
  zip: 'application/zip',
  gz: 'application/gzip',
  tar: 'application/x-tar',
  wasm: 'application/wasm',
  woff: 'font/woff',
  woff2: 'font/woff2',
  ttf: 'font/ttf',
  otf: 'font/otf',
  car: 'application/vnd.ipld.car',
  bin: 'application/octet-stream',
}

/** The type for a file name's extension, or undefined when the name says nothing. */
export function typeFromName(name: string | undefined): string | undefined {
  if (!name) return undefined
  const dot = name.lastIndexOf('.')
  if (dot <= 0 || dot === name.length - 1) return undefined
  return BY_EXTENSION[name.slice(dot + 1).toLowerCase()]
}

function startsWith(b: Uint8Array, sig: number[], at = 0): boolean {
  if (b.length < at + sig.length) return false
  for (let i = 0; i < sig.length; i++) if (b[at + i] !== sig[i]) return false
  return true
}

function ascii(b: Uint8Array, at: number, s: string): boolean {
  return startsWith(
    b,
    [...s].map((c) => c.charCodeAt(0)),
    at,
  )
}

/** Sniffs the first (up to SNIFF_BYTES) bytes of a file. */
export function sniffType(head: Uint8Array): string {
  const b = head.subarray(0, SNIFF_BYTES)
  if (ascii(b, 0, '%PDF-')) return 'application/pdf'
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png'
  if (startsWith(b, [0xff, 0xd8, 0xff])) return 'image/jpeg'
  if (ascii(b, 0, 'GIF87a') || ascii(b, 0, 'GIF89a')) return 'image/gif'
  if (ascii(b, 0, 'RIFF') && ascii(b, 8, 'WEBP')) return 'image/webp'
  if (ascii(b, 0, 'RIFF') && ascii(b, 8, 'WAVE')) return 'audio/wave'
  if (ascii(b, 4, 'ftyp')) {
    if (ascii(b, 8, 'avif')) return 'image/avif'
    return 'video/mp4'
  }
  if (startsWith(b, [0x1a, 0x45, 0xdf, 0xa3])) return 'video/webm'
  if (ascii(b, 0, 'OggS')) return 'application/ogg'
  if (ascii(b, 0, 'ID3')) return 'audio/mpeg'
  if (ascii(b, 0, 'fLaC')) return 'audio/flac'
  if (startsWith(b, [0x1f, 0x8b, 0x08])) return 'application/x-gzip'
  if (startsWith(b, [0x50, 0x4b, 0x03, 0x04])) return 'application/zip'
  if (startsWith(b, [0x00, 0x61, 0x73, 0x6d])) return 'application/wasm'
  if (startsWith(b, [0x00, 0x00, 0x01, 0x00])) return 'image/x-icon'
  // Text: skip leading whitespace, look for markup.
  let i = 0
  if (startsWith(b, [0xef, 0xbb, 0xbf])) i = 3
  while (i < b.length && (b[i] === 0x20 || b[i] === 0x09 || b[i] === 0x0a || b[i] === 0x0d || b[i] === 0x0c)) i++
  const rest = Buffer.from(b.subarray(i, i + 64))
    .toString('latin1')
    .toLowerCase()
  for (const tag of [
    '<!doctype html',
    '<html',
    '<head',
    '<script',
    '<iframe',
    '<h1',
    '<div',
    '<font',
    '<table',
    '<a',
    '<style',
    '<title',
    '<b',
    '<body',
    '<br',
    '<p',
    '<!--',
  ]) {
    if (rest.startsWith(tag)) {
      const after = rest.charCodeAt(tag.length)
      if (tag === '<!--' || after === 0x20 || after === 0x3e) return 'text/html; charset=utf-8'
    }
  }
  if (rest.startsWith('<svg') || (rest.startsWith('<?xml') && Buffer.from(b).toString('latin1').includes('<svg')))
    return 'image/svg+xml'
  if (rest.startsWith('<?xml')) return 'text/xml; charset=utf-8'
  for (const byte of b) {
    if (byte <= 0x08 || byte === 0x0b || (byte >= 0x0e && byte <= 0x1a) || (byte >= 0x1c && byte <= 0x1f))
      return 'application/octet-stream'
  }
  return 'text/plain; charset=utf-8'
}
