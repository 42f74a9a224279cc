/**
 * A set of string keys kept in sorted (UTF-16 code unit) order for prefix scans, built for
 * bursts of inserts: new keys are appended to a pending list and merged into the sorted array
 * only when a scan needs the order (one sort of the new keys plus a linear merge), so a block
 * that creates 10,000 keys pays one sort, not 10,000 array insertions.
 *
 * Removal is lazy: the owner's `has` predicate decides whether a listed key still exists, and
 * the array is compacted when more than half of it is stale.
 */
export class SortedKeys {
  #sorted: string[] = []
  #pending: string[] = []
  #stale = 0

  /** Records a key that was absent from the owner's map. */
  add(key: string): void {
    this.#pending.push(key)
  }

  /** Records that a listed key left the owner's map. */
  markRemoved(): void {
    this.#stale++
  }

  clear(): void {
    this.#sorted = []
    this.#pending = []
    this.#stale = 0
  }

  /** Keys starting with `prefix` for which `has` holds, ascending. */
  range(prefix: string, has: (key: string) => boolean): string[] {
    const sorted = this.#settle(has)
    const out: string[] = []
    for (let i = lowerBound(sorted, prefix); i < sorted.length; i++) {
      const k = sorted[i]!
      if (!k.startsWith(prefix)) break
      if (has(k)) out.push(k)
    }
    return out
  }

  #settle(has: (key: string) => boolean): string[] {
    if (this.#pending.length > 0) {
      const added = this.#pending.sort(compareKeys)
      this.#pending = []
      this.#sorted = mergeUnique(this.#sorted, added)
    }
    if (this.#stale > 0 && this.#stale * 2 > this.#sorted.length) {
      this.#sorted = this.#sorted.filter(has)
      this.#stale = 0
    }
    return this.#sorted
  }
}

export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (sorted[mid]! < key) lo = mid + 1
    else hi = mid
  }
  return lo
}

function mergeUnique(a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = new Array(a.length + b.length)
  let i = 0,
    j = 0,
    n = 0
  let last: string | undefined
  while (i < a.length || j < b.length) {
    const k = j >= b.length || (i < a.length && a[i]! <= b[j]!) ? a[i++]! : b[j++]!
    if (k !== last) out[n++] = last = k
  }
  out.length = n
  return out
}
