/**
 * The one HTTP router every server uses (meta, resource, chain REST, gateway, IPFS RPC API): method + path pattern
 * → handler, found by a table lookup. It only finds; each server keeps its own request context, replies and error
 * format.
 *
 * Patterns: `/v1/files/:cid/read`. A segment is literal, `:name` (one non-empty segment, percent-decoded into
 * `params.name`; malformed percent-encoding is 400 BAD_REQUEST), or a last `*name` (the rest of the path after the
 * slash, possibly empty or holding further slashes, exactly as sent: the handler decodes it the way it needs).
 * Paths are matched as sent: no slash collapsing, no trailing-slash removal, no decoding of literal segments; a
 * server that normalizes does so before the lookup.
 *
 * Lookup order: a path without parameters is one Map lookup. Otherwise the pattern tree is walked, literal
 * segments before `:name` before `*name`, and the first pattern that matches the path *and* has a handler for the
 * method wins; when patterns match but none has the method, the first one's methods make the 405 (`allow`). No
 * array or substring is made for literal segments, so a static route allocates nothing and a parameterized one
 * only its parameter values, its params object and the match.
 */
import { StratosError } from '../errors.ts'

export type RouteParams = Readonly<Record<string, string>>

export interface RouteMatch<H> {
  handler: H
  params: RouteParams
  /** The pattern that matched (`/v1/files/:cid`): a bounded label for request metrics. */
  pattern: string
}

/** A path some pattern matches, without a handler for the method: `allow` lists its methods (the Allow header). */
export interface RouteMethodMiss {
  handler: undefined
  allow: string
  methods: readonly string[]
}

const EMPTY: RouteParams = Object.freeze({})

/** One pattern's handlers by method, with its Allow list precomputed. */
class Endpoint<H> {
  readonly handlers = new Map<string, H>()
  /** Matches of this endpoint when it has no parameters, made once per method. */
  readonly #static = new Map<string, RouteMatch<H>>()
  #miss: RouteMethodMiss | undefined

  constructor(readonly pattern: string) {}

  add(method: string, handler: H): void {
    if (this.handlers.has(method)) throw new Error(`route ${method} ${this.pattern} is defined twice`)
    this.handlers.set(method, handler)
    this.#static.set(method, { handler, params: EMPTY, pattern: this.pattern })
    this.#miss = undefined
  }

  staticMatch(method: string): RouteMatch<H> | undefined {
    return this.#static.get(method)
  }

  get miss(): RouteMethodMiss {
    this.#miss ??= {
      handler: undefined,
      allow: [...this.handlers.keys()].join(', '),
      methods: [...this.handlers.keys()],
    }
    return this.#miss
  }
}

/** A node of the pattern tree: one path segment position. */
class Node<H> {
  /** Literal children, scanned in order with startsWith (no substring per segment). */
  readonly literals: Array<{ segment: string; node: Node<H> }> = []
  param: { name: string; node: Node<H> } | undefined
  rest: { name: string; endpoint: Endpoint<H> } | undefined
  endpoint: Endpoint<H> | undefined

  child(segment: string): Node<H> {
    let entry = this.literals.find((l) => l.segment === segment)
    if (!entry) this.literals.push((entry = { segment, node: new Node<H>() }))
    return entry.node
  }
}

export class Router<H> {
  readonly #root = new Node<H>()
  /** Patterns without parameters, by their exact path. */
  readonly #exact = new Map<string, Endpoint<H>>()
  readonly #endpoints = new Map<string, Endpoint<H>>()

  /** Adds a handler for `method` on `pattern`; a method defined twice on one pattern throws. */
  on(method: string, pattern: string, handler: H): this {
    let endpoint = this.#endpoints.get(pattern)
    if (!endpoint) {
      endpoint = new Endpoint<H>(pattern)
      this.#endpoints.set(pattern, endpoint)
      this.#insert(pattern, endpoint)
    }
    endpoint.add(method, handler)
    return this
  }

