/**
 * Must hold (issue 18): a scripted person uses the wallet portal in Debian's Chromium (playwright-core) on a real
 * devnet (`stratos devnet`, every role its own process, the built dist/ and dist/wallet bundle):
 *
 *   creates a wallet (phrase shown, three words confirmed, password) · receives STOS from a dev wallet (the CLI's
 *   `send`) · prepays ozone (preview, confirm, hash + height) · drops a 20 MB ffmpeg MP4 on the upload area (a real
 *   drop event) and sees it listed with the CID Kubo's defaults give · plays it and seeks to the middle (time
 *   advances from there) · creates a password share link and opens it in a second browser context (a wrong password
 *   is refused, the right one plays) · delegates to the validator · undelegates part (the delegation drops, an
 *   unbonding entry appears, then is paid back) · withdraws matured rewards (the balance grows by at least them) ·
 *   sends 12.5 STOS with the Send form (fee shown, hash + height; the recipient's balance is exactly 12.5 STOS, the
 *   sender's drops by amount + fee) · finds that tx and the earlier ones in the history · revokes the share link
 *   (410 SHARE_REVOKED, the share page says so) · uploads a folder with the folder picker (listed as a directory;
 *   its files, a nested one included, read back byte-exact through the gateway by path) · deletes the file
 *   (confirmed) · imports a second account (the recipient's key), sees its balance and own history, switches back ·
 *   reloads: the wallet is there, locked; a wrong password is refused, the right one unlocks.
 *
 * Throughout, Chromium talks to the gateway through a recording HTTP proxy in this test (--proxy-server, loopback
 * not bypassed), so every byte on the wire both ways is captured, upload bodies included: none holds the recovery
 * phrase or the private key (text, hex, base64, raw). localStorage holds neither in clear. Screenshots of each
 * step (and of the files page at 360 px) go to test/e2e/artifacts/ (git-ignored). The upload speed from the browser
 * is printed.
 *
 * Skipped (one line) only when chromium or ffmpeg is missing and CI is not set; .ci/run installs both.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { chromium, type Browser, type Page } from 'playwright-core'
import { WalletKey } from '../../src/crypto/wallet-key.ts'
import { fileCid } from '../../src/sds/client/unixfs.ts'
import { runCli, TestDevnet } from './harness.ts'
import { seekToMiddle, type SeekResult } from '../support/media.ts'

const CHROMIUM = process.env.STRATOS_CHROMIUM ?? '/usr/bin/chromium'
const FFMPEG = process.env.STRATOS_FFMPEG ?? '/usr/bin/ffmpeg'
const BUNDLE = new URL('../../dist/wallet/index.html', import.meta.url)
const ARTIFACTS = new URL('./artifacts/', import.meta.url)
const PASSWORD = 'correct horse battery'
const SHARE_PASSWORD = 'open sesame'
/** ~20 MB: 80 s of 320x240 noise at 2 Mbit/s with a 440 Hz tone, moov first. */
const CLIP_SECONDS = 80
const run = promisify(execFile)
const STOS = 10n ** 18n

async function cliJson<T>(args: string[], network: string): Promise<T> {
  const r = await runCli([...args, '--json', '--network', network])
  assert.equal(r.code, 0, r.stderr.toString())
  return JSON.parse(r.stdout.toString()) as T
}

const cliBalance = async (address: string, network: string) =>
  BigInt((await cliJson<{ balance: string }>(['balance', address], network)).balance)

const missing = [CHROMIUM, FFMPEG].filter((p) => !existsSync(p))
const skip =
  missing.length > 0 && !process.env.CI
    ? `needs ${missing.join(' and ')} (Debian packages chromium and ffmpeg; .ci/run installs them)`
    : false

