/** The LMDB engine (the embedded default) against the engine compliance suite. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { LmdbEngine } from '../../../../src/sds/meta/engine/lmdb.ts'
import { MetaStore } from '../../../../src/sds/meta/store.ts'
import { engineSuite } from './engine-suite.ts'

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-engine-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

engineSuite('lmdb', {
  async engine(t) {
    const e = LmdbEngine.open(tempDir(t))
    t.after(() => e.close())
    return e
  },
  async store(t) {
    const s = await MetaStore.open(tempDir(t))
    t.after(() => s.close())
    return s
  },
})
