// /commands: a kubectl box (cluster, command, optional manifest) and the caller's history.
import { useCallback, useEffect, useRef, useState, type KeyboardEvent } from 'react'
import { api, runtime, ApiError, type Schema } from '../../api/client'
import { useAuth } from '../../api/auth'
import { useFormat, useT } from '../../i18n'
import { ErrorBanner, FormField, Page } from '../../ui'
import '../security/w4.css'
import { messages } from './messages'
import { Terminal, type CommandResult } from './Terminal'

type Summary = Schema<'CommandSummary'>
type HistoryPage = Schema<'HistoryPage'>
type ClusterList = Schema<'ClusterList'>

interface Refusal {
  command: string
  message: string
}

export function CommandsScreen() {
  const t = useT(messages)
  const { isAdmin } = useAuth()
  const [clusters, setClusters] = useState<ClusterList['clusters']>([])
  const [clusterId, setClusterId] = useState('')
  const [command, setCommand] = useState('kubectl get ns')
  const [manifest, setManifest] = useState('')
  const [timeout, setTimeoutSeconds] = useState('')
  const [busy, setBusy] = useState(false)
  const [result, setResult] = useState<CommandResult | null>(null)
  const [refusal, setRefusal] = useState<Refusal | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [history, setHistory] = useState<HistoryPage | null>(null)
  // Position while walking the history with ↑/↓ (-1: the line being typed).
  const recall = useRef(-1)
  const typed = useRef('')
  const input = useRef<HTMLInputElement>(null)

  useEffect(() => {
    api
      .get<ClusterList>('/clusters', { limit: 100 })
      .then((list) => {
        setClusters(list.clusters)
        if (list.clusters.length) setClusterId((id) => id || list.clusters[0].id)
      })
      .catch(setError)
  }, [])

  const loadHistory = useCallback(() => {
    runtime
      .get<HistoryPage>('/state/history/', { limit: 50 })
      .then(setHistory)
      .catch(setError)
  }, [])
  useEffect(loadHistory, [loadHistory])

  async function run() {
    if (!clusterId || !command.trim() || busy) return
    setBusy(true)
    setError(null)
    setRefusal(null)
    recall.current = -1
    try {
      const body: Record<string, unknown> = { cluster_id: clusterId, command }
      if (manifest) body.manifest = manifest
      if (timeout) body.timeout_seconds = Number(timeout)
      setResult(await runtime.post<CommandResult>('/state/command/', body))
    } catch (e) {
      setResult(null)
      // A 422 naming `command:` is the policy's refusal; anything else is a plain error.
      if (e instanceof ApiError && e.status === 422 && e.field === 'command') {
        setRefusal({ command, message: e.message })
      } else {
        setError(e)
      }
    } finally {
      setBusy(false)
      loadHistory()
      input.current?.focus()
    }
  }

  async function show(entry: Summary) {
    setError(null)
    setRefusal(null)
    if (entry.status === 'refused') {
      setResult(null)
      setRefusal({ command: entry.command, message: `command: ${entry.reason ?? ''}` })
      return
    }
    try {
      setResult(await runtime.get<CommandResult>(`/state/history/${entry.id}/`))
    } catch (e) {
      setError(e)
    }
  }

  function onKey(event: KeyboardEvent<HTMLInputElement>) {
    const past = history?.results ?? []
    if (event.key === 'Enter') {
      event.preventDefault()
      void run()
    } else if (event.key === 'ArrowUp' && past.length) {
      event.preventDefault()
      if (recall.current === -1) typed.current = command
      recall.current = Math.min(recall.current + 1, past.length - 1)
      setCommand(past[recall.current].command)
    } else if (event.key === 'ArrowDown' && recall.current >= 0) {
      event.preventDefault()
      recall.current -= 1
      setCommand(recall.current === -1 ? typed.current : past[recall.current].command)
    }
  }

  return (
    <Page title={t('title')}>
      <div className="w4-screen">
      <p className="w4-intro">{t('intro')}</p>
      {error ? <ErrorBanner error={error} /> : null}
      <form
        className="w4-kubectl"
        onSubmit={(event) => {
          event.preventDefault()
          void run()
        }}
      >
        <div className="w4-row">
          <FormField label={t('cluster')}>
            <select value={clusterId} onChange={(e) => setClusterId(e.target.value)} required>
              {clusters.length === 0 ? <option value="">{t('noClusters')}</option> : null}
              {clusters.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name}
                </option>
              ))}
            </select>
          </FormField>
          <FormField label={t('timeout')} hint={t('timeoutHelp')}>
            <input
              type="number"
              min={1}
              inputMode="numeric"
              value={timeout}
              onChange={(e) => setTimeoutSeconds(e.target.value)}
            />
          </FormField>
        </div>
        <FormField label={t('command')} hint={t('commandHelp')}>
          {(field) => (
            <span className="w4-prompt-line">
              <span aria-hidden="true" className="w4-prompt">
                $
              </span>
              <input
                {...field}
                ref={input}
                className="w4-mono"
                value={command}
                spellCheck={false}
                autoComplete="off"
                autoCapitalize="off"
                onChange={(e) => setCommand(e.target.value)}
                onKeyDown={onKey}
              />
              <button type="submit" className="primary" disabled={busy || !clusterId}>
                {busy ? t('running') : t('run')}
              </button>
            </span>
          )}
        </FormField>
        <details className="w4-manifest">
          <summary>{t('manifest')}</summary>
          <FormField label={t('manifest')} hint={t('manifestHelp')}>
            <textarea
              className="w4-mono"
              rows={8}
              value={manifest}
              spellCheck={false}
              onChange={(e) => setManifest(e.target.value)}
            />
          </FormField>
        </details>
      </form>

      <h2>{t('output')}</h2>
      <div aria-live="polite">
        {refusal ? (
          <div className="w4-refusal" role="alert" data-testid="refusal">
            <strong>{t('refused')}</strong>
            <p>{t('refusedHelp')}</p>
            <pre className="w4-mono">$ {refusal.command}</pre>
            <p className="w4-refusal-message">{refusal.message}</p>
          </div>
        ) : result ? (
          <Terminal result={result} />
        ) : (
          <p className="w4-muted">{t('noOutput')}</p>
        )}
      </div>

      <div className="w4-heading-row">
        <h2 id="commands-history">{isAdmin ? t('historyAll') : t('history')}</h2>
        <button type="button" onClick={loadHistory}>
          {t('refresh')}
        </button>
      </div>
      {history ? <p className="w4-muted">{t('total', { n: history.total })}</p> : null}
      <HistoryTable
        rows={history?.results ?? []}
        showUser={isAdmin}
        onShow={show}
        onAgain={(entry) => {
          setCommand(entry.command)
          input.current?.focus()
        }}
      />
      </div>
    </Page>
  )
}

