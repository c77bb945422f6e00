// A cluster's backups (W2), mounted by the cluster page's "backups" tab and by
// /backups/:clusterId: the list with live progress, create, restore (with its live
// progress), delete, cancel, and the cluster's schedules.
import { useCallback, useRef, useState } from 'react';
import { api } from '../../api/client';
import { useFormat, useT } from '../../i18n';
import { ConfirmDialog, ErrorBanner, Progress, usePolling } from '../../ui';
import { CreateBackup } from './CreateBackup';
import { messages } from './messages';
import { isActive, RunStatus, type BackupDetail, type BackupList, type BackupRow, type RestoreStatus } from './model';
import { Restores } from './Restores';
import { RestoreBackup } from './RestoreBackup';
import { Schedules } from './Schedules';
import './backups.css';

const PAGE = 20;

export function ClusterBackups({ clusterId }: { clusterId: string }) {
  const t = useT(messages);
  const f = useFormat();
  const [page, setPage] = useState(1);
  const [rows, setRows] = useState<BackupRow[]>([]);
  const [total, setTotal] = useState(0);
  const [loaded, setLoaded] = useState(false);
  // Details (progress, expiry) of the listed backups; a finished backup's is fetched once.
  const [details, setDetails] = useState<Record<string, BackupDetail>>({});
  const known = useRef<Record<string, BackupDetail>>({});
  const [error, setError] = useState<unknown>(null);
  const [creating, setCreating] = useState(false);
  const [restoring, setRestoring] = useState<BackupDetail | null>(null);
  const [watching, setWatching] = useState<{ backup: BackupDetail; latest: RestoreStatus | null } | null>(null);
  const [deleting, setDeleting] = useState<BackupDetail | null>(null);
  const createButton = useRef<HTMLButtonElement>(null);

  const load = useCallback(async () => {
    try {
      const data = await api.get<BackupList>(`/clusters/${clusterId}/backups`, { page, limit: PAGE });
      const stale = data.backups.filter((b) => {
        const d = known.current[b.id];
        return !d || d.status !== b.status || isActive(b.status);
      });
      const fresh = await Promise.all(stale.map((b) => api.get<BackupDetail>(`/clusters/${clusterId}/backups/${b.id}`)));
      for (const d of fresh) known.current[d.id] = d;
      setRows(data.backups);
      setTotal(data.total);
      setDetails({ ...known.current });
      setLoaded(true);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [clusterId, page]);
  const anyActive = rows.some((b) => isActive(b.status));
  usePolling(load, anyActive ? 1500 : 10000, [load]);

  const act = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
      await load();
    } catch (e) {
      setError(e);
    }
  };
  const pages = Math.max(1, Math.ceil(total / PAGE));

  return (
    <div className="backups">
      <section className="backups-section" aria-labelledby="backups-heading">
        <header className="backups-section-header">
          <h2 id="backups-heading">{t('backups')}</h2>
          <button ref={createButton} type="button" className="primary" onClick={() => setCreating(true)}>
            {t('create')}
          </button>
        </header>
        <ErrorBanner error={error} onDismiss={() => setError(null)} />
        {loaded && rows.length === 0 && <p className="muted">{t('noBackups')}</p>}
        {rows.length > 0 && (
          <table className="backups-table" aria-labelledby="backups-heading">
            <thead>
              <tr>
                <th scope="col">{t('colName')}</th>
                <th scope="col">{t('colType')}</th>
                <th scope="col">{t('colStatus')}</th>
                <th scope="col">{t('colSize')}</th>
                <th scope="col">{t('colCreated')}</th>
                <th scope="col">{t('colExpires')}</th>
                <th scope="col">{t('colActions')}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((b) => {
                const d = details[b.id];
                const active = isActive(b.status);
                return (
                  <tr key={b.id} data-backup={b.backup_name} data-status={b.status}>
                    <th scope="row">{b.backup_name}</th>
                    <td>{b.backup_type}</td>
                    <td className="backups-status">
                      <RunStatus status={b.status} />
                      {active && (
                        <Progress
                          value={d?.progress ?? 0}
                          label={t('backupProgress', { name: b.backup_name })}
                          detail={
                            d
                              ? d.items_total > 0
                                ? `${d.current_step} · ${t('items', { done: f.number(d.items_done), total: f.number(d.items_total) })}`
                                : d.current_step
                              : undefined
                          }
                        />
                      )}
                      {d?.error_message && b.status !== 'completed' && <p className="error-text">{d.error_message}</p>}
                    </td>
                    <td className="nowrap">{b.status === 'completed' ? f.bytes(b.storage_size_bytes) : t('notYet')}</td>
                    <td>{f.dateTime(b.created_at)}</td>
                    <td>{b.status === 'deleted' ? t('notYet') : d && d.retention_days === 0 ? t('neverExpires') : f.dateTime(d?.expires_at)}</td>
                    <td className="backups-actions">
                      {b.status === 'completed' && d && (
                        <button type="button" onClick={() => setRestoring(d)}>
                          {t('restore')}
                        </button>
                      )}
                      {d && b.status !== 'deleted' && (
                        <button type="button" onClick={() => setWatching({ backup: d, latest: null })}>
                          {t('history')}
                        </button>
                      )}
                      {active && (
                        <button type="button" onClick={() => act(() => api.post(`/clusters/${clusterId}/backups/${b.id}/cancel`, {}))}>
                          {t('cancelRun')}
                        </button>
                      )}
                      {!active && b.status !== 'deleted' && d && (
                        <button type="button" className="danger" onClick={() => setDeleting(d)}>
                          {t('delete')}
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
        {total > PAGE && (
          <nav className="backups-pager" aria-label={t('backups')}>
            <button type="button" disabled={page <= 1} onClick={() => setPage(page - 1)}>
              {t('previous')}
            </button>
            <span>{t('pageOf', { page, pages, total })}</span>
            <button type="button" disabled={page >= pages} onClick={() => setPage(page + 1)}>
              {t('next')}
            </button>
          </nav>
        )}
      </section>

      {watching && (
        <Restores
          key={watching.backup.id + (watching.latest?.restore_id ?? '')}
          clusterId={clusterId}
          backup={watching.backup}
          latest={watching.latest}
          onClose={() => setWatching(null)}
        />
      )}

      <Schedules clusterId={clusterId} />

      <CreateBackup
        clusterId={clusterId}
        open={creating}
        onClose={() => setCreating(false)}
        onCreated={() => {
          setCreating(false);
          setPage(1);
          void load();
        }}
      />
      {restoring && (
        <RestoreBackup
          clusterId={clusterId}
          backup={restoring}
          onClose={() => setRestoring(null)}
          onStarted={(restore) => {
            setWatching({ backup: restoring, latest: restore });
            setRestoring(null);
          }}
        />
      )}
      {deleting && (
        <ConfirmDialog
          title={t('deleteTitle', { name: deleting.backup_name })}
          confirmLabel={t('confirmDelete')}
          onCancel={() => setDeleting(null)}
          onConfirm={() => {
            const target = deleting;
            setDeleting(null);
            void act(() => api.delete(`/clusters/${clusterId}/backups/${target.id}`));
          }}
        >
          <p>{t('deleteText')}</p>
        </ConfirmDialog>
      )}
    </div>
  );
}
