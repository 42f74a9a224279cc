/**
 * S3 XML: responses are built from plain trees (`XmlNode`), escaped here once; request bodies
 * (DeleteObjects, CompleteMultipartUpload, CreateBucketConfiguration) are parsed with fast-xml-parser,
 * bounded by S3_MAX_XML_BODY_BYTES before parsing, with entities and DOCTYPEs refused.
 */
import { XMLParser } from 'fast-xml-parser'
import { S3Error } from './errors.ts'

export const S3_XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/'

/** An element's children: text, a nested tree, or a list of repeated elements of the same name. */
export type XmlValue = string | number | boolean | XmlNode | XmlValue[] | undefined
export type XmlNode = { [name: string]: XmlValue }

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&apos;',
  )
}

function element(name: string, v: XmlValue, out: string[]): void {
  if (v === undefined) return
  if (Array.isArray(v)) {
    for (const item of v) element(name, item, out)
    return
  }
  if (typeof v === 'object') {
    out.push(`<${name}>`)
    for (const [k, c] of Object.entries(v)) element(k, c, out)
    out.push(`</${name}>`)
    return
  }
  out.push(`<${name}>${escapeXml(String(v))}</${name}>`)
}

/** `<?xml…?><root xmlns="…">…</root>`. */
export function xmlDocument(root: string, body: XmlNode, xmlns = true): string {
  const out: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>\n',
    xmlns ? `<${root} xmlns="${S3_XMLNS}">` : `<${root}>`,
  ]
  for (const [k, v] of Object.entries(body)) element(k, v, out)
  out.push(`</${root}>`)
  return out.join('')
}

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  htmlEntities: false,
  removeNSPrefix: true,
  isArray: (name) => name === 'Object' || name === 'Part',
})

/** Parses a request body; MalformedXML when it is not XML, has a DOCTYPE, or lacks `root`. */
export function parseXmlBody(text: string, root: string): Record<string, unknown> {
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) throw new S3Error('MalformedXML', 'DOCTYPE and entities are not accepted')
  let doc: Record<string, unknown>
  try {
    doc = parser.parse(text, true) as Record<string, unknown>
  } catch {
    throw new S3Error('MalformedXML', 'the XML you provided was not well-formed')
  }
  const r = doc[root]
  if (r === undefined || r === null) throw new S3Error('MalformedXML', `expected a <${root}> document`)
  return typeof r === 'object' ? (r as Record<string, unknown>) : {}
}
