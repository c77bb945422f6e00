// /security/anomalies: what the detectors found, newest first, with its evidence.
import { useCallback, useState } from 'react'
import { runtime, type Schema } from '../../api/client'
import { useFormat, useT } from '../../i18n'
import { ErrorBanner, FormField, usePolling } from '../../ui'
import { compact, localToRfc3339 } from './format'
import { messages } from './messages'
import { Pager } from './Pager'

type Event = Schema<'AnomalyEventOut'>
type EventPage = Schema<'EventPage'>

// The API's detectors (taichu/traffic/settings.py DETECTORS).
const DETECTORS = [
  'brute_force',
  'brute_force_user',
  'credential_stuffing',
  'scanning',
  'rate_spike',
  'error_storm',
]
const LIMIT = 50

export function Anomalies() {
  const t = useT(messages)
  const [form, setForm] = useState({ ip: '', detector: '', since: '' })
  const [applied, setApplied] = useState(form)
  const [page, setPage] = useState(1)
  const [data, setData] = useState<EventPage | null>(null)
  const [error, setError] = useState<unknown>(null)

  const load = useCallback(async () => {
    try {
      const params = {
        ip: applied.ip,
        detector: applied.detector,
        since: localToRfc3339(applied.since),
        page,
        limit: LIMIT,
      }
      setData(await runtime.get<EventPage>('/anomaly/events/', params))
      setError(null)
    } catch (e) {
      setError(e)
    }
  }, [applied, page])
  usePolling(load, 15_000)

  return (
    <div className="w4-panel">
      <form
        className="w4-filters"
        onSubmit={(event) => {
          event.preventDefault()
          setPage(1)
          setApplied({ ...form, ip: form.ip.trim() })
        }}
      >
        <FormField label={t('address')}>
          <input value={form.ip} onChange={(e) => setForm({ ...form, ip: e.target.value })} />
        </FormField>
        <FormField label={t('detector')}>
          <select
            value={form.detector}
            onChange={(e) => setForm({ ...form, detector: e.target.value })}
          >
            <option value="">{t('anyDetector')}</option>
            {DETECTORS.map((d) => (
              <option key={d} value={d}>
                {d}
              </option>
            ))}
          </select>
        </FormField>
        <FormField label={t('since')}>
          <input
            type="datetime-local"
            value={form.since}
            onChange={(e) => setForm({ ...form, since: e.target.value })}
          />
        </FormField>
        <button type="submit">{t('filter')}</button>
        <button type="button" onClick={() => void load()}>
          {t('refresh')}
        </button>
      </form>
      {error ? <ErrorBanner error={error} /> : null}
      <h2 id="anomaly-events">{t('anomalies')}</h2>
      {data && data.items.length === 0 ? <p className="w4-muted">{t('noEvents')}</p> : null}
      {data && data.items.length ? <EventTable events={data.items} /> : null}
      {data ? (
        <Pager
          page={page}
          limit={LIMIT}
          total={data.total}
          onPage={setPage}
          label={t('anomalies')}
        />
      ) : null}
    </div>
  )
}

function EventTable({ events }: { events: Event[] }) {
  const t = useT(messages)
  const f = useFormat()
  return (
    <div className="w4-table-wrap">
      <table className="w4-table" aria-labelledby="anomaly-events" data-testid="events">
        <thead>
          <tr>
            <th scope="col">{t('recorded')}</th>
            <th scope="col">{t('detector')}</th>
            <th scope="col">{t('target')}</th>
            <th scope="col">{t('window')}</th>
            <th scope="col">{t('score')}</th>
            <th scope="col">{t('mode')}</th>
            <th scope="col">{t('offence')}</th>
            <th scope="col">{t('blockedUntil')}</th>
            <th scope="col">{t('evidence')}</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.id}>
              <td>{f.dateTime(e.created_at)}</td>
              <td>{e.detector}</td>
              <td className="w4-mono">{[e.ip, e.username].filter(Boolean).join(' / ')}</td>
              <td>
                {f.dateTime(e.window_start)} – {f.dateTime(e.window_end)}
              </td>
              <td>{e.score.toFixed(2)}</td>
              <td>
                <span className={`w4-status w4-status-${e.mode}`}>{e.mode}</span>
              </td>
              <td>{e.offence}</td>
              <td>{f.dateTime(e.blocked_until)}</td>
              <td className="w4-mono w4-evidence">{compact(e.evidence)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
