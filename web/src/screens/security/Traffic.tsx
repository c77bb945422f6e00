// /security/traffic: requests per address over time (chart) and the samples behind it.
import { useCallback, useMemo, useState } from 'react'
import { runtime, type Schema } from '../../api/client'
import { useFormat, useT } from '../../i18n'
import { ErrorBanner, FormField, LineChart, usePolling, type Series } from '../../ui'
import { messages } from './messages'

type Sample = Schema<'TrafficSampleOut'>
type TrafficPage = Schema<'TrafficPage'>

const RANGES = { last15m: 15, last1h: 60, last6h: 360, last24h: 1440, last7d: 10080 } as const
type Range = keyof typeof RANGES
// The chart reads at most this many pages of 100 samples (newest first): bounded work.
const MAX_PAGES = 5
const SERIES = 6

export function Traffic() {
  const t = useT(messages)
  const [range, setRange] = useState<Range>('last1h')
  const [ip, setIp] = useState('')
  const [applied, setApplied] = useState({ ip: '', flagged: false })
  const [flagged, setFlagged] = useState(false)
  const [samples, setSamples] = useState<Sample[]>([])
  const [total, setTotal] = useState(0)
  const [error, setError] = useState<unknown>(null)

  const load = useCallback(async () => {
    const start = new Date(Date.now() - RANGES[range] * 60_000).toISOString()
    const got: Sample[] = []
    let count = 0
    try {
      for (let page = 1; page <= MAX_PAGES; page++) {
        const answer = await runtime.get<TrafficPage>('/anomaly/traffic/', {
          start,
          ip: applied.ip,
          flagged: applied.flagged || null,
          page,
          limit: 100,
        })
        got.push(...answer.items)
        count = answer.total
        if (got.length >= answer.total || answer.items.length === 0) break
      }
      setSamples(got)
      setTotal(count)
      setError(null)
    } catch (e) {
      setError(e)
    }
  }, [range, applied])
  usePolling(load, 10_000)

  const series = useMemo<Series[]>(() => {
    // An address without a sample in a window made no request in it: 0, so a line is
    // drawn even for an address seen in one window only.
    const windows = [...new Set(samples.map((s) => new Date(s.window_start).getTime()))].sort(
      (a, b) => a - b,
    )
    const byIp = new Map<string, Map<number, number>>()
    for (const s of samples) {
      const counts = byIp.get(s.ip) ?? new Map<number, number>()
      counts.set(new Date(s.window_start).getTime(), s.requests)
      byIp.set(s.ip, counts)
    }
    const all = [...byIp.entries()].map(([name, counts]) => ({
      name,
      points: windows.map((x) => ({ x, y: counts.get(x) ?? 0 })),
    }))
    const sum = (s: Series) => s.points.reduce((n, p) => n + p.y, 0)
    return all.sort((a, b) => sum(b) - sum(a))
  }, [samples])
  const drawn = series.slice(0, SERIES)

  return (
    <div className="w4-panel">
      <form
        className="w4-filters"
        onSubmit={(event) => {
          event.preventDefault()
          setApplied({ ip: ip.trim(), flagged })
        }}
      >
        <FormField label={t('range')}>
          <select value={range} onChange={(e) => setRange(e.target.value as Range)}>
            {(Object.keys(RANGES) as Range[]).map((key) => (
              <option key={key} value={key}>
                {t(key)}
              </option>
            ))}
          </select>
        </FormField>
        <FormField label={t('address')} hint={t('addressHelp')}>
          <input
            value={ip}
            onChange={(e) => setIp(e.target.value)}
          />
        </FormField>
        <label className="w4-check">
          <input type="checkbox" checked={flagged} onChange={(e) => setFlagged(e.target.checked)} />
          <span>{t('flaggedOnly')}</span>
        </label>
        <button type="submit">{t('filter')}</button>
        <button type="button" onClick={() => void load()}>
          {t('refresh')}
        </button>
      </form>
      {error ? <ErrorBanner error={error} /> : null}
      {samples.length ? (
        <div data-testid="traffic-chart">
          <LineChart label={t('requestsPerWindow')} series={drawn} />
          <p className="w4-muted">
            {t('chartSummary', { n: samples.length, a: series.length, k: drawn.length })}
          </p>
        </div>
      ) : (
        <p className="w4-muted" data-testid="no-samples">
          {t('noSamples')}
        </p>
      )}
      <h2 id="traffic-samples">{t('samples')}</h2>
      <p className="w4-muted">{t('shown', { shown: samples.length, total })}</p>
      {samples.length ? <SampleTable samples={samples.slice(0, 100)} /> : null}
    </div>
  )
}

function SampleTable({ samples }: { samples: Sample[] }) {
  const t = useT(messages)
  const f = useFormat()
  return (
    <div className="w4-table-wrap">
      <table className="w4-table" aria-labelledby="traffic-samples" data-testid="samples">
        <thead>
          <tr>
            <th scope="col">{t('window')}</th>
            <th scope="col">{t('addr')}</th>
            <th scope="col">{t('requests')}</th>
            <th scope="col">{t('blocked')}</th>
            <th scope="col">{t('errors4xx')}</th>
            <th scope="col">{t('errors5xx')}</th>
            <th scope="col">{t('loginFailures')}</th>
            <th scope="col">{t('notFound')}</th>
            <th scope="col">{t('latency')}</th>
            <th scope="col">{t('score')}</th>
            <th scope="col">{t('flags')}</th>
          </tr>
        </thead>
        <tbody>
          {samples.map((s) => (
            <tr key={`${s.window_start}-${s.ip}`} className={s.flags.length ? 'w4-flagged' : undefined}>
              <td>{f.dateTime(s.window_start)}</td>
              <td className="w4-mono">{s.ip}</td>
              <td>{s.requests}</td>
              <td>{s.blocked}</td>
              <td>{s.status_4xx}</td>
              <td>{s.status_5xx}</td>
              <td>{s.login_failures}</td>
              <td>{s.not_found_paths}</td>
              <td>
                {s.latency_p50_ms ?? '—'} / {s.latency_p99_ms ?? '—'}
              </td>
              <td>{s.score.toFixed(2)}</td>
              <td>{s.flags.join(', ')}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
