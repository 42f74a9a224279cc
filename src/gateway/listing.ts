/** The HTML page of a directory without index.html: one row per entry (name, CID, size), links relative to the page. */
import type { DirectoryListEntry } from '../ipfs/dag.ts'

export function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  )
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`
}

export interface ListingPage {
  /** The content path shown as the title (/ipfs/CID/…). */
  contentPath: string
  cid: string
  /** Cumulative DAG size of the directory. */
  size: number
  entries: DirectoryListEntry[]
  hasParent: boolean
  truncated: boolean
  /** Link each entry's CID to /ipfs/{cid}; false inside a share link (entries stay within the link). Default true. */
  linkCids?: boolean
}

export function renderListing(p: ListingPage): string {
  const rows: string[] = []
  if (p.hasParent) rows.push('<tr><td class="type">↩</td><td><a href="../">..</a></td><td></td><td></td></tr>')
  for (const e of p.entries) {
    const href = encodeURIComponent(e.name) + (e.type === 'directory' ? '/' : '')
    const cid = e.cid.toString()
    rows.push(
      `<tr><td class="type">${e.type === 'directory' ? '📁' : '📄'}</td>` +
        `<td><a href="./${escapeHtml(href)}">${escapeHtml(e.name)}</a></td>` +
        (p.linkCids === false
          ? `<td class="cid">${escapeHtml(cid)}</td>`
          : `<td class="cid"><a href="/ipfs/${escapeHtml(cid)}?filename=${escapeHtml(encodeURIComponent(e.name))}">${escapeHtml(cid)}</a></td>`) +
        `<td class="size">${e.type === 'directory' ? '' : escapeHtml(formatBytes(e.size))}</td></tr>`,
    )
  }
  const title = escapeHtml(p.contentPath)
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;width:100%}td{padding:.3em .6em;border-bottom:1px solid #eee}
.cid{font-family:monospace;font-size:.85em;color:#666}.size{text-align:right;white-space:nowrap}.type{width:1.5em}a{color:#0b63c5;text-decoration:none}</style>
</head><body>
<h1>Index of ${title}</h1>
<p class="cid">${escapeHtml(p.cid)} · ${escapeHtml(formatBytes(p.size))}</p>
<table>
${rows.join('\n')}
</table>
${p.truncated ? `<p>Only the first ${p.entries.length} entries are listed.</p>` : ''}
</body></html>
`
}
