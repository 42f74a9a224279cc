/**
 * The S3 gateway with the tools people use, against a real devnet, every transfer checked byte-exact:
 * Debian's awscli (`aws s3 cp|sync|ls|rm`, `aws s3api` list/head/copy/multipart), rclone (`copy`, `check`, `lsf`) and
 * s3cmd; kill -9 of the S3 process in the middle of a multipart upload (the client resumes the missing parts and
 * completes); an abandoned multipart upload expires and its staged parts are freed. A tool that is missing skips its
 * test with one line — except under CI=true, where .ci/run installs them and a missing one fails.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListPartsCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3'
import { TestDevnet, isAlive } from './harness.ts'

const MiB = 1024 * 1024
const CI = process.env.CI === 'true'
/** Debian's awscli (not a pyenv or pip one earlier on PATH). */
const AWS = '/usr/bin/aws'

let net: TestDevnet
let work: string

function which(tool: string): string | undefined {
  if (tool.startsWith('/')) return existsSync(tool) ? tool : undefined
  for (const dir of (process.env.PATH ?? '').split(':')) if (existsSync(join(dir, tool))) return join(dir, tool)
  return undefined
}

/** Skip reason when `tool` is missing (never under CI). */
function missing(tool: string): string | false {
  if (which(tool)) return false
  if (CI) throw new Error(`${tool} is missing under CI=true: .ci/run must install it`)
  return `${tool} is not installed (apt-get install awscli rclone s3cmd)`
}

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

