/**
 * `compute(key)` remembered for as long as `key` lives: for values derived from an object the caller keeps and never
 * mutates (a ticket sent with each range GET, a chunk-hash list sent with every GET of a shard, a key's text form).
 */
export function memoizeByObject<K extends object, V>(compute: (key: K) => V): (key: K) => V {
  const memo = new WeakMap<K, V>()
  return (key) => {
    let value = memo.get(key)
    if (value === undefined) {
      value = compute(key)
      memo.set(key, value)
    }
    return value
  }
}
