/**
 * Keeps the import rules of src/ true (issue 16). Every .ts file under src/ is parsed with the TypeScript compiler
 * API; its import and re-export declarations and `import('…')` calls become edges of a module graph. The rules:
 *
 *   1. src/sds/protocol is the pure wire contract: it imports nothing of src/net, of a role (sds/meta, sds/resource,
 *      sds/client) or of I/O (node:http, node:https, node:net, node:tls, node:dgram, node:fs, undici, lmdb).
 *   2. The ledger (src/chain, except src/chain/node) imports nothing of storage or networking: nothing of src/sds,
 *      src/net, src/gateway, src/ipfs, src/cli, src/devnet, src/chain-client, nor node:http, node:net, undici, lmdb.
 *   3. The chain node (src/chain/node: block store, mempool, REST server) may use src/net (router, server helper)
 *      and its own storage, but nothing of src/sds, src/gateway, src/ipfs, src/cli, src/devnet, src/chain-client.
 *   4. The meta node (src/sds/meta) and the resource node (src/sds/resource) never import each other.
 *   5. src/net (transports, servers, the router, the typed clients of the contract) sits below every role: it may use
 *      src/sds/protocol but nothing of sds/meta, sds/resource, sds/client, src/chain, src/chain-client, src/gateway,
 *      src/ipfs, src/cli, src/devnet.
 *   6. No runtime import cycles. Type-only imports (`import type`, or every name marked `type`) are erased and do not
 *      count; neither do `import('…')` calls (evaluated later, on demand).
 *
 * Rules 1–5 count every import, type-only ones included: a layer that needs another's types depends on it.
 * A failure lists every offending edge as `from → to` with the rule it breaks.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const SRC = join(ROOT, 'src')

interface Edge {
  /** Importing file, relative to the repository root. */
  from: string
  /** A repository-relative file for relative specifiers, else the bare specifier ('node:http', 'undici'). */
  to: string
  typeOnly: boolean
  dynamic: boolean
}

function sourceFiles(dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...sourceFiles(p))
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

/** The import edges of one file. */
export function importsOf(file: string, text: string): Edge[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS)
  const from = relative(ROOT, file)
  const edges: Edge[] = []
  const add = (spec: string, typeOnly: boolean, dynamic: boolean): void => {
    const to = spec.startsWith('.') ? relative(ROOT, resolve(dirname(file), spec)) : spec
    edges.push({ from, to, typeOnly, dynamic })
  }
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause
      const named = clause?.namedBindings
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            named !== undefined &&
            ts.isNamedImports(named) &&
            named.elements.length > 0 &&
            named.elements.every((e) => e.isTypeOnly)))
      add(node.moduleSpecifier.text, typeOnly, false)
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.exportClause
      const typeOnly =
        node.isTypeOnly ||
        (clause !== undefined &&
          ts.isNamedExports(clause) &&
          clause.elements.length > 0 &&
          clause.elements.every((e) => e.isTypeOnly))
      add(node.moduleSpecifier.text, typeOnly, false)
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0]
      if (arg && ts.isStringLiteralLike(arg)) add(arg.text, false, true)
    }
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return edges
}

function graph(): Edge[] {
  return sourceFiles(SRC).flatMap((f) => importsOf(f, readFileSync(f, 'utf8')))
}

/** True when `path` (repository-relative) is `dir` or inside it. */
function under(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir + '/')
}

interface Rule {
  name: string
  /** The files the rule is about. */
  applies: (from: string) => boolean
  /** Import targets (repository-relative folders, or bare module names) those files must not use. */
  forbidden: string[]
}

const IO_MODULES = [
  'node:http',
  'node:https',
  'node:net',
  'node:tls',
  'node:dgram',
  'node:fs',
  'node:fs/promises',
  'undici',
  'lmdb',
]

export const RULES: Rule[] = [
  {
    name: 'sds/protocol is the pure wire contract',
    applies: (f) => under(f, 'src/sds/protocol'),
    forbidden: ['src/net', 'src/sds/meta', 'src/sds/resource', 'src/sds/client', ...IO_MODULES],
  },
  {
    name: 'the ledger imports nothing of storage or networking',
    applies: (f) => under(f, 'src/chain') && !under(f, 'src/chain/node'),
    forbidden: [
      'src/sds',
      'src/net',
      'src/gateway',
      'src/ipfs',
      'src/cli',
      'src/devnet',
      'src/chain-client',
      'node:http',
      'node:https',
      'node:net',
      'undici',
      'lmdb',
    ],
  },
  {
    name: 'the chain node uses src/net but no storage role, gateway, IPFS, CLI or devnet',
    applies: (f) => under(f, 'src/chain/node'),
    forbidden: ['src/sds', 'src/gateway', 'src/ipfs', 'src/cli', 'src/devnet', 'src/chain-client'],
  },
  {
    name: 'meta and resource never import each other',
    applies: (f) => under(f, 'src/sds/meta'),
    forbidden: ['src/sds/resource'],
  },
  {
    name: 'meta and resource never import each other',
    applies: (f) => under(f, 'src/sds/resource'),
    forbidden: ['src/sds/meta'],
  },
  {
    name: 'src/net sits below every role',
    applies: (f) => under(f, 'src/net'),
    forbidden: [
      'src/sds/meta',
      'src/sds/resource',
      'src/sds/client',
      'src/chain',
      'src/chain-client',
      'src/gateway',
      'src/ipfs',
      'src/cli',
      'src/devnet',
    ],
  },
]

