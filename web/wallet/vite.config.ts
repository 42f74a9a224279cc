/**
 * Build of the wallet portal (issue 18): `npm run build:wallet` (run by `prepare`) bundles web/wallet into
 * dist/wallet/, which the gateway serves at /wallet/. Everything is bundled (no CDN at run time).
 *
 * The portal imports the project's own pure modules (src/crypto/wallet-key.ts, canonical.ts, src/chain/tx.ts,
 * src/sds/protocol/signing.ts, src/sds/client/unixfs.ts…) so a browser signs and hashes byte for byte as the CLI
 * does. Those modules name a few Node built-ins; the aliases below give the browser what it calls of them
 * (sha256, random bytes, scrypt: shims/node-crypto.ts) and stubs that throw for what it never calls (files).
 */
import { fileURLToPath } from 'node:url'
import preact from '@preact/preset-vite'
import { defineConfig } from 'vite'

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url))

export default defineConfig({
  root: here('.'),
  base: '/wallet/',
  plugins: [preact({ prerender: { enabled: false } })],
  resolve: {
    alias: [
      { find: /^node:crypto$/, replacement: here('./src/shims/node-crypto.ts') },
      { find: /^node:(fs|path|os|fs\/promises)$/, replacement: here('./src/shims/node-unavailable.ts') },
    ],
  },
  build: {
    outDir: here('../../dist/wallet'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 1500,
  },
})
