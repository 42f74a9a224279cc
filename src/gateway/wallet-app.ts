/**
 * The wallet portal's page (web/wallet, built into dist/wallet by `npm run build:wallet`): GET|HEAD /wallet/…
 *
 *   /wallet                 → 301 /wallet/
 *   /wallet/assets/{file}   content-hashed bundle files: `Cache-Control: public, max-age=31536000, immutable`
 *   /wallet/{file.ext}      other files of the bundle (favicon…): revalidated (`no-cache`, ETag from size+mtime)
 *   /wallet/{anything else} index.html (the app's own routes: a reload on /wallet/files works), `no-cache`
 *
 * Every answer carries a Content-Security-Policy that allows this origin only (no CDN, no inline script, no
 * framing), `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`. Files are streamed from disk;
 * paths are resolved inside the bundle folder only. Without a built bundle: 503 NODE_UNAVAILABLE naming the build
 * command.
 */
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { extname, join, resolve, sep } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { StratosError } from '../errors.ts'
import type { GatewayContext, GatewayRoute } from './routes.ts'

export const WALLET_PATH = '/wallet/'

/** dist/wallet of this checkout: ../../dist/wallet from src/gateway (tsx) and from dist/gateway alike. */
export const DEFAULT_WALLET_DIR = fileURLToPath(new URL('../../dist/wallet', import.meta.url))

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
}

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "frame-ancestors 'none'",
].join('; ')

export function walletAppRoute(dir: string = DEFAULT_WALLET_DIR): GatewayRoute {
  const root = resolve(dir)
  return {
    name: 'wallet',
    path: WALLET_PATH,
    methods: ['GET', 'HEAD'],
    handle: (c) => serveWalletFile(c, root),
  }
}

async function serveWalletFile(c: GatewayContext, root: string): Promise<void> {
  if (c.rawPath === '/wallet') {
    c.res.writeHead(301, { location: WALLET_PATH })
    c.res.end()
    return
  }
  let rel: string
  try {
    rel = decodeURIComponent(c.rawPath.slice(WALLET_PATH.length))
  } catch {
    throw new StratosError('BAD_REQUEST', 'malformed percent-encoding in the path')
  }
  const asked = rel === '' ? null : resolve(root, rel)
  if (asked !== null && !asked.startsWith(root + sep)) throw new StratosError('NOT_FOUND', 'no such file')
  let file = asked
  let st = file === null ? undefined : await stat(file).catch(() => undefined)
  if (!st?.isFile()) {
    // An asset that is missing is a 404; a path without an extension is one of the app's own routes.
    if (asked !== null && extname(asked) !== '') throw new StratosError('NOT_FOUND', `no file ${rel.slice(0, 200)}`)
    file = join(root, 'index.html')
    st = await stat(file).catch(() => undefined)
    if (!st?.isFile())
      throw new StratosError(
        'NODE_UNAVAILABLE',
        'the wallet portal is not built: run `npm run build:wallet` (npm install does it)',
      )
  }
  const immutable = rel.startsWith('assets/') && file === asked
  const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`
  const headers: Record<string, string | number> = {
    'content-type': TYPES[extname(file!)] ?? 'application/octet-stream',
    'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    etag,
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  }
  if (c.req.headers['if-none-match'] === etag) {
    c.res.writeHead(304, headers)
    c.res.end()
    return
  }
  headers['content-length'] = st.size
  c.res.writeHead(200, headers)
  if (c.method === 'HEAD') {
    c.res.end()
    return
  }
  await pipeline(createReadStream(file!), c.res)
}
