// The CLI as one file: dist/stratos.cjs, what bin/stratos.js runs for every command but the long-running roles
// (`stratos node …`, `stratos devnet`, which run dist/cli/main.js, as devnet children do). Run by `npm run build`
// after tsc, so `npm install` (prepare) produces it.
//
// Why a bundle: a fresh Node 20 process spends ~0.3 s resolving, reading and compiling the ~500 ES modules a
// command imports (Node 20 has no module compile cache). One CommonJS file is read once and can be compiled from
// a V8 code cache (bin/stratos.js keeps one per command); esbuild wraps the modules a command group reaches only
// through `await import()` in lazy initializers, so a command still runs only the modules it needs.
//
// Native and path-bound packages stay external (required from node_modules at run time): lmdb, the Reed–Solomon
// secp256k1 and libsodium bindings, pino (its transport worker is a file), pg. Code that finds files next to itself through
// `import.meta.url` (workers, the wallet app, native requires) gets the URL of its own per-file build in dist/, so
// those paths stay what they are in dist/.
import { readFile, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join, relative } from 'node:path'
import { build } from 'esbuild'

const root = join(import.meta.dirname, '..')
const src = join(root, 'src')
const dist = join(root, 'dist')
export const BUNDLE = join(dist, 'stratos.cjs')

const EXTERNAL = [
  'lmdb',
  '@ronomon/reed-solomon',
  'secp256k1',
  'sodium-native',
  '@napi-rs/*',
  'msgpackr-extract',
  'pino',
  'thread-stream',
  'pg',
  'pg-native',
]

/** `import.meta.url` → the URL of the file's own build in dist/ (dist/x/y.js for src/x/y.ts). */
const importMetaOfDist = {
  name: 'import-meta-of-dist',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8')
      if (!text.includes('import.meta')) return { contents: text, loader: 'ts' }
      const url = `__stratosDistUrl(${JSON.stringify(relative(src, args.path).replace(/\.ts$/, '.js'))})`
      return {
        contents: text
          .replaceAll('import.meta.url', url)
          .replaceAll('import.meta.dirname', `__stratosDistDir(${url})`)
          // Only on the from-source (.ts) paths of worker loaders, which the bundle never takes.
          .replaceAll('import.meta.resolve', '__stratosNoResolve'),
        loader: 'ts',
      }
    })
  },
}

/**
 * src/'s `undici` imports → scripts/undici-node-http.cjs (an Agent and request() on node:http; why: that file). Before,
 * undici's own Agent and request (scripts/undici-slim.cjs, with its HTTP/2 client stubbed): the bundle no longer holds
 * undici at all. esbuild cannot see a CommonJS file's exports, so every name src/ imports from undici (not `type`
 * imports) is checked against it here.
 */
const UNDICI_SHIM = join(import.meta.dirname, 'undici-node-http.cjs')
const undiciShim = {
  name: 'undici-node-http',
  setup(b) {
    const exported = new Set(Object.keys(createRequire(import.meta.url)(UNDICI_SHIM)))
    b.onResolve({ filter: /^undici$/ }, async (args) => {
      if (!args.importer.startsWith(src)) return undefined
      const text = await readFile(args.importer, 'utf8')
      for (const m of text.matchAll(/^import\s+(?!type\b)\{([^}]*)\}\s+from\s+'undici'/gm))
        for (const part of m[1].split(',').map((x) => x.trim()).filter(Boolean))
          if (!part.startsWith('type ') && !exported.has(part.split(/\s+as\s+/)[0])) {
            const text = `${relative(root, args.importer)} imports ${part} from undici; ${relative(root, UNDICI_SHIM)} lacks it`
            return { errors: [{ text }] }
          }
      if (/^import\s+(\*|\w+\s*[,]?\s*(from|\{))[^;]*'undici'/m.test(text.replace(/^import\s+type\b.*$/gm, '')))
        return { errors: [{ text: `${relative(root, args.importer)}: only named imports from undici are bundled` }] }
      return { path: UNDICI_SHIM }
    })
  },
}

/**
 * commander requires node:child_process at load for executable subcommands, which the CLI does not have: the bundle
 * gives it a proxy that loads the module on first use instead (node:child_process with dgram and the socket list:
 * ~4.5 ms of CPU in every fresh process).
 */
const LAZY_CHILD_PROCESS = join(import.meta.dirname, 'lazy-child-process.cjs')
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      args.importer.includes(join('node_modules', 'commander')) ? { path: LAZY_CHILD_PROCESS } : undefined,
    )
  },
}

const banner = [
  `const __stratosDistUrl = (rel) => require('node:url').pathToFileURL(require('node:path').join(__dirname, rel)).href;`,
  `const __stratosDistDir = (url) => require('node:path').dirname(require('node:url').fileURLToPath(url));`,
  `const __stratosNoResolve = (s) => { throw new Error('import.meta.resolve(' + s + ') in the CLI bundle'); };`,
].join('\n')

await rm(join(dist, 'cli-cache'), { recursive: true, force: true })
await build({
  entryPoints: [join(src, 'cli', 'main.ts')],
  outfile: BUNDLE,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  // Whitespace and syntax only: smaller to read and parse; names stay (error classes, stack traces).
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  plugins: [importMetaOfDist, undiciShim, lazyChildProcess],
  banner: { js: banner },
  logLevel: 'warning',
})
