import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { parseGoBool, parseGoDuration, parseRequest, type CommandSpec } from '../../../src/ipfs/rpc/params.ts'
import { COMMANDS } from '../../../src/ipfs/rpc/commands.ts'
import { pathSegments, parseChunker } from '../../../src/ipfs/rpc/add.ts'
import { parsePathArg } from '../../../src/ipfs/rpc/paths.ts'
import { kuboStatus } from '../../../src/ipfs/rpc/kubo-error.ts'
import { isStratosError, toStratosError } from '../../../src/errors.ts'

const spec: CommandSpec = {
  args: [{ name: 'ipfs-path', required: true, variadic: true }],
  options: {
    offset: { type: 'int', aliases: ['o'] },
    pin: { type: 'bool', default: true },
    ignore: { type: 'strings' },
  },
}

const q = (s: string): URLSearchParams => new URLSearchParams(s)

/** The HTTP status and Kubo Code an error would be answered with. */
function answer(f: () => unknown): { status: number; code: number } {
  try {
    f()
  } catch (e) {
    return kuboStatus(toStratosError(e))
  }
  throw new Error('did not throw')
}

describe('RPC parameters', () => {
  it('converts values with Go rules, fills defaults, resolves aliases', () => {
    const p = parseRequest(q('arg=a&arg=b&o=12&ignore=x&ignore=y&stream=true'), spec)
    assert.deepEqual(p.args, ['a', 'b'])
    assert.equal(p.options.get('offset'), 12)
    assert.equal(p.options.get('pin'), true)
    assert.deepEqual(p.options.get('ignore'), ['x', 'y'])
    assert.equal(parseRequest(q('arg=a&pin=F'), spec).options.get('pin'), false)
    for (const t of ['1', 't', 'T', 'TRUE', 'true', 'True']) assert.equal(parseGoBool(t), true)
    for (const t of ['yes', '', 'on']) assert.equal(parseGoBool(t), undefined)
  })

  it('unknown options are ignored, as Kubo ignores them (kubo-rpc-client sends some: paths on pin/ls)', () => {
    const p = parseRequest(q('arg=a&cid-verison=1&paths=x&paths=y&stream=true'), spec)
    assert.deepEqual(p.args, ['a'])
    for (const key of ['cid-verison', 'paths', 'stream']) assert.equal(p.options.has(key), false, key)
    assert.equal(p.options.get('pin'), true)
    parseRequest(q('paths=Qm&type=all&stream=true'), COMMANDS['pin/ls'].spec)
  })

  it('bad values, duplicates and missing arguments are client errors (400, Code 1)', () => {
    assert.deepEqual(
      answer(() => parseRequest(q('arg=a&pin=maybe'), spec)),
      { status: 400, code: 1 },
    )
    assert.deepEqual(
      answer(() => parseRequest(q('arg=a&offset=1.5'), spec)),
      { status: 400, code: 1 },
    )
    assert.deepEqual(
      answer(() => parseRequest(q('arg=a&offset=1&o=2'), spec)),
      { status: 400, code: 1 },
    )
    assert.deepEqual(
      answer(() => parseRequest(q('arg=a&offset=1&offset=2'), spec)),
      { status: 400, code: 1 },
    )
    assert.deepEqual(
      answer(() => parseRequest(q(''), spec)),
      { status: 400, code: 1 },
    )
    assert.deepEqual(
      answer(() => parseRequest(q('arg=a&timeout=soon'), spec)),
      { status: 400, code: 1 },
    )
  })

  it('global options: encoding, timeout; unsupported Kubo options only at harmless values', () => {
    assert.equal(parseRequest(q('arg=a&timeout=1m30s'), spec).timeoutMs, 90_000)
    assert.equal(parseGoDuration('500ms'), 500)
    assert.equal(parseGoDuration('1h'), 3_600_000)
    assert.equal(parseGoDuration('5'), undefined)
    parseRequest(q('arg=a&encoding=json&stream-channels=true'), spec)
    assert.deepEqual(
      answer(() => parseRequest(q('arg=a&encoding=xml'), spec)),
      { status: 400, code: 1 },
    )
    const add = COMMANDS.add.spec
    parseRequest(q('trickle=false&nocopy=false&hash=sha2-256&quieter=true&progress=true'), add)
    for (const bad of [
      'trickle=true',
      'nocopy=true',
      'hash=blake3',
      'inline=true',
      'preserve-mode=true',
      'to-files=/x',
      'mtime=5',
    ]) {
      assert.deepEqual(
        answer(() => parseRequest(q(bad), add)),
        { status: 400, code: 1 },
        bad,
      )
    }
    // kubo-rpc-client sends stream=true to pin/add although Kubo has no such option there.
    parseRequest(q('arg=Qm&stream=true&recursive=true'), COMMANDS['pin/add'].spec)
  })

  it('add names: ".." and NUL refused, leading "/" and "." dropped as Kubo cleans them', () => {
    assert.deepEqual(pathSegments('a/b.txt'), ['a', 'b.txt'])
    assert.deepEqual(pathSegments('/glob/root.txt'), ['glob', 'root.txt'])
    assert.deepEqual(pathSegments('./a//b'), ['a', 'b'])
    assert.deepEqual(pathSegments('dir%2Fsp%20ace+plus'), ['dir', 'sp ace plus'])
    assert.deepEqual(pathSegments(''), [])
    for (const bad of ['..', '../x', 'a/../../x', '%2E%2E/x', 'a\0b', 'a%00b', 'a\\b', 'x'.repeat(5000)]) {
      assert.throws(
        () => pathSegments(bad),
        (e: unknown) => isStratosError(e, 'BAD_REQUEST'),
        bad,
      )
    }
  })

  it('chunker: size-N up to 1 MiB; rabin, buzhash and nonsense are command errors', () => {
    assert.equal(parseChunker(undefined), 262144)
    assert.equal(parseChunker('size-262144'), 262144)
    assert.equal(parseChunker('size-1024'), 1024)
    for (const bad of ['size-0', 'size-1048577', 'rabin-1-2-3', 'buzhash', 'nonsense']) {
      assert.deepEqual(
        answer(() => parseChunker(bad)),
        { status: 500, code: 0 },
        bad,
      )
    }
  })

  it('IPFS paths', () => {
    const p = parsePathArg('/ipfs/QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o/a/b')
    assert.equal(p.root.toString(), 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o')
    assert.deepEqual(p.segments, ['a', 'b'])
    for (const bad of [
      '',
      '/ipfs/',
      'not-a-cid',
      '/ipns/example.com',
      '/foo/bar',
      'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o/../x',
    ]) {
      assert.deepEqual(
        answer(() => parsePathArg(bad)),
        { status: 500, code: 0 },
        bad,
      )
    }
  })
})
