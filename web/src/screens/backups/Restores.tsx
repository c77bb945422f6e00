// A backup's restores with live progress: polled every 2 s while one runs.
import { useState } from 'react';
import { api } from '../../api/client';
import { useFormat, useT } from '../../i18n';
import { ErrorBanner, Progress, usePolling } from '../../ui';
import { messages } from './messages';
import { isActive, RunStatus, type BackupDetail, type RestoreList, type RestoreStatus } from './model';

const COUNT_KEYS = ['restored', 'created', 'updated', 'skipped', 'failed'] as const;

export function Restores({
  clusterId,
  backup,
  latest,
  onClose,
}: {
  clusterId: string;
  backup: BackupDetail;
  /** A restore just started (shown at once, before the first poll). */
  latest: RestoreStatus | null;
  onClose: () => void;
}) {
  const t = useT(messages);
  const [list, setList] = useState<RestoreStatus[]>(latest ? [latest] : []);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const running = list.some((r) => isActive(r.status));
  usePolling(
    async () => {
      try {
        const data = await api.get<RestoreList>(`/clusters/${clusterId}/backups/${backup.id}/restores`, { limit: 10 });
        setList(data.restores);
        setLoaded(true);
        setError(null);
      } catch (e) {
        setError(e);
      }
    },
    running || !loaded ? 2000 : 10000,
    [clusterId, backup.id],
  );
  return (
    <section className="backups-section" aria-labelledby="restores-heading">
      <header className="backups-section-header">
        <h2 id="restores-heading">{t('restoresOf', { name: backup.backup_name })}</h2>
        <button type="button" onClick={onClose}>
          {t('hide')}
        </button>
      </header>
      <ErrorBanner error={error} />
      {loaded && list.length === 0 && <p className="muted">{t('noRestores')}</p>}
      <ul className="restore-list">
        {list.map((r) => (
          <RestoreCard key={r.restore_id} clusterId={clusterId} restore={r} onError={setError} />
        ))}
      </ul>
    </section>
  );
}

function RestoreCard({
  clusterId,
  restore: r,
  onError,
}: {
  clusterId: string;
  restore: RestoreStatus;
  onError: (e: unknown) => void;
}) {
  const t = useT(messages);
  const f = useFormat();
  const active = isActive(r.status);
  const kinds = Object.entries(r.counts ?? {});
  const stop = async () => {
    try {
      await api.post(`/clusters/${clusterId}/backups/${r.backup_id}/restore/${r.restore_id}/cancel`, {});
    } catch (e) {
      onError(e);
    }
  };
  return (
    <li className="restore-card" data-restore={r.restore_id} data-status={r.status}>
      <div className="restore-head">
        <strong>{r.restore_name}</strong> <RunStatus status={r.status} />
        {r.dry_run && <span className="badge badge-neutral">{t('dryRunBadge')}</span>}
        <span className="muted">
          {f.dateTime(r.created_at)}
          {r.target_cluster_id !== r.source_cluster_id ? ` · ${t('into', { target: r.target_cluster_id })}` : ''}
        </span>
        {active && (
          <button type="button" onClick={stop}>
            {t('cancelRun')}
          </button>
        )}
      </div>
      <Progress value={r.progress} label={t('restoreProgress', { name: r.restore_name })} detail={r.current_step} />
      {r.items_total > 0 && (
        <Progress value={r.items_done} max={r.items_total} format="count" label={t('restoreItems', { name: r.restore_name })} />
      )}
      {active && r.estimated_time != null && r.estimated_time > 0 && (
        <p className="muted">{t('eta', { seconds: f.number(r.estimated_time) })}</p>
      )}
      {r.error_message && <p className="error-text">{r.error_message}</p>}
      {kinds.length > 0 && (
        <details>
          <summary>{t('counts')}</summary>
          <table className="backups-table">
            <thead>
              <tr>
                <th scope="col">{t('kind')}</th>
                {COUNT_KEYS.map((k) => (
                  <th scope="col" key={k}>
                    {t(k)}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {kinds.map(([kind, counts]) => (
                <tr key={kind}>
                  <th scope="row">{kind}</th>
                  {COUNT_KEYS.map((k) => (
                    <td key={k}>{f.number(counts[k] ?? 0)}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
      {r.errors.length > 0 && (
        <details open>
          <summary>{t('errors')}</summary>
          <ul>
            {r.errors.map((e, i) => (
              <li key={i}>
                {e.kind} {e.namespace ? `${e.namespace}/` : ''}
                {e.name}: {e.error}
              </li>
            ))}
          </ul>
        </details>
      )}
    </li>
  );
}
