// /security/blacklist: entries (filters, hits), add one (reason, expiry), remove one.
import { useCallback, useState } from 'react'
import { runtime, type Schema } from '../../api/client'
import { useFormat, useT } from '../../i18n'
import { ConfirmDialog, ErrorBanner, FormField, usePolling } from '../../ui'
import { localToRfc3339 } from './format'
import { messages } from './messages'
import { Pager } from './Pager'

type Entry = Schema<'EntryOut'>
type EntryList = Schema<'EntryList'>
type Action = 'block' | 'monitor'

const LIMIT = 50
const EMPTY = { ip: '', action: 'block' as Action, reason: '', expires: '', force: false }

export function Blacklist() {
  const t = useT(messages)
  const [filters, setFilters] = useState({ ip: '', action: '', active: '' })
  const [applied, setApplied] = useState(filters)
  const [page, setPage] = useState(1)
  const [data, setData] = useState<EntryList | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [form, setForm] = useState(EMPTY)
  const [saving, setSaving] = useState(false)
  const [formError, setFormError] = useState<unknown>(null)
  const [notice, setNotice] = useState('')
  const [removing, setRemoving] = useState<Entry | null>(null)

  const load = useCallback(async () => {
    try {
      const params = { ...applied, page, limit: LIMIT }
      setData(await runtime.get<EntryList>('/anomaly/blacklist/', params))
      setError(null)
    } catch (e) {
      setError(e)
    }
  }, [applied, page])
  usePolling(load, 10_000)

  async function add() {
    setSaving(true)
    setFormError(null)
    setNotice('')
    try {
      const body: Record<string, unknown> = {
        ip: form.ip.trim(),
        action: form.action,
        reason: form.reason,
        force: form.force,
      }
      const expires = localToRfc3339(form.expires)
      if (expires) body.expires_at = expires
      const entry = await runtime.post<Entry>('/anomaly/blacklist/', body)
      setNotice(t('added', { ip: entry.ip }))
      setForm(EMPTY)
      await load()
    } catch (e) {
      setFormError(e)
    } finally {
      setSaving(false)
    }
  }

  async function remove(entry: Entry) {
    setRemoving(null)
    setNotice('')
    try {
      await runtime.delete<Entry>(`/anomaly/blacklist/${entry.id}/`)
      setNotice(t('removed', { ip: entry.ip }))
      await load()
    } catch (e) {
      setError(e)
    }
  }

  return (
    <div className="w4-panel">
      <h2 id="blacklist-add">{t('add')}</h2>
      <form
        className="w4-filters"
        aria-labelledby="blacklist-add"
        onSubmit={(event) => {
          event.preventDefault()
          void add()
        }}
      >
        <FormField label={t('ip')} hint={t('ipHelp')}>
          <input
            value={form.ip}
            required
            maxLength={64}
            onChange={(e) => setForm({ ...form, ip: e.target.value })}
          />
        </FormField>
        <FormField label={t('action')}>
          <select
            value={form.action}
            onChange={(e) => setForm({ ...form, action: e.target.value as Action })}
          >
            <option value="block">{t('actionBlock')}</option>
            <option value="monitor">{t('actionMonitor')}</option>
          </select>
        </FormField>
        <FormField label={t('reason')}>
          <input
            value={form.reason}
            maxLength={500}
            onChange={(e) => setForm({ ...form, reason: e.target.value })}
          />
        </FormField>
        <FormField label={t('expires')} hint={t('expiresHelp')}>
          <input
            type="datetime-local"
            value={form.expires}
            onChange={(e) => setForm({ ...form, expires: e.target.value })}
          />
        </FormField>
        <label className="w4-check">
          <input
            type="checkbox"
            checked={form.force}
            aria-describedby="blacklist-force-help"
            onChange={(e) => setForm({ ...form, force: e.target.checked })}
          />
          <span>{t('force')}</span>
        </label>
        <small id="blacklist-force-help" className="w4-muted">
          {t('forceHelp')}
        </small>
        <button type="submit" disabled={saving}>
          {saving ? t('saving') : t('save')}
        </button>
      </form>
      {formError ? <ErrorBanner error={formError} /> : null}
      <p role="status" className="w4-notice" data-testid="notice">
        {notice}
      </p>

      <h2 id="blacklist-entries">{t('blacklist')}</h2>
      <form
        className="w4-filters"
        aria-label={t('filter')}
        onSubmit={(event) => {
          event.preventDefault()
          setPage(1)
          setApplied({ ...filters, ip: filters.ip.trim() })
        }}
      >
        <FormField label={t('address')}>
          <input value={filters.ip} onChange={(e) => setFilters({ ...filters, ip: e.target.value })} />
        </FormField>
        <FormField label={t('action')}>
          <select
            value={filters.action}
            onChange={(e) => setFilters({ ...filters, action: e.target.value })}
          >
            <option value="">{t('anyAction')}</option>
            <option value="block">block</option>
            <option value="monitor">monitor</option>
          </select>
        </FormField>
        <FormField label={t('state')}>
          <select
            value={filters.active}
            onChange={(e) => setFilters({ ...filters, active: e.target.value })}
          >
            <option value="">{t('anyState')}</option>
            <option value="true">{t('active')}</option>
            <option value="false">{t('expired')}</option>
          </select>
        </FormField>
        <button type="submit">{t('filter')}</button>
      </form>
      {error ? <ErrorBanner error={error} /> : null}
      {data && data.entries.length === 0 ? <p className="w4-muted">{t('noEntries')}</p> : null}
      {data && data.entries.length ? (
        <EntryTable entries={data.entries} onRemove={setRemoving} />
      ) : null}
      {data ? (
        <Pager page={page} limit={LIMIT} total={data.total} onPage={setPage} label={t('blacklist')} />
      ) : null}
      {removing ? (
        <ConfirmDialog
          title={t('removeTitle', { ip: removing.ip })}
          confirmLabel={t('confirmRemove')}
          onCancel={() => setRemoving(null)}
          onConfirm={() => void remove(removing)}
        >
          <p>{t('removeBody')}</p>
        </ConfirmDialog>
      ) : null}
    </div>
  )
}