function HistoryTable(props: {
  rows: Summary[]
  showUser: boolean
  onShow: (entry: Summary) => void
  onAgain: (entry: Summary) => void
}) {
  const t = useT(messages)
  const f = useFormat()
  if (!props.rows.length) return <p className="w4-muted">{t('emptyHistory')}</p>
  return (
    <div className="w4-table-wrap">
      <table className="w4-table" aria-labelledby="commands-history" data-testid="history">
        <thead>
          <tr>
            <th scope="col">{t('when')}</th>
            {props.showUser ? <th scope="col">{t('user')}</th> : null}
            <th scope="col">{t('cluster')}</th>
            <th scope="col">{t('command')}</th>
            <th scope="col">{t('status')}</th>
            <th scope="col">{t('exitCode')}</th>
            <th scope="col">{t('duration')}</th>
            <th scope="col">
              <span className="w4-sr">{t('show')}</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {props.rows.map((row) => (
            <tr key={row.id}>
              <td>{f.dateTime(row.created_at)}</td>
              {props.showUser ? <td>{row.user}</td> : null}
              <td>{row.cluster_name ?? row.cluster_id}</td>
              <td className="w4-mono" title={row.reason ?? undefined}>
                {row.command}
              </td>
              <td>
                <span className={`w4-status w4-status-${row.status}`}>{row.status}</span>
              </td>
              <td>{row.returncode ?? '—'}</td>
              <td>{t('ms', { n: row.duration_ms })}</td>
              <td className="w4-actions">
                <button type="button" onClick={() => props.onShow(row)}>
                  {t('show')}
                </button>
                <button type="button" onClick={() => props.onAgain(row)}>
                  {t('again')}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