function run(cmd: string, args: string[], env: Record<string, string> = {}, timeoutMs = 300_000): Promise<Run> {
  const base = { ...process.env }
  // A CA bundle meant for HTTPS breaks rclone's plain-HTTP client; the tools' own config files must not interfere.
  for (const k of ['AWS_CA_BUNDLE', 'AWS_PROFILE', 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE']) delete base[k]
  const child = spawn(cmd, args, {
    env: { ...base, HOME: work, AWS_EC2_METADATA_DISABLED: 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${cmd} ${args.join(' ')} timed out: ${stderr}`))
    }, timeoutMs)
    child.once('close', (code) => {
      clearTimeout(t)
      resolve({ code, stdout, stderr })
    })
  })
}

function walletEnv(i = 0): Record<string, string> {
  const w = net.network.wallets[i]
  return {
    AWS_ACCESS_KEY_ID: w.s3AccessKeyId ?? '',
    AWS_SECRET_ACCESS_KEY: w.s3SecretAccessKey ?? '',
    AWS_DEFAULT_REGION: 'us-east-1',
  }
}

async function aws(args: string[], env: Record<string, string> = walletEnv()): Promise<Run> {
  return run(AWS, ['--endpoint-url', net.network.s3 ?? '', ...args], env)
}

async function ok(p: Promise<Run>): Promise<string> {
  const r = await p
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`)
  return r.stdout
}

function sha(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'stratos-s3-tools-'))
  net = await TestDevnet.start({
    segmentSize: 4 * MiB,
    restart: true,
    // 30 s: long enough that the awscli test's step-by-step multipart upload (several aws processes, 5–8 s each at
    // load 20) does not expire mid-test, short enough for the expiry test to wait it out.
    extra: ['--s3-multipart-ttl-ms', '30000', '--s3-sweep-interval-ms', '500'],
  })
})

after(async () => {
  await net?.stop()
  rmSync(work, { recursive: true, force: true })
})

test('awscli: s3 cp (multipart) up and down, sync, ls, rm; s3api list, head, copy and multipart', {
  skip: missing(AWS),
}, async () => {
  const src = join(work, 'aws-src')
  mkdirSync(join(src, 'sub'), { recursive: true })
  writeFileSync(join(src, 'big.bin'), randomBytes(20 * MiB + 5)) // above aws's 8 MiB threshold: a multipart upload
  writeFileSync(join(src, 'small.txt'), 'hello s3\n')
  writeFileSync(join(src, 'sub', 'mid.bin'), randomBytes(300_000))
  await ok(aws(['s3', 'mb', 's3://aws-bucket']))
  await ok(aws(['s3', 'cp', join(src, 'big.bin'), 's3://aws-bucket/big.bin', '--only-show-errors']))
  await ok(aws(['s3', 'cp', 's3://aws-bucket/big.bin', join(work, 'big.back'), '--only-show-errors']))
  assert.equal(sha(join(work, 'big.back')), sha(join(src, 'big.bin')))

  await ok(aws(['s3', 'sync', src, 's3://aws-bucket/tree', '--only-show-errors']))
  const ls = await ok(aws(['s3', 'ls', '--recursive', 's3://aws-bucket/tree/']))
  for (const k of ['tree/big.bin', 'tree/small.txt', 'tree/sub/mid.bin'])
    assert.match(ls, new RegExp(k.replace('.', '\\.')))
  const again = await ok(aws(['s3', 'sync', src, 's3://aws-bucket/tree']))
  assert.equal(again.trim(), '', 'a second sync finds nothing to copy')
  const down = join(work, 'aws-down')
  await ok(aws(['s3', 'sync', 's3://aws-bucket/tree', down, '--only-show-errors']))
  for (const f of ['big.bin', 'small.txt', join('sub', 'mid.bin')]) assert.equal(sha(join(down, f)), sha(join(src, f)))

  const listed = JSON.parse(
    await ok(aws(['s3api', 'list-objects-v2', '--bucket', 'aws-bucket', '--prefix', 'tree/', '--delimiter', '/'])),
  ) as {
    Contents: { Key: string }[]
    CommonPrefixes: { Prefix: string }[]
  }
  assert.deepEqual(
    listed.Contents.map((c) => c.Key),
    ['tree/big.bin', 'tree/small.txt'],
  )
  assert.deepEqual(
    listed.CommonPrefixes.map((p) => p.Prefix),
    ['tree/sub/'],
  )
  const head = JSON.parse(
    await ok(aws(['s3api', 'head-object', '--bucket', 'aws-bucket', '--key', 'tree/small.txt'])),
  ) as {
    ContentLength: number
    ETag: string
  }
  assert.equal(head.ContentLength, 9)
  assert.equal(head.ETag, `"${createHash('md5').update('hello s3\n').digest('hex')}"`)
  await ok(
    aws([
      's3api',
      'copy-object',
      '--bucket',
      'aws-bucket',
      '--key',
      'copied.txt',
      '--copy-source',
      'aws-bucket/tree/small.txt',
    ]),
  )
  await ok(aws(['s3', 'cp', 's3://aws-bucket/copied.txt', join(work, 'copied.txt'), '--only-show-errors']))
  assert.equal(readFileSync(join(work, 'copied.txt'), 'utf8'), 'hello s3\n')

  // The multipart calls one by one.
  const part1 = join(work, 'p1')
  const part2 = join(work, 'p2')
  writeFileSync(part1, randomBytes(5 * MiB))
  writeFileSync(part2, randomBytes(1000))
  const created = JSON.parse(
    await ok(aws(['s3api', 'create-multipart-upload', '--bucket', 'aws-bucket', '--key', 'mp.bin'])),
  ) as {
    UploadId: string
  }
  const etags: string[] = []
  for (const [i, f] of [part1, part2].entries()) {
    const r = JSON.parse(
      await ok(
        aws([
          's3api',
          'upload-part',
          '--bucket',
          'aws-bucket',
          '--key',
          'mp.bin',
          '--upload-id',
          created.UploadId,
          '--part-number',
          String(i + 1),
          '--body',
          f,
        ]),
      ),
    ) as { ETag: string }
    etags.push(r.ETag)
  }
  const parts = JSON.parse(
    await ok(
      aws(['s3api', 'list-parts', '--bucket', 'aws-bucket', '--key', 'mp.bin', '--upload-id', created.UploadId]),
    ),
  ) as { Parts: { PartNumber: number; ETag: string }[] }
  assert.deepEqual(
    parts.Parts.map((p) => p.ETag),
    etags,
  )
  const uploads = JSON.parse(await ok(aws(['s3api', 'list-multipart-uploads', '--bucket', 'aws-bucket']))) as {
    Uploads: { UploadId: string }[]
  }
  assert.ok(uploads.Uploads.some((u) => u.UploadId === created.UploadId))
  const mpu = JSON.stringify({ Parts: etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })) })
  await ok(
    aws([
      's3api',
      'complete-multipart-upload',
      '--bucket',
      'aws-bucket',
      '--key',
      'mp.bin',
      '--upload-id',
      created.UploadId,
      '--multipart-upload',
      mpu,
    ]),
  )
  await ok(aws(['s3', 'cp', 's3://aws-bucket/mp.bin', join(work, 'mp.back'), '--only-show-errors']))
  assert.deepEqual(readFileSync(join(work, 'mp.back')), Buffer.concat([readFileSync(part1), readFileSync(part2)]))

  await ok(aws(['s3', 'rm', '--recursive', 's3://aws-bucket/tree']))
  const empty = await aws(['s3', 'ls', 's3://aws-bucket/tree/'])
  assert.equal(empty.stdout.trim(), '') // (aws exits 1 when a listing finds nothing)
  // A wrong secret is SignatureDoesNotMatch; another wallet's credential is AccessDenied on this bucket.
  const wrong = await aws(['s3', 'ls', 's3://aws-bucket'], { ...walletEnv(), AWS_SECRET_ACCESS_KEY: 'x'.repeat(40) })
  assert.notEqual(wrong.code, 0)
  assert.match(wrong.stderr, /SignatureDoesNotMatch/)
  const other = await aws(['s3', 'ls', 's3://aws-bucket'], walletEnv(1))
  assert.notEqual(other.code, 0)
  assert.match(other.stderr, /AccessDenied/)
})