/** Every edge that breaks a layer rule, as `from → to  (rule)`. */
export function layerViolations(edges: Edge[], rules: Rule[] = RULES): string[] {
  const out: string[] = []
  for (const e of edges) {
    for (const rule of rules) {
      if (rule.applies(e.from) && rule.forbidden.some((f) => under(e.to, f)))
        out.push(`${e.from} → ${e.to}  (${rule.name})`)
    }
  }
  return out.sort()
}

/** Runtime import cycles (Tarjan's strongly connected components), each as the list of its edges. */
export function runtimeCycles(edges: Edge[]): string[][] {
  const next = new Map<string, string[]>()
  for (const e of edges) {
    if (e.typeOnly || e.dynamic || !e.to.startsWith('src/')) continue
    let list = next.get(e.from)
    if (!list) next.set(e.from, (list = []))
    list.push(e.to)
  }
  let counter = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const components: string[][] = []
  const connect = (v: string): void => {
    index.set(v, counter)
    low.set(v, counter++)
    stack.push(v)
    onStack.add(v)
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!))
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = []
      let w: string
      do {
        w = stack.pop()!
        onStack.delete(w)
        component.push(w)
      } while (w !== v)
      const members = new Set(component)
      const selfLoop = (next.get(v) ?? []).includes(v)
      if (component.length > 1 || selfLoop) {
        components.push(
          component.sort().flatMap((a) => (next.get(a) ?? []).filter((b) => members.has(b)).map((b) => `${a} → ${b}`)),
        )
      }
    }
  }
  for (const v of [...next.keys()].sort()) if (!index.has(v)) connect(v)
  return components
}

test('the parser sees the import graph (so the rules below do not pass vacuously)', () => {
  const edges = graph()
  assert.ok(edges.length > 500, `only ${edges.length} import edges found under src/`)
  assert.ok(edges.some((e) => e.from === 'src/sds/resource/server.ts' && e.to === 'node:http'))
  assert.ok(edges.some((e) => e.from === 'src/sds/meta/server.ts' && e.to === 'src/sds/protocol/api.ts'))
  const sample = importsOf(
    join(SRC, 'x.ts'),
    [
      "import type { A } from './a.ts'",
      "import { type B, type C } from './b.ts'",
      "import { D, type E } from './d.ts'",
      "export type { F } from './f.ts'",
      "export { G } from './g.ts'",
      "const h = await import('./h.ts')",
      "type I = typeof import('./i.ts')",
    ].join('\n'),
  )
  assert.deepEqual(
    sample.map((e) => [e.to, e.typeOnly, e.dynamic]),
    [
      ['src/a.ts', true, false],
      ['src/b.ts', true, false],
      ['src/d.ts', false, false],
      ['src/f.ts', true, false],
      ['src/g.ts', false, false],
      ['src/h.ts', false, true],
    ],
  )
})

test('layer rules: protocol pure, ledger without networking, meta ⇎ resource, net below the roles', () => {
  const bad = layerViolations(graph())
  assert.equal(
    bad.length,
    0,
    `${bad.length} import(s) break the layer rules (test/structure/imports.test.ts):\n  ${bad.join('\n  ')}`,
  )
})

test('no runtime import cycles (type-only imports and import() excepted)', () => {
  const cycles = runtimeCycles(graph())
  assert.equal(
    cycles.length,
    0,
    `${cycles.length} runtime import cycle(s), by their edges:\n${cycles.map((c) => '  ' + c.join('\n  ')).join('\n  --\n')}`,
  )
})

test('a violation is reported as its edge', () => {
  const edges: Edge[] = [
    { from: 'src/chain/app.ts', to: 'src/net/json-request.ts', typeOnly: false, dynamic: false },
    { from: 'src/sds/protocol/api.ts', to: 'undici', typeOnly: true, dynamic: false },
    { from: 'src/a.ts', to: 'src/b.ts', typeOnly: false, dynamic: false },
    { from: 'src/b.ts', to: 'src/a.ts', typeOnly: false, dynamic: false },
    { from: 'src/c.ts', to: 'src/d.ts', typeOnly: false, dynamic: false },
    { from: 'src/d.ts', to: 'src/c.ts', typeOnly: true, dynamic: false },
  ]
  assert.deepEqual(layerViolations(edges), [
    'src/chain/app.ts → src/net/json-request.ts  (the ledger imports nothing of storage or networking)',
    'src/sds/protocol/api.ts → undici  (sds/protocol is the pure wire contract)',
  ])
  assert.deepEqual(runtimeCycles(edges), [['src/a.ts → src/b.ts', 'src/b.ts → src/a.ts']])
})