async function makeClip(path: string): Promise<void> {
  await run(
    FFMPEG,
    [
      ...['-hide_banner', '-loglevel', 'error', '-y'],
      ...['-f', 'lavfi', '-i', `testsrc=size=320x240:rate=4:duration=${CLIP_SECONDS}`],
      ...['-f', 'lavfi', '-i', `sine=frequency=440:duration=${CLIP_SECONDS}`],
      ...['-vf', 'noise=alls=20:allf=t', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', '8'],
      ...['-b:v', '2000k', '-maxrate', '2000k', '-bufsize', '2000k', '-c:a', 'aac', '-b:a', '64k'],
      ...['-movflags', '+faststart', '-shortest', path],
    ],
    { timeout: 60_000 },
  )
}

// Browser-side steps (strings: the Node side type-checks without the DOM library).
const PLAY = (selector: string) => `(async () => {
  const v = document.querySelector(${JSON.stringify(selector)})
  v.muted = true
  await v.play()
  const t0 = performance.now()
  while (v.currentTime < 1) {
    if (v.error) throw new Error('media error ' + v.error.code + ': ' + v.error.message)
    if (performance.now() - t0 > 30000) throw new Error('no playback: currentTime ' + v.currentTime + ', readyState ' + v.readyState)
    await new Promise((r) => setTimeout(r, 50))
  }
  return { duration: v.duration, currentTime: v.currentTime }
})()`

/** Drops `name` (set on a helper file input the test adds) on the upload area as a real DragEvent with a DataTransfer. */
const DROP = `(() => {
  const input = document.getElementById('test-drop-source')
  const dt = new DataTransfer()
  for (const f of input.files) dt.items.add(f)
  const zone = document.querySelector('[data-testid=dropzone]')
  for (const type of ['dragenter', 'dragover', 'drop'])
    zone.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }))
  input.remove()
})()`

/** A forward HTTP proxy that records every request line, header and body byte both ways. */
async function recordingProxy(): Promise<{
  url: string
  bytes: () => Buffer
  requestLines: () => string[]
  close: () => Promise<void>
}> {
  const seen: Buffer[] = []
  const lines: string[] = []
  const server = http.createServer((req, res) => {
    lines.push(`${req.method} ${req.url}`)
    seen.push(Buffer.from(`${req.method} ${req.url}\n${JSON.stringify(req.headers)}\n`))
    const target = new URL(req.url!)
    const up = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method: req.method,
        headers: req.headers,
      },
      (r) => {
        seen.push(Buffer.from(JSON.stringify(r.headers)))
        res.writeHead(r.statusCode!, r.headers)
        r.on('data', (d: Buffer) => seen.push(d))
        r.pipe(res)
      },
    )
    up.on('error', () => res.destroy())
    req.on('data', (d: Buffer) => seen.push(d))
    req.pipe(up)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bytes: () => Buffer.concat(seen),
    requestLines: () => [...lines],
    close: () =>
      new Promise((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

test('the wallet portal: a person creates a wallet, receives STOS, prepays, uploads by drag and drop, plays, shares, delegates, deletes, and unlocks after a reload; no key ever leaves the page', {
  skip,
  timeout: 480_000,
}, async (t) => {
  assert.ok(existsSync(BUNDLE), 'dist/wallet is missing: run `npm run build:wallet` (npm install does it)')
  // This run's screenshots only.
  rmSync(ARTIFACTS, { recursive: true, force: true })
  mkdirSync(ARTIFACTS, { recursive: true })
  let shot = 0
  const snap = (page: Page, name: string) =>
    page.screenshot({ path: new URL(`wallet-${String(++shot).padStart(2, '0')}-${name}.png`, ARTIFACTS).pathname })

  const work = mkdtempSync(join(tmpdir(), 'stratos-wallet-'))
  const clip = join(work, 'clip.mp4')
  const devnet = await TestDevnet.start({ resources: 6 })
  let browser: Browser | undefined
  let current: Page | undefined
  let proxy: Awaited<ReturnType<typeof recordingProxy>> | undefined
  try {
    await makeClip(clip)
    const clipSize = statSync(clip).size
    assert.ok(clipSize > 15e6 && clipSize < 30e6, `clip is ${clipSize} bytes`)
    const expectedCid = (await fileCid(readFileSync(clip))).cid.toString()
    const gw = devnet.network.gatewayUrl

    // Everything on the wire between the browser and the gateway, to search for the keys at the end.
    proxy = await recordingProxy()
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--autoplay-policy=no-user-gesture-required',
        `--proxy-server=${proxy.url}`,
        '--proxy-bypass-list=<-loopback>',
      ],
    })
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    const page = await context.newPage()
    current = page
    page.setDefaultTimeout(60_000)

    // ---- create a wallet --------------------------------------------------------------------------------
    await page.goto(`${gw}/wallet/`)
    await snap(page, 'welcome')
    await page.getByRole('button', { name: 'Create a new wallet' }).click()
    const words = (await page.locator('[data-testid=mnemonic] li').allTextContents()).map((w) => w.trim())
    assert.equal(words.length, 24)
    const mnemonic = words.join(' ')
    const key = WalletKey.fromMnemonic(mnemonic)
    await snap(page, 'phrase')
    await page.getByLabel('I wrote the words down').check()
    await page.getByRole('button', { name: 'Continue' }).click()
    const asked = page.getByLabel(/^Word #\d+$/)
    assert.equal(await asked.count(), 3)
    for (let i = 0; i < 3; i++) {
      const field = asked.nth(i)
      await field.fill(words[Number(await field.getAttribute('data-word')) - 1]!)
    }
    await page.getByRole('button', { name: 'Confirm' }).click()
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD)
    await page.getByLabel('Repeat password').fill(PASSWORD)
    await page.getByRole('button', { name: 'Create wallet' }).click()
    const address = (await page.getByTestId('address').textContent())!.trim()
    assert.equal(address, key.address, 'the browser derives the CLI’s address (m/44’/606’/0’/0/0)')

    // ---- receive STOS from a dev wallet ------------------------------------------------------------------
    const sent = await runCli(['send', address, '1000', '--network', devnet.dir])
    assert.equal(sent.code, 0, sent.stderr)
    await page.getByTestId('balance').filter({ hasText: '1,000 STOS' }).waitFor()
    await snap(page, 'received')

    // ---- prepay ozone ------------------------------------------------------------------------------------
    await page.getByRole('link', { name: 'Ozone' }).click()
    await page.getByLabel('Prepay (STOS)').fill('100')
    await page.getByTestId('prepay-preview').filter({ hasText: 'Buys about' }).waitFor()
    await page.getByRole('button', { name: 'Review prepay' }).click()
    await page.getByRole('button', { name: 'Confirm and send' }).click()
    const prepayHeight = Number(await page.getByTestId('tx-height').textContent())
    assert.ok(prepayHeight > 0)
    assert.match((await page.getByTestId('tx-hash').textContent()) ?? '', /^[0-9a-f]{64}$/)
    await snap(page, 'prepaid')
    await page.getByRole('button', { name: 'Close', exact: true }).click()
    await page.getByTestId('ozone-left').filter({ hasNotText: /^0 B$/ }).waitFor()

    // ---- upload a 20 MB MP4 by drag and drop ------------------------------------------------------------
    await page.getByRole('link', { name: 'Files' }).click()
    await page.getByTestId('dropzone').waitFor()
    await page.evaluate(`(() => {
      const i = document.createElement('input'); i.type = 'file'; i.id = 'test-drop-source'; i.hidden = true
      document.body.appendChild(i)
    })()`)
    await page.setInputFiles('#test-drop-source', clip)
    const t0 = performance.now()
    await page.evaluate(DROP)
    await page.locator('[data-testid=upload-task][data-state=running]').waitFor()
    await snap(page, 'uploading')
    await page
      .locator('[data-testid=upload-task][data-state=done], [data-testid=upload-task][data-state=failed]')
      .waitFor({ timeout: 120_000 })
    const failed = await page.locator('[data-testid=upload-task][data-state=failed]').count()
    assert.equal(failed, 0, `upload failed: ${await page.locator('[data-testid=upload-task]').textContent()}`)
    const seconds = (performance.now() - t0) / 1000
    t.diagnostic(
      `browser upload of ${clipSize} bytes: ${seconds.toFixed(2)} s, ${(clipSize / 1e6 / seconds).toFixed(1)} MB/s`,
    )
    const row = page.locator('[data-testid=file-row][data-name="clip.mp4"]')
    await row.waitFor()
    assert.equal(await row.getAttribute('data-cid'), expectedCid, 'the CID Kubo’s defaults give')
    assert.equal((await row.getByTestId('file-cid').textContent())?.trim(), expectedCid)
    await snap(page, 'listed')

    // ---- play, seek to the middle -------------------------------------------------------------------------
    await page.getByRole('button', { name: 'Play or view clip.mp4' }).click()
    const played = (await page.evaluate(PLAY('[data-testid=player]'))) as { duration: number }
    assert.ok(Math.abs(played.duration - CLIP_SECONDS) < 2, `duration ${played.duration}`)
    const seek = (await page.evaluate(seekToMiddle('[data-testid=player]', 30_000))) as SeekResult
    assert.ok(seek.currentTime >= seek.mid + 1, JSON.stringify(seek))
    await snap(page, 'playing')
    await page.getByRole('button', { name: 'Close dialog' }).click()

    // ---- a password share link, opened in a second browser context ---------------------------------------
    await page.getByRole('button', { name: 'Share clip.mp4' }).click()
    await page.getByLabel('Password (optional)').fill(SHARE_PASSWORD)
    await page.getByRole('button', { name: 'Create link' }).click()
    const link = (await page.getByTestId('share-link').textContent())!.trim()
    assert.match(link, /\/wallet\/share\/[A-Za-z0-9_-]{22}$/)
    await snap(page, 'shared')
    await page.getByRole('button', { name: 'Done' }).click()
    await page.getByTestId('share-row').waitFor()

    const stranger = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    const other = await stranger.newPage()
    current = other
    other.setDefaultTimeout(60_000)
    await other.goto(link)
    await other.getByLabel('This link needs a password').fill('not the password')
    await other.getByRole('button', { name: 'Open' }).click()
    await other.locator('[role=alert][data-code=BAD_PASSWORD]').waitFor()
    assert.equal(await other.getByTestId('share-player').count(), 0)
    await snap(other, 'share-wrong-password')
    await other.getByLabel('This link needs a password').fill(SHARE_PASSWORD)
    await other.getByRole('button', { name: 'Open' }).click()
    await other.getByTestId('share-player').waitFor()
    await other.evaluate(PLAY('[data-testid=share-player]'))
    await snap(other, 'share-playing')
    await stranger.close()
    current = page

    // ---- delegate to the validator ------------------------------------------------------------------------
    await page.getByRole('link', { name: 'Staking' }).click()
    const amount = page.getByLabel(/^Amount to delegate to /).first()
    await amount.fill('10')
    await page.getByRole('button', { name: 'Delegate', exact: true }).first().click()
    await page.getByRole('button', { name: 'Confirm and send' }).click()
    await page.getByTestId('tx-result').waitFor()
    await page.getByRole('button', { name: 'Close', exact: true }).click()
    await page.getByTestId('my-delegation').filter({ hasText: '10 STOS' }).waitFor()
    await snap(page, 'delegated')

    // ---- undelegate part of it: the delegation drops, an unbonding entry appears -----------------------------
    await page
      .getByLabel(/^Amount to undelegate from /)
      .first()
      .fill('4')
    await page.getByRole('button', { name: 'Undelegate', exact: true }).first().click()
    await page.getByRole('button', { name: 'Confirm and send' }).click()
    await page.getByTestId('tx-result').waitFor()
    await page.getByRole('button', { name: 'Close', exact: true }).click()
    await page
      .getByTestId('my-delegation')
      .filter({ hasText: /^6 STOS$/ })
      .waitFor()
    await page
      .getByTestId('unbonding')
      .filter({ hasText: /^4 STOS returns at block \d+/ })
      .waitFor()
    const staking = await cliJson<{
      delegations: Array<{ amount: string }>
      unbondings: Array<{ amount: string; completionHeight: number }>
      rewards: Array<{ amount: string; matured: boolean }>
    }>(['rewards', address], devnet.dir)
    assert.deepEqual(
      staking.delegations.map((d) => BigInt(d.amount)),
      [6n * STOS],
    )
    assert.deepEqual(
      staking.unbondings.map((u) => BigInt(u.amount)),
      [4n * STOS],
    )
    await snap(page, 'undelegated')
    // The unbonding period (20 devnet blocks) ends: the entry goes and the chain has paid it back.
    const unbondingEnds = staking.unbondings[0]!.completionHeight
    await page.getByText('Nothing unbonding.').waitFor({ timeout: 90_000 })
    assert.deepEqual((await cliJson<typeof staking>(['rewards', address], devnet.dir)).unbondings, [])
    assert.ok(unbondingEnds > prepayHeight, `unbonding ends at ${unbondingEnds}`)

    // ---- withdraw matured rewards: the balance grows by them (less the fee) ------------------------------------
    const minFee = BigInt(
      ((await (await fetch(`${gw}/api/v1/chain/params`)).json()) as { params: { minFeeWei: string } }).params.minFeeWei,
    )
    await page.locator('button:enabled', { hasText: 'Withdraw rewards' }).waitFor({ timeout: 90_000 })
    await page.getByRole('button', { name: 'Withdraw rewards' }).click()
    const balanceBeforeWithdraw = await cliBalance(address, devnet.dir)
    const maturedBefore = (await cliJson<typeof staking>(['rewards', address], devnet.dir)).rewards
      .filter((r) => r.matured)
      .reduce((a, r) => a + BigInt(r.amount), 0n)
    assert.ok(maturedBefore > 0n, 'the button was enabled: some rewards matured')
    await page.getByRole('button', { name: 'Confirm and send' }).click()
    await page.getByTestId('tx-result').waitFor()
    const withdrawn = (await cliBalance(address, devnet.dir)) - balanceBeforeWithdraw + minFee
    assert.ok(withdrawn >= maturedBefore, `withdrew ${withdrawn} wei, ${maturedBefore} had matured`)
    await snap(page, 'withdrawn')
    await page.getByRole('button', { name: 'Close', exact: true }).click()

    // ---- send STOS to another address: review with the fee, confirm, hash + height; the recipient has it --------
    const recipientKey = WalletKey.fromMnemonic(WalletKey.generateMnemonic())
    const recipient = recipientKey.address
    await page.getByRole('link', { name: 'Send' }).click()
    await page.getByLabel('Recipient address').fill(recipient)
    await page.getByLabel('Amount (STOS)').fill('12.5')
    await page.getByRole('button', { name: 'Review', exact: true }).click()
    const review = page.getByRole('dialog', { name: 'Confirm transfer' })
    await review.getByText(recipient).waitFor()
    // The network fee is shown before confirming.
    await review
      .locator('dd')
      .last()
      .filter({ hasText: /^\d+(\.\d+)? STOS$/ })
      .waitFor()
    const balanceBeforeSend = await cliBalance(address, devnet.dir)
    await review.getByRole('button', { name: 'Confirm and send' }).click()
    const sendHeight = Number(await page.getByTestId('tx-height').textContent())
    const sendHash = ((await page.getByTestId('tx-hash').textContent()) ?? '').trim()
    assert.ok(sendHeight > prepayHeight)
    assert.match(sendHash, /^[0-9a-f]{64}$/)
    await snap(page, 'sent')
    await page.getByRole('button', { name: 'Close', exact: true }).click()
    const halfStos = STOS / 2n
    assert.equal(await cliBalance(recipient, devnet.dir), 12n * STOS + halfStos, 'the recipient got 12.5 STOS')
    assert.equal(await cliBalance(address, devnet.dir), balanceBeforeSend - 12n * STOS - halfStos - minFee)

    // ---- the history lists it (and the earlier ones) --------------------------------------------------------------
    await page.getByRole('link', { name: 'Overview' }).click()
    const sentRow = page.locator(`[data-testid=history-row][data-hash="${sendHash}"]`)
    await sentRow.waitFor()
    assert.match((await sentRow.textContent()) ?? '', new RegExp(`^${sendHeight}Sent 12\\.5 STOS to .+OK`))
    const described = await page.getByTestId('history-row').allTextContents()
    for (const what of [
      /Received 1,000 STOS/,
      /Prepaid 100 STOS for ozone/,
      /Delegated 10 STOS/,
      /Undelegated 4 STOS/,
      /Withdrew rewards/,
    ])
      assert.ok(
        described.some((d) => what.test(d)),
        `history lacks ${what}: ${described.join(' | ')}`,
      )
    await snap(page, 'history')

    // ---- revoke the share link: the stranger is refused now -------------------------------------------------------
    await page.getByRole('link', { name: 'Files' }).click()
    const shareId = link.split('/').pop()!
    await page.getByTestId('share-row').getByRole('button', { name: 'Revoke' }).click()
    await page.getByTestId('share-row').waitFor({ state: 'detached' })
    const refused = await fetch(`${gw}/share/${shareId}?password=${encodeURIComponent(SHARE_PASSWORD)}`)
    assert.equal(refused.status, 410)
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'SHARE_REVOKED')
    const late = await browser.newContext()
    const latePage = await late.newPage()
    current = latePage
    await latePage.goto(link)
    // Revoked before the password is even asked for.
    await latePage.locator('[role=alert][data-code=SHARE_REVOKED]').waitFor()
    assert.equal(await latePage.getByLabel('This link needs a password').count(), 0)
    await snap(latePage, 'share-revoked')
    await late.close()
    current = page

    // ---- upload a folder with the folder picker: listed as a directory, its files read back byte-exact -----------
    const album = join(work, 'album')
    mkdirSync(join(album, 'sub'), { recursive: true })
    const folderFiles = { 'notes.txt': randomBytes(70_000), 'sub/data.bin': randomBytes(300_000) }
    for (const [p, b] of Object.entries(folderFiles)) writeFileSync(join(album, p), b)
    const [chooser] = await Promise.all([
      page.waitForEvent('filechooser'),
      page.getByRole('button', { name: 'Choose a folder' }).click(),
    ])
    await chooser.setFiles(album)
    const dirRow = page.locator('[data-testid=file-row][data-kind=directory][data-name=album]')
    await dirRow.waitFor({ timeout: 120_000 })
    assert.equal(await page.locator('[data-testid=upload-task][data-state=failed]').count(), 0)
    const dirCid = (await dirRow.getAttribute('data-cid'))!
    for (const [p, b] of Object.entries(folderFiles)) {
      const got = (await page.evaluate(`(async () => {
        const r = await fetch('/api/v1/content/${dirCid}/${p}')
        if (!r.ok) return 'HTTP ' + r.status
        return Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', await r.arrayBuffer())), (x) => x.toString(16).padStart(2, '0')).join('')
      })()`)) as string
      assert.equal(got, createHash('sha256').update(b).digest('hex'), `${p} read back through the gateway`)
    }
    await snap(page, 'folder')

    // ---- delete the file, with confirmation -------------------------------------------------------------------
    await page.getByRole('link', { name: 'Files' }).click()
    // ---- usable at 360 px ---------------------------------------------------------------------------------------
    await page.setViewportSize({ width: 360, height: 740 })
    await row.waitFor()
    const overflow = (await page.evaluate('document.documentElement.scrollWidth')) as number
    assert.ok(overflow <= 360, `the page is ${overflow} px wide at a 360 px viewport`)
    await snap(page, 'files-360px')
    await page.setViewportSize({ width: 1280, height: 900 })

    await page.getByRole('button', { name: 'Delete clip.mp4' }).click()
    await page.getByRole('dialog', { name: 'Delete file' }).getByRole('button', { name: 'Delete', exact: true }).click()
    await row.waitFor({ state: 'detached' })
    await snap(page, 'deleted')

    // ---- a second account (the recipient's private key), switch to it and back ----------------------------------
    await page.getByRole('link', { name: 'Accounts' }).click()
    await page.getByLabel('Name', { exact: true }).fill('savings')
    await page
      .getByLabel(/^Recovery phrase or private key to import/)
      .fill(Buffer.from(recipientKey.privateKey).toString('hex'))
    await page.getByRole('button', { name: 'Import account' }).click()
    const switcher = page.locator('label.account select')
    await page.locator('ul.accounts li').filter({ hasText: recipient }).filter({ hasText: '(current)' }).waitFor()
    await page.getByRole('link', { name: 'Overview' }).click()
    await page.getByTestId('address').filter({ hasText: recipient }).waitFor()
    await page
      .getByTestId('balance')
      .filter({ hasText: /^12\.5 STOS$/ })
      .waitFor()
    await page
      .locator(`[data-testid=history-row][data-hash="${sendHash}"]`)
      .filter({ hasText: 'Received 12.5 STOS' })
      .waitFor()
    assert.equal(await page.getByTestId('history-row').count(), 1, 'the new account has its own history')
    await snap(page, 'second-account')
    await switcher.selectOption({ index: 0 })
    await page.getByTestId('address').filter({ hasText: address }).waitFor()
    await page
      .locator(`[data-testid=history-row][data-hash="${sendHash}"]`)
      .filter({ hasText: 'Sent 12.5 STOS' })
      .waitFor()

    await page.getByRole('link', { name: 'Files' }).click()

    // ---- reload: still there, locked; the password unlocks it ------------------------------------------------------
    await page.reload()
    await page.getByRole('heading', { name: 'Unlock your wallet' }).waitFor()
    assert.equal(await page.getByTestId('address').count(), 0)
    await page.getByLabel('Password').fill('not my password')
    await page.getByRole('button', { name: 'Unlock' }).click()
    await page.locator('[role=alert][data-code=WRONG_PASSWORD]').waitFor()
    await snap(page, 'locked')
    await page.getByLabel('Password').fill(PASSWORD)
    await page.getByRole('button', { name: 'Unlock' }).click()
    // Unlocked where it was (the files page); the overview shows the same account.
    await page.getByRole('heading', { name: 'Files' }).waitFor()
    await page.getByRole('link', { name: 'Overview' }).click()
    assert.equal((await page.getByTestId('address').textContent())?.trim(), address)
    await snap(page, 'unlocked')

    // ---- no key material in the traffic, nor in clear in storage ---------------------------------------------------
    const privateHex = Buffer.from(key.privateKey).toString('hex')
    const secrets = [
      mnemonic,
      encodeURIComponent(mnemonic),
      mnemonic.replaceAll(' ', '+'),
      privateHex,
      Buffer.from(key.privateKey).toString('base64'),
      Buffer.from(key.privateKey).toString('base64url'),
    ]
    const everything = proxy.bytes()
    assert.ok(everything.length > clipSize, `captured ${everything.length} bytes of traffic`)
    for (const s of secrets) assert.equal(everything.indexOf(s), -1, 'a key left the page')
    // The share password went in a header and the link's HttpOnly cookie, never in a URL (logs, history).
    for (const line of proxy.requestLines())
      for (const form of [SHARE_PASSWORD, encodeURIComponent(SHARE_PASSWORD), SHARE_PASSWORD.replaceAll(' ', '+')])
        assert.ok(!line.includes(form), `the share password is in a URL: ${line.slice(0, 120)}`)
    assert.equal(everything.indexOf(Buffer.from(key.privateKey)), -1, 'raw private key bytes left the page')
    const storage = (await page.evaluate('JSON.stringify(localStorage)')) as string
    for (const s of secrets.slice(0, 4)) assert.ok(!storage.includes(s), 'a key is in localStorage in clear')
    for (const w of words.slice(0, 4)) assert.ok(!storage.includes(` ${w} `))
  } catch (e) {
    await current?.screenshot({ path: new URL('wallet-failure.png', ARTIFACTS).pathname }).catch(() => undefined)
    throw e
  } finally {
    await browser?.close()
    await proxy?.close()
    await devnet.destroy()
    rmSync(work, { recursive: true, force: true })
  }
})