test('rclone: copy, check, lsf', { skip: missing('rclone') }, async () => {
  const w = net.network.wallets[0]
  const env = {
    RCLONE_CONFIG_ST_TYPE: 's3',
    RCLONE_CONFIG_ST_PROVIDER: 'Other',
    RCLONE_CONFIG_ST_ACCESS_KEY_ID: w.s3AccessKeyId ?? '',
    RCLONE_CONFIG_ST_SECRET_ACCESS_KEY: w.s3SecretAccessKey ?? '',
    RCLONE_CONFIG_ST_ENDPOINT: net.network.s3 ?? '',
    RCLONE_CONFIG: join(work, 'rclone.conf'),
  }
  const src = join(work, 'rc-src')
  mkdirSync(join(src, 'd'), { recursive: true })
  writeFileSync(join(src, 'a.bin'), randomBytes(7 * MiB + 3))
  writeFileSync(join(src, 'd', 'b.txt'), 'rclone\n')
  writeFileSync(join(src, 'e.bin'), randomBytes(12345))
  await ok(run('rclone', ['copy', src, 'st:rc-bucket/x'], env))
  const check = await run('rclone', ['check', src, 'st:rc-bucket/x'], env)
  assert.equal(check.code, 0, check.stderr)
  assert.match(check.stderr, /0 differences found/)
  const lsf = await ok(run('rclone', ['lsf', '-R', '--files-only', 'st:rc-bucket/x'], env))
  assert.deepEqual(lsf.trim().split('\n').sort(), ['a.bin', 'd/b.txt', 'e.bin'])
  const back = join(work, 'rc-back')
  await ok(run('rclone', ['copy', 'st:rc-bucket/x', back], env))
  for (const f of ['a.bin', join('d', 'b.txt'), 'e.bin']) assert.equal(sha(join(back, f)), sha(join(src, f)))
})

test('s3cmd: mb, put (multipart), ls, get, del, rb', { skip: missing('s3cmd') }, async () => {
  const w = net.network.wallets[0]
  const hostPort = (net.network.s3 ?? '').replace(/^http:\/\//, '')
  const cfg = join(work, 's3cfg')
  writeFileSync(
    cfg,
    [
      '[default]',
      `access_key = ${w.s3AccessKeyId}`,
      `secret_key = ${w.s3SecretAccessKey}`,
      `host_base = ${hostPort}`,
      `host_bucket = ${hostPort}`,
      'use_https = False',
      'signature_v2 = False',
      'bucket_location = us-east-1',
      'multipart_chunk_size_mb = 5',
      '',
    ].join('\n'),
  )
  const s3cmd = (args: string[]) => ok(run('s3cmd', ['-c', cfg, ...args]))
  const file = join(work, 's3cmd.bin')
  writeFileSync(file, randomBytes(11 * MiB + 77)) // 3 parts of 5 MiB
  await s3cmd(['mb', 's3://s3cmd-bucket'])
  await s3cmd(['put', file, 's3://s3cmd-bucket/dir/file.bin'])
  assert.match(await s3cmd(['ls', 's3://s3cmd-bucket/dir/']), /s3:\/\/s3cmd-bucket\/dir\/file\.bin/)
  await s3cmd(['get', '--force', 's3://s3cmd-bucket/dir/file.bin', join(work, 's3cmd.back')])
  assert.equal(sha(join(work, 's3cmd.back')), sha(file))
  await s3cmd(['del', 's3://s3cmd-bucket/dir/file.bin'])
  await s3cmd(['rb', 's3://s3cmd-bucket'])
})

function sdk(): S3Client {
  const w = net.network.wallets[0]
  return new S3Client({
    endpoint: net.network.s3,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: w.s3AccessKeyId ?? '', secretAccessKey: w.s3SecretAccessKey ?? '' },
    maxAttempts: 1,
  })
}

