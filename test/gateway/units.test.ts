/** Pure parts of the gateway: Range parsing, content types, format negotiation, CAR scope, dispositions (path splitting: test/ipfs/path.test.ts). */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseRange } from '../../src/gateway/range.ts'
import { sniffType, typeFromName } from '../../src/gateway/content-type.ts'
import { contentDisposition, negotiateFormat, parseCarScope } from '../../src/gateway/path-gateway.ts'
import { isStratosError } from '../../src/errors.ts'

function throwsCode(f: () => unknown, code: string): void {
  assert.throws(f, (e: unknown) => isStratosError(e) && e.code === code)
}

test('parseRange: single ranges, suffixes, unsatisfiable and ignored headers', () => {
  assert.deepEqual(parseRange(undefined, 10), { kind: 'full' })
  assert.deepEqual(parseRange('bytes=2-5', 10), { kind: 'partial', start: 2, end: 5 })
  assert.deepEqual(parseRange('bytes=2-', 10), { kind: 'partial', start: 2, end: 9 })
  assert.deepEqual(parseRange('bytes=2-100', 10), { kind: 'partial', start: 2, end: 9 })
  assert.deepEqual(parseRange('bytes=-3', 10), { kind: 'partial', start: 7, end: 9 })
  assert.deepEqual(parseRange('bytes=-30', 10), { kind: 'partial', start: 0, end: 9 })
  assert.deepEqual(parseRange('bytes=10-', 10), { kind: 'unsatisfiable' })
  assert.deepEqual(parseRange('bytes=5-2', 10), { kind: 'unsatisfiable' })
  assert.deepEqual(parseRange('bytes=-0', 10), { kind: 'unsatisfiable' })
  assert.deepEqual(parseRange('bytes=0-', 0), { kind: 'unsatisfiable' })
  for (const ignored of ['bytes=0-1,3-4', 'items=0-1', 'bytes=a-b', 'bytes=-', 'bytes=99999999999999999999-']) {
    assert.deepEqual(parseRange(ignored, 10), { kind: 'full' }, ignored)
  }
})

test('content types: by extension, else sniffed', () => {
  assert.equal(typeFromName('a.MP4'), 'video/mp4')
  assert.equal(typeFromName('index.html'), 'text/html; charset=utf-8')
  assert.equal(typeFromName('noext'), undefined)
  assert.equal(typeFromName('.hidden'), undefined)
  assert.equal(typeFromName('x.unknownext'), undefined)
  const mp4 = Buffer.concat([Buffer.from([0, 0, 0, 0x20]), Buffer.from('ftypisom')])
  assert.equal(sniffType(mp4), 'video/mp4')
  assert.equal(sniffType(Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 1])), 'video/webm')
  assert.equal(sniffType(Buffer.from('%PDF-1.7')), 'application/pdf')
  assert.equal(sniffType(Buffer.from('  <!DOCTYPE html><p>')), 'text/html; charset=utf-8')
  assert.equal(sniffType(Buffer.from('<?xml version="1.0"?><svg xmlns="x"/>')), 'image/svg+xml')
  assert.equal(sniffType(Buffer.from('hello world\n')), 'text/plain; charset=utf-8')
  assert.equal(sniffType(Buffer.from([0, 1, 2, 3, 0xff])), 'application/octet-stream')
  assert.equal(sniffType(new Uint8Array(0)), 'text/plain; charset=utf-8')
})

test('format negotiation: ?format wins over Accept; q=0 is refused; bad values are 400', () => {
  const q = (s: string) => new URLSearchParams(s)
  assert.deepEqual(negotiateFormat(q(''), undefined), { kind: 'unixfs' })
  assert.deepEqual(negotiateFormat(q('format=raw'), 'application/vnd.ipld.car'), { kind: 'raw' })
  assert.deepEqual(negotiateFormat(q(''), 'text/html, application/vnd.ipld.car;version=1;order=dfs;dups=y'), {
    kind: 'car',
  })
  assert.deepEqual(negotiateFormat(q(''), 'application/vnd.ipld.raw;q=0, */*'), { kind: 'unixfs' })
  assert.deepEqual(negotiateFormat(q(''), 'Application/Vnd.Ipld.Raw'), { kind: 'raw' })
  throwsCode(() => negotiateFormat(q('format=dag-json'), undefined), 'BAD_REQUEST')
  throwsCode(() => negotiateFormat(q('format=car&car-order=xyz'), undefined), 'BAD_REQUEST')
  throwsCode(() => negotiateFormat(q(''), 'application/vnd.ipld.car; version=2'), 'BAD_REQUEST')
})

test('CAR scope: dag-scope and entity-bytes', () => {
  const q = (s: string) => new URLSearchParams(s)
  assert.deepEqual(parseCarScope(q('')), { scope: 'all' })
  assert.deepEqual(parseCarScope(q('dag-scope=block')), { scope: 'block' })
  assert.deepEqual(parseCarScope(q('entity-bytes=0:*')), { scope: 'entity', entityBytes: { from: 0, to: '*' } })
  assert.deepEqual(parseCarScope(q('entity-bytes=-1024:-1')), { scope: 'entity', entityBytes: { from: -1024, to: -1 } })
  for (const bad of ['dag-scope=x', 'entity-bytes=1', 'entity-bytes=5:2', 'entity-bytes=a:b', 'entity-bytes=1:2:3'])
    throwsCode(() => parseCarScope(q(bad)), 'BAD_REQUEST')
})

test('Content-Disposition: ASCII fallback plus RFC 8187 name; quotes and newlines cannot break out', () => {
  assert.equal(contentDisposition('inline', 'a.txt'), 'inline; filename="a.txt"')
  assert.equal(contentDisposition('attachment', 'ü.txt'), `attachment; filename="_.txt"; filename*=UTF-8''%C3%BC.txt`)
  const evil = contentDisposition('inline', 'a"\r\nx-evil: 1')
  assert.ok(!/[\r\n]/.test(evil))
  assert.ok(evil.startsWith('inline; filename="a___x-evil: 1"'))
})