  #insert(pattern: string, endpoint: Endpoint<H>): void {
    if (!pattern.startsWith('/')) throw new Error(`route pattern ${pattern} does not start with /`)
    const segments = pattern.slice(1).split('/')
    if (!segments.some((s) => s.startsWith(':') || s.startsWith('*'))) {
      this.#exact.set(pattern, endpoint)
      return
    }
    let node = this.#root
    segments.forEach((s, i) => {
      if (s.startsWith('*')) {
        if (i !== segments.length - 1)
          throw new Error(`route pattern ${pattern}: *${s.slice(1)} must be the last segment`)
        node.rest = { name: s.slice(1), endpoint }
        return
      }
      if (s.startsWith(':')) {
        if (node.param && node.param.name !== s.slice(1))
          throw new Error(`route pattern ${pattern}: :${s.slice(1)} conflicts with :${node.param.name}`)
        node.param ??= { name: s.slice(1), node: new Node<H>() }
        node = node.param.node
      } else node = node.child(s)
      if (i === segments.length - 1) node.endpoint = endpoint
    })
  }

  /**
   * The handler for `method` on `path` (the request target without its query) and the path's parameters; a
   * RouteMethodMiss when patterns match the path but none has the method; undefined when no pattern matches.
   * Throws BAD_REQUEST for a `:name` segment with malformed percent-encoding.
   */
  find(method: string, path: string): RouteMatch<H> | RouteMethodMiss | undefined {
    const exact = this.#exact.get(path)
    if (exact) return exact.staticMatch(method) ?? this.#walk(method, path, exact)
    return this.#walk(method, path, undefined)
  }

  /** Like find, but a miss throws: NOT_FOUND `no route …`, or METHOD_NOT_ALLOWED with the methods in `details.allow`. */
  route(method: string, path: string): RouteMatch<H> {
    const found = this.find(method, path)
    if (found === undefined) throw new StratosError('NOT_FOUND', `no route ${method} ${path.slice(0, 200)}`)
    if (isMethodMiss(found))
      throw new StratosError('METHOD_NOT_ALLOWED', `${method} is not allowed on ${path.slice(0, 200)}`, {
        allow: found.methods,
      })
    return found
  }

  // Lookup scratch state: find() is synchronous, so one set per router is never shared by two lookups.
  #method = ''
  #path = ''
  /** The first endpoint whose pattern matched the path (for the 405), whatever its methods. */
  #firstMatched: Endpoint<H> | undefined
  /** Parameters collected on the way down (name, raw value, name, raw value…), cut back on backtracking. */
  readonly #found: string[] = []

  #walk(
    method: string,
    path: string,
    firstMatched: Endpoint<H> | undefined,
  ): RouteMatch<H> | RouteMethodMiss | undefined {
    if (path.charCodeAt(0) !== 47 /* / */) return firstMatched?.miss
    this.#method = method
    this.#path = path
    this.#firstMatched = firstMatched
    this.#found.length = 0
    const hit = this.#descend(this.#root, 1)
    const miss = this.#firstMatched
    this.#firstMatched = undefined
    this.#path = ''
    return hit ?? miss?.miss
  }

  /** Matches the segment starting at `at` (just after a slash) against `node`'s children, depth first. */
  #descend(node: Node<H>, at: number): RouteMatch<H> | undefined {
    const path = this.#path
    let end = path.indexOf('/', at)
    if (end === -1) end = path.length
    const last = end === path.length
    for (const { segment, node: next } of node.literals) {
      if (end - at !== segment.length || !path.startsWith(segment, at)) continue
      const hit = last ? this.#arrive(next.endpoint, undefined) : this.#descend(next, end + 1)
      if (hit) return hit
    }
    const found = this.#found
    if (node.param && end > at) {
      found.push(node.param.name, path.slice(at, end))
      const hit = last ? this.#arrive(node.param.node.endpoint, undefined) : this.#descend(node.param.node, end + 1)
      if (hit) return hit
      found.length -= 2
    }
    if (node.rest) {
      found.push(node.rest.name, path.slice(at))
      const hit = this.#arrive(node.rest.endpoint, node.rest.name)
      if (hit) return hit
      found.length -= 2
    }
    return undefined
  }

  #arrive(endpoint: Endpoint<H> | undefined, raw: string | undefined): RouteMatch<H> | undefined {
    if (!endpoint) return undefined
    this.#firstMatched ??= endpoint
    const handler = endpoint.handlers.get(this.#method)
    if (handler === undefined) return undefined
    const params: Record<string, string> = {}
    const found = this.#found
    for (let i = 0; i < found.length; i += 2)
      params[found[i]] = found[i] === raw ? found[i + 1] : decodeSegment(found[i + 1])
    return { handler, params, pattern: endpoint.pattern }
  }
}

/** True when find() matched the path but not the method. */
export function isMethodMiss<H>(found: RouteMatch<H> | RouteMethodMiss): found is RouteMethodMiss {
  return found.handler === undefined
}

function decodeSegment(value: string): string {
  if (!value.includes('%')) return value
  try {
    return decodeURIComponent(value)
  } catch {
    throw new StratosError('BAD_REQUEST', 'malformed percent-encoding in the path')
  }
}