async function waitS3Up(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${net.network.s3}/_stratos/info`)).ok) return
    } catch {}
    await sleep(100)
  }
  throw new Error('the S3 gateway did not come back')
}

test('kill -9 of the S3 process mid-multipart: acknowledged parts survive, the client resumes the missing ones, byte-exact', async () => {
  const s3 = sdk()
  await s3.send(new CreateBucketCommand({ Bucket: 'kill-bucket' }))
  const parts = Array.from({ length: 6 }, () => randomBytes(5 * MiB))
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'kill-bucket', Key: 'k.bin' }))
  const etags = new Map<number, string>()
  const send = async (n: number): Promise<void> => {
    const r = await s3.send(
      new UploadPartCommand({ Bucket: 'kill-bucket', Key: 'k.bin', UploadId, PartNumber: n, Body: parts[n - 1] }),
    )
    etags.set(n, r.ETag ?? '')
  }
  await send(1)
  await send(2)
  // Parts 3–6 in flight while the gateway dies.
  const inFlight = [3, 4, 5, 6].map((n) =>
    send(n).then(
      () => true,
      () => false,
    ),
  )
  await sleep(50)
  const pid = net.process('s3').pid
  process.kill(pid, 'SIGKILL')
  await Promise.all(inFlight)
  // The devnet's supervisor starts it again (a new pid); the client resumes.
  for (let i = 0; i < 100 && net.reload().processes.find((p) => p.name === 's3')?.pid === pid; i++) await sleep(100)
  assert.ok(!isAlive(pid))
  await waitS3Up()
  const listed = await s3.send(new ListPartsCommand({ Bucket: 'kill-bucket', Key: 'k.bin', UploadId }))
  const have = new Map((listed.Parts ?? []).map((p) => [p.PartNumber ?? 0, p.ETag ?? '']))
  assert.equal(have.get(1), etags.get(1))
  assert.equal(have.get(2), etags.get(2))
  for (const n of [1, 2, 3, 4, 5, 6]) if (!have.has(n)) await send(n)
  const done = await s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: 'kill-bucket',
      Key: 'k.bin',
      UploadId,
      MultipartUpload: { Parts: [1, 2, 3, 4, 5, 6].map((n) => ({ PartNumber: n, ETag: etags.get(n) ?? have.get(n) })) },
    }),
  )
  assert.match(done.ETag ?? '', /-6"$/)
  const got = await s3.send(new GetObjectCommand({ Bucket: 'kill-bucket', Key: 'k.bin' }))
  const h = createHash('sha256')
  for await (const c of got.Body as AsyncIterable<Uint8Array>) h.update(c)
  assert.equal(h.digest('hex'), createHash('sha256').update(Buffer.concat(parts)).digest('hex'))
})

test('an abandoned multipart upload expires and its staged parts are freed', async () => {
  const s3 = sdk()
  await s3.send(new CreateBucketCommand({ Bucket: 'expire-bucket' }))
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'expire-bucket', Key: 'x' }))
  await s3.send(
    new UploadPartCommand({ Bucket: 'expire-bucket', Key: 'x', UploadId, PartNumber: 1, Body: randomBytes(MiB) }),
  )
  const partsDir = join(net.process('s3').dataDir, 'parts', UploadId ?? '')
  assert.equal(readdirSync(partsDir).length, 1)
  let gone = false
  for (let i = 0; i < 600 && !gone; i++) {
    await sleep(100)
    gone = !existsSync(partsDir)
  }
  assert.ok(gone, 'the staged parts are deleted')
  await assert.rejects(
    s3.send(new ListPartsCommand({ Bucket: 'expire-bucket', Key: 'x', UploadId })),
    (e: { name?: string }) => e.name === 'NoSuchUpload',
  )
})
