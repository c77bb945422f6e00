// The chain's verification: the latest one (a job of the API), and "Verify now" with its
// progress while it runs (polled).
import { useCallback, useEffect, useState } from 'react'
import { api, type Schema } from '../../api/client'
import { useFormat, useT } from '../../i18n'
import { ErrorBanner, Progress, StatusBadge, usePolling } from '../../ui'
import { messages } from './messages'

type Verification = Schema<'VerificationOut'>
const PATH = '/audit/verification'
const ACTIVE = new Set(['pending', 'in_progress'])

export function ChainVerification() {
  const t = useT(messages)
  const f = useFormat()
  const [latest, setLatest] = useState<Verification | null | undefined>(undefined)
  const [error, setError] = useState<unknown>(null)
  const [starting, setStarting] = useState(false)

  const load = useCallback(async () => {
    try {
      setLatest(await api.get<Verification | null>(PATH))
      setError(null)
    } catch (e) {
      setError(e)
    }
  }, [])
  useEffect(() => void load(), [load])
  const running = latest != null && ACTIVE.has(latest.status)
  usePolling(load, running ? 1000 : null, [running])

  const start = async () => {
    setStarting(true)
    try {
      setLatest(await api.post<Verification>(PATH))
      setError(null)
    } catch (e) {
      setError(e)
    } finally {
      setStarting(false)
    }
  }

  return (
    <div className="w4-notice" data-testid="chain">
      <p>{t('chainText')}</p>
      {error ? <ErrorBanner error={error} /> : null}
      <div aria-live="polite" data-testid="chain-status">
        {latest === null ? <p>{t('neverVerified')}</p> : null}
        {latest && running ? (
          <>
            <p>
              <StatusBadge status={latest.status} /> {t('verifyRunning')}
            </p>
            <Progress value={latest.progress} label={t('verifyProgress')} />
          </>
        ) : null}
        {latest && latest.status === 'completed' && latest.intact ? (
          <p data-testid="chain-intact">
            <span className="badge badge-ok">✓ {t('intact')}</span>{' '}
            {t('intactText', {
              n: f.number(latest.records_checked ?? 0),
              seq: latest.head_seq ?? '—',
              when: f.dateTime(latest.finished_at),
            })}
          </p>
        ) : null}
        {latest && latest.status === 'completed' && latest.intact === false ? (
          <div role="alert" data-testid="chain-broken">
            <p>
              <span className="badge badge-bad">✗ {t('broken')}</span>{' '}
              {t('brokenText', {
                seq: latest.first_bad_seq ?? '—',
                n: f.number(latest.records_checked ?? 0),
                when: f.dateTime(latest.finished_at),
              })}
            </p>
            <p className="w4-mono">{latest.reason}</p>
          </div>
        ) : null}
        {latest && (latest.status === 'failed' || latest.status === 'cancelled') ? (
          <p role="alert">
            <StatusBadge status={latest.status} /> {latest.error_message ?? ''}
          </p>
        ) : null}
      </div>
      <button type="button" onClick={() => void start()} disabled={running || starting}>
        {t('verifyNow')}
      </button>
      <p>{t('chainCli')}</p>
      <pre className="w4-mono">taichu audit verify --anchor SEQ:HASH</pre>
    </div>
  )
}
