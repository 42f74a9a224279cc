/**
 * Operator view (my resource nodes: state, stored bytes, traffic served per epoch, rewards, as charts) and the
 * network page (nodes, capacity, height, epoch).
 */
import type { WalletKey } from '../../../../src/crypto/wallet-key.ts'
import type { NodeTrafficList } from '../../../../src/sds/protocol/api.ts'
import { chain } from '../lib/chain.ts'
import { formatBytes, formatStos, shortAddress } from '../lib/format.ts'
import { meta } from '../lib/meta.ts'
import { BarChart, ErrorBox, Spinner, useLoad } from './common.tsx'

const EPOCHS_SHOWN = 8

async function trafficHistory(): Promise<NodeTrafficList[]> {
  const now = await meta.trafficNodes()
  const from = Math.max(0, now.currentEpoch - EPOCHS_SHOWN + 1)
  const epochs = Array.from({ length: now.currentEpoch - from + 1 }, (_, i) => from + i)
  return Promise.all(epochs.map((e) => (e === now.epoch ? Promise.resolve(now) : meta.trafficNodes(e))))
}

export function Operator({ wallet }: { wallet: WalletKey }) {
  const nodes = useLoad(() => chain.resourceNodes(), [], 10_000)
  const status = useLoad(() => meta.status(), [], 10_000)
  const traffic = useLoad(() => trafficHistory(), [], 15_000)
  const rewards = useLoad(() => chain.rewards(wallet.address), [wallet.address], 10_000)
  const mine = (nodes.data ?? []).filter((n) => n.owner === wallet.address)
  const mineSet = new Set(mine.map((n) => n.node))
  const byEpoch = (traffic.data ?? []).map((t) => ({
    label: String(t.epoch),
    value: t.nodes.filter((n) => mineSet.has(n.node)).reduce((a, n) => a + n.bytes, 0),
  }))
  const rewardBars = [...(rewards.data ?? [])]
    .sort((a, b) => a.epoch - b.epoch)
    .slice(-EPOCHS_SHOWN)
    .map((r) => ({ label: String(r.epoch), value: Number(r.amount / 10n ** 12n) / 1e6 }))
  return (
    <section aria-labelledby="op-h">
      <h1 id="op-h">My nodes</h1>
      <ErrorBox error={nodes.error ?? status.error ?? traffic.error} />
      {nodes.data === undefined ? (
        <Spinner />
      ) : mine.length === 0 ? (
        <p class="muted">
          This account owns no resource node. Register one with <code>stratos node register</code>; it shows here.
        </p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Node</th>
                <th>Chain state</th>
                <th>Online</th>
                <th>Stored</th>
                <th>Deposit</th>
              </tr>
            </thead>
            <tbody>
              {mine.map((n) => {
                const live = status.data?.nodes.find((x) => x.address === n.node)
                return (
                  <tr key={n.node}>
                    <td>
                      {n.moniker} <code>{shortAddress(n.node)}</code>
                    </td>
                    <td>{n.status}</td>
                    <td>{live?.state ?? '?'}</td>
                    <td>{live ? `${formatBytes(live.usedBytes)} of ${formatBytes(live.capacityBytes)}` : '—'}</td>
                    <td>{formatStos(n.deposit, 0)}</td>
                  </tr>
                )
              })}
            </tbody>
          </table>
        </div>
      )}
      <div class="cards">
        <BarChart title="Traffic my nodes served, per epoch" bars={byEpoch} format={(v) => formatBytes(v)} />
        <BarChart title="My rewards credited, per epoch (STOS)" bars={rewardBars} format={(v) => `${v} STOS`} />
      </div>
    </section>
  )
}

export function Network() {
  const chainStatus = useLoad(() => chain.status(), [], 5000)
  const status = useLoad(() => meta.status(), [], 10_000)
  const t = status.data?.totals
  return (
    <section aria-labelledby="net-h">
      <h1 id="net-h">Network</h1>
      <ErrorBox error={chainStatus.error ?? status.error} />
      <div class="cards">
        <div class="card">
          <h2>Chain</h2>
          <p>
            Height <strong data-testid="height">{chainStatus.data?.height ?? '…'}</strong>, epoch{' '}
            {chainStatus.data?.epoch ?? '…'}
          </p>
          <p class="muted">{chainStatus.data?.chainId}</p>
        </div>
        <div class="card">
          <h2>Storage</h2>
          {t ? (
            <p>
              {t.nodesOnline} nodes online{t.nodesOffline > 0 ? `, ${t.nodesOffline} offline` : ''} ·{' '}
              {formatBytes(t.usedBytes)} used of {formatBytes(t.capacityBytes)} · {t.files} files
            </p>
          ) : (
            <Spinner />
          )}
        </div>
      </div>
      {status.data && (
        <BarChart
          title="Used bytes per node"
          bars={status.data.nodes.map((n) => ({ label: shortAddress(n.address).slice(-4), value: n.usedBytes }))}
          format={(v) => formatBytes(v)}
        />
      )}
      {status.data && (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Node</th>
                <th>State</th>
                <th>Used</th>
                <th>Capacity</th>
                <th>Shards</th>
              </tr>
            </thead>
            <tbody>
              {status.data.nodes.map((n) => (
                <tr key={n.address}>
                  <td>
                    <code>{shortAddress(n.address)}</code>
                  </td>
                  <td>
                    {n.state}
                    {n.chainState ? ` (${n.chainState})` : ''}
                  </td>
                  <td>{formatBytes(n.usedBytes)}</td>
                  <td>{formatBytes(n.capacityBytes)}</td>
                  <td>{n.shardCount}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  )
}
