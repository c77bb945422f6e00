// /audit (administrators): the audit log with the API's filters, and how to verify the chain.
import { useCallback, useEffect, useState } from 'react'
import { api, type Schema } from '../../api/client'
import { useAuth } from '../../api/auth'
import { useFormat, useT } from '../../i18n'
import { ErrorBanner, FormField, Page } from '../../ui'
import { compact, localToRfc3339 } from '../security/format'
import { Pager } from '../security/Pager'
import '../security/w4.css'
import { ChainVerification } from './ChainVerification'
import { messages } from './messages'

type Record_ = Schema<'AuditEventOut'>
type RecordList = Schema<'AuditEventList'>
type ClusterList = Schema<'ClusterList'>

const LIMIT = 50
const EMPTY = { user: '', event_type: '', action: '', result: '', cluster: '', from: '', to: '' }

export function AuditScreen() {
  const t = useT(messages)
  const { isAdmin } = useAuth()
  return (
    <Page title={t('title')}>
      <div className="w4-screen">
        {isAdmin ? (
          <AuditLog />
        ) : (
          <p className="notice" role="note" data-testid="admins-only">
            {t('adminsOnly')}
          </p>
        )}
      </div>
    </Page>
  )
}

function AuditLog() {
  const t = useT(messages)
  const [form, setForm] = useState(EMPTY)
  const [applied, setApplied] = useState(EMPTY)
  const [page, setPage] = useState(1)
  const [data, setData] = useState<RecordList | null>(null)
  const [clusters, setClusters] = useState<ClusterList['clusters']>([])
  const [error, setError] = useState<unknown>(null)

  useEffect(() => {
    api
      .get<ClusterList>('/clusters', { limit: 100 })
      .then((list) => setClusters(list.clusters))
      .catch(setError)
  }, [])

  const load = useCallback(async () => {
    const params = {
      user: applied.user,
      event_type: applied.event_type,
      action: applied.action,
      result: applied.result,
      start_time: localToRfc3339(applied.from),
      end_time: localToRfc3339(applied.to),
      page,
      limit: LIMIT,
    }
    // A cluster's records have their own list (the same filters).
    const base = applied.cluster ? `/clusters/${applied.cluster}/audit` : '/audit'
    try {
      setData(await api.get<RecordList>(base, params))
      setError(null)
    } catch (e) {
      setError(e)
    }
  }, [applied, page])
  useEffect(() => void load(), [load])

  const text = (key: keyof typeof EMPTY, label: string, hint?: string) => (
    <FormField label={label} hint={hint}>
      <input
        value={form[key]}
        maxLength={64}
        onChange={(e) => setForm({ ...form, [key]: e.target.value })}
      />
    </FormField>
  )

  return (
    <>
      <form
        className="w4-filters"
        aria-label={t('filters')}
        onSubmit={(event) => {
          event.preventDefault()
          setPage(1)
          setApplied({ ...form })
        }}
      >
        {text('user', t('user'))}
        {text('event_type', t('eventType'), t('eventTypeHelp'))}
        {text('action', t('action'), t('actionHelp'))}
        <FormField label={t('result')}>
          <select value={form.result} onChange={(e) => setForm({ ...form, result: e.target.value })}>
            <option value="">{t('anyResult')}</option>
            <option value="success">{t('success')}</option>
            <option value="failure">{t('failure')}</option>
          </select>
        </FormField>
        <FormField label={t('cluster')}>
          <select
            value={form.cluster}
            onChange={(e) => setForm({ ...form, cluster: e.target.value })}
          >
            <option value="">{t('anyCluster')}</option>
            {clusters.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </FormField>
        <FormField label={t('from')}>
          <input
            type="datetime-local"
            step={1}
            value={form.from}
            onChange={(e) => setForm({ ...form, from: e.target.value })}
          />
        </FormField>
        <FormField label={t('to')}>
          <input
            type="datetime-local"
            step={1}
            value={form.to}
            onChange={(e) => setForm({ ...form, to: e.target.value })}
          />
        </FormField>
        <button type="submit">{t('apply')}</button>
        <button
          type="button"
          onClick={() => {
            setForm(EMPTY)
            setApplied(EMPTY)
            setPage(1)
          }}
        >
          {t('clear')}
        </button>
        <button type="button" onClick={() => void load()}>
          {t('refresh')}
        </button>
      </form>
      {error ? <ErrorBanner error={error} /> : null}

      <h2 id="audit-records">{t('records')}</h2>
      {data ? (
        <p className="w4-muted" data-testid="audit-total">
          {t('total', { n: data.total })}
        </p>
      ) : null}
      {data && data.events.length === 0 ? <p className="w4-muted">{t('none')}</p> : null}
      {data && data.events.length ? <RecordTable records={data.events} /> : null}
      {data ? (
        <Pager page={page} limit={LIMIT} total={data.total} onPage={setPage} label={t('records')} />
      ) : null}

      <h2>{t('chain')}</h2>
      <ChainVerification />
    </>
  )
}

function RecordTable({ records }: { records: Record_[] }) {
  const t = useT(messages)
  const f = useFormat()
  return (
    <div className="w4-table-wrap">
      <table className="w4-table" aria-labelledby="audit-records" data-testid="audit">
        <thead>
          <tr>
            <th scope="col">{t('time')}</th>
            <th scope="col">{t('user')}</th>
            <th scope="col">{t('address')}</th>
            <th scope="col">{t('eventType')}</th>
            <th scope="col">{t('action')}</th>
            <th scope="col">{t('resource')}</th>
            <th scope="col">{t('result')}</th>
            <th scope="col">{t('change')}</th>
          </tr>
        </thead>
        <tbody>
          {records.map((r) => {
            const change = [compact(r.old_value), compact(r.new_value)].filter(Boolean).join(' → ')
            const details = compact(r.details)
            return (
              <tr key={r.id} data-event-type={r.event_type} data-action={r.action}>
                <td>{f.dateTime(r.timestamp)}</td>
                <td>{r.user ?? '—'}</td>
                <td className="w4-mono">{r.ip_address ?? ''}</td>
                <td>{r.event_type}</td>
                <td>{r.action}</td>
                <td className="w4-mono">
                  {r.resource}
                  {r.resource_id ? ` ${r.resource_id}` : ''}
                </td>
                <td>
                  <span className={`w4-status w4-status-${r.result}`}>
                    {r.result === 'success' || r.result === 'failure' ? t(r.result) : r.result}
                  </span>
                </td>
                <td className="w4-mono w4-evidence">
                  {change}
                  {details ? (
                    <>
                      {change ? <br /> : null}
                      {t('details')}: {details}
                    </>
                  ) : null}
                </td>
              </tr>
            )
          })}
        </tbody>
      </table>
    </div>
  )
}
