import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PinStore, PIN_FILE } from '../../../src/ipfs/rpc/pins.ts'
import { tarHeader, tarStream, type TarEntry } from '../../../src/ipfs/rpc/tar.ts'
import { isStratosError } from '../../../src/errors.ts'

describe('pin store', () => {
  it('keeps pins across restarts, upgrades direct to recursive, writes atomically', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pins-'))
    try {
      const a = PinStore.open(dir)
      a.add(
        [
          { cid: 'QmA', type: 'direct' },
          { cid: 'QmB', type: 'recursive', name: 'b' },
        ],
        1,
      )
      a.add([{ cid: 'QmA', type: 'recursive' }], 2)
      a.add([{ cid: 'QmB', type: 'direct' }], 3) // a recursive pin stays recursive
      assert.deepEqual(
        a.remove(['QmX', 'QmA'], 4).map((p) => p.cid),
        ['QmA'],
      )
      const b = PinStore.open(dir)
      assert.deepEqual(b.list(), [{ cid: 'QmB', type: 'recursive', name: 'b', createdAt: 1 }])
      assert.deepEqual(readdirSync(dir), [PIN_FILE]) // no temp files left behind
      // A version-1 file (pins only) still opens; nothing in it is remembered as stored by the API.
      writeFileSync(join(dir, PIN_FILE), '{"version":1,"pins":[{"cid":"QmC","type":"direct","createdAt":5}]}')
      const v1 = PinStore.open(dir)
      assert.deepEqual(v1.list(), [{ cid: 'QmC', type: 'direct', createdAt: 5 }])
      assert.deepEqual(v1.stored(), [])
      writeFileSync(join(dir, PIN_FILE), '{"version":1,"pins":[{"cid":5}]}')
      assert.throws(
        () => PinStore.open(dir),
        (e: unknown) => isStratosError(e, 'NETWORK_CONFIG'),
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('tar writer', () => {
  const checksumOk = (h: Buffer): boolean => {
    const stored = parseInt(h.subarray(148, 156).toString('ascii'), 8)
    const copy = Buffer.from(h)
    copy.fill(0x20, 148, 156)
    return copy.reduce((a, b) => a + b, 0) === stored
  }

  it('ustar headers with valid checksums; long and non-ASCII names get a PAX header', () => {
    const h = tarHeader('dir/file.txt', { size: 5, directory: false, mtime: 1_700_000_000 })
    assert.equal(h.length, 512)
    assert.ok(checksumOk(h))
    assert.equal(h.subarray(0, 12).toString(), 'dir/file.txt')
    assert.equal(parseInt(h.subarray(124, 136).toString(), 8), 5)
    const d = tarHeader('dir', { size: 0, directory: true, mtime: 0 })
    assert.equal(d[156], 0x35) // '5'
    assert.equal(d.subarray(0, 4).toString(), 'dir/')
    const long = tarHeader(`${'d'.repeat(150)}/${'f'.repeat(60)}`, { size: 1, directory: false, mtime: 0 })
    assert.equal(long.length, 512) // fits with the ustar prefix field
    const pax = tarHeader(`été/${'x'.repeat(300)}`, { size: 1, directory: false, mtime: 0 })
    assert.equal(pax[156], 0x78) // 'x': PAX extended header first
    assert.ok(pax.toString('utf8').includes(`path=été/${'x'.repeat(300)}\n`))
    assert.equal(pax.length % 512, 0)
  })

  it('streams entries padded to 512-byte blocks and ends with two zero blocks; a short file is an error', async () => {
    async function* entries(list: TarEntry[]): AsyncIterable<TarEntry> {
      yield* list
    }
    const content = (s: string) =>
      async function* () {
        yield Buffer.from(s)
      }
    const parts: Uint8Array[] = []
    for await (const p of tarStream(
      entries([
        { name: 'd', directory: true, size: 0 },
        { name: 'd/a', directory: false, size: 3, content: content('abc') },
      ]),
      0,
    ))
      parts.push(p)
    const tar = Buffer.concat(parts)
    assert.equal(tar.length, 512 + 512 + 512 + 1024)
    assert.equal(tar.subarray(1024, 1027).toString(), 'abc')
    await assert.rejects(async () => {
      for await (const _ of tarStream(
        entries([{ name: 'a', directory: false, size: 4, content: content('abc') }]),
        0,
      )) {
        /* drain */
      }
    })
  })
})