function EntryTable(props: { entries: Entry[]; onRemove: (entry: Entry) => void }) {
  const t = useT(messages)
  const f = useFormat()
  return (
    <div className="w4-table-wrap">
      <table className="w4-table" aria-labelledby="blacklist-entries" data-testid="entries">
        <thead>
          <tr>
            <th scope="col">{t('address')}</th>
            <th scope="col">{t('action')}</th>
            <th scope="col">{t('state')}</th>
            <th scope="col">{t('reason')}</th>
            <th scope="col">{t('source')}</th>
            <th scope="col">{t('createdBy')}</th>
            <th scope="col">{t('created')}</th>
            <th scope="col">{t('expiresCol')}</th>
            <th scope="col">{t('hits')}</th>
            <th scope="col">{t('lastHit')}</th>
            <th scope="col">
              <span className="w4-sr">{t('remove')}</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {props.entries.map((e) => (
            <tr key={e.id} data-ip={e.ip}>
              <td className="w4-mono">{e.ip}</td>
              <td>
                <span className={`w4-status w4-status-${e.action}`}>{e.action}</span>
              </td>
              <td>{e.active ? t('active') : t('expired')}</td>
              <td>{e.reason}</td>
              <td>{e.source}</td>
              <td>{e.created_by ?? t('platform')}</td>
              <td>{f.dateTime(e.created_at)}</td>
              <td>{e.expires_at ? f.dateTime(e.expires_at) : t('never')}</td>
              <td>{e.hits}</td>
              <td>{f.dateTime(e.last_hit_at)}</td>
              <td>
                <button
                  type="button"
                  aria-label={`${t('remove')} ${e.ip}`}
                  onClick={() => props.onRemove(e)}
                >
                  {t('remove')}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
