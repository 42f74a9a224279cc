/**
 * Self and inclusive time of a .cpuprofile's functions (V8 sampling profile), top N by self time, idle excluded.
 *
 *   node bench/profile-summary.mjs FILE.cpuprofile [N]
 */
import { readFileSync } from 'node:fs'

const p = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const top = Number(process.argv[3] ?? 25)
const byId = new Map(p.nodes.map((n) => [n.id, n]))
const parent = new Map()
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const selfUs = new Map()
for (let i = 0; i < p.samples.length; i++)
  selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0))
const label = (n) => {
  const f = n.callFrame
  const url = f.url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^node:/, '')
  return `${f.functionName || '(anonymous)'} ${url ? `${url}:${f.lineNumber + 1}` : ''}`.trim()
}
const self = new Map()
const incl = new Map()
let total = 0
let idle = 0
for (const [id, us] of selfUs) {
  const n = byId.get(id)
  if (n.callFrame.functionName === '(idle)') {
    idle += us
    continue
  }
  total += us
  const l = label(n)
  self.set(l, (self.get(l) ?? 0) + us)
  const seen = new Set()
  for (let x = id; x !== undefined; x = parent.get(x)) {
    const lx = label(byId.get(x))
    if (seen.has(lx)) continue
    seen.add(lx)
    incl.set(lx, (incl.get(lx) ?? 0) + us)
  }
}
const ms = (us) => (us / 1000).toFixed(1).padStart(7)
console.log(`busy ${ms(total)} ms, idle ${ms(idle)} ms, span ${ms(p.endTime - p.startTime)} ms`)
console.log('self:')
for (const [l, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${ms(us)}  ${l}`)
console.log('inclusive:')
for (const [l, us] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${ms(us)}  ${l}`)
