// A cluster's events (Kubernetes' and the platform's own), by severity.
import { useCallback, useEffect, useMemo, useState } from 'react';
import { api } from '../../api/client';
import { useFormat } from '../../i18n';
import { DataTable, ErrorBanner, StatusBadge, type Column } from '../../ui';
import { PAGE_LIMIT } from './fetchAll';
import { useClusterT } from './messages';
import { SEVERITIES, type EventList, type EventOut } from './types';

export default function EventsTab({ clusterId }: { clusterId: string }) {
  const t = useClusterT();
  const f = useFormat();
  const [severity, setSeverity] = useState('');
  const [data, setData] = useState<EventList | null>(null);
  const [rows, setRows] = useState<EventOut[]>([]);
  const [page, setPage] = useState(1);
  const [error, setError] = useState<unknown>(null);

  const load = useCallback(
    async (wanted: number) => {
      try {
        const next = await api.get<EventList>(`/clusters/${encodeURIComponent(clusterId)}/events`, {
          severity,
          page: wanted,
          limit: PAGE_LIMIT,
        });
        setData(next);
        setRows((old) => (wanted === 1 ? next.events : [...old, ...next.events]));
        setPage(wanted);
        setError(null);
      } catch (e) {
        setError(e);
      }
    },
    [clusterId, severity],
  );
  useEffect(() => {
    void load(1);
  }, [load]);

  const columns = useMemo<Column<EventOut>[]>(
    () => [
      { key: 'severity', header: t('severity'), width: '7rem', sortValue: (e) => e.severity, render: (e) => <StatusBadge status={e.severity} /> },
      { key: 'reason', header: t('evReason'), width: '9rem', sortValue: (e) => e.reason, render: (e) => e.reason },
      {
        key: 'object',
        header: t('evObject'),
        width: 'minmax(8rem, 1.5fr)',
        render: (e) => `${e.event_type}${e.object_name ? ` ${e.namespace ? `${e.namespace}/` : ''}${e.object_name}` : ''}`,
      },
      { key: 'message', header: t('evMessage'), width: 'minmax(12rem, 3fr)', render: (e) => <span title={e.message}>{e.message}</span> },
      { key: 'count', header: t('evCount'), width: '5rem', sortValue: (e) => e.count, render: (e) => e.count },
      { key: 'last', header: t('evLastSeen'), width: '11rem', sortValue: (e) => e.last_seen ?? '', render: (e) => f.dateTime(e.last_seen) },
      { key: 'source', header: t('evSource'), width: '6.5rem', render: (e) => e.source },
    ],
    [t, f],
  );

  return (
    <div className="cl-events">
      {data && (
        <ul className="cl-sev-summary" aria-label={t('severity')}>
          {SEVERITIES.map((s) => (
            <li key={s}>
              <button
                type="button"
                aria-pressed={severity === s}
                data-severity={s}
                onClick={() => setSeverity(severity === s ? '' : s)}
              >
                {t('sevCount', { label: t(`sev_${s}`), n: data.summary[`${s}_count` as keyof EventList['summary']] })}
              </button>
            </li>
          ))}
        </ul>
      )}
      <form className="cl-filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          <span>{t('severity')}</span>
          <select name="severity" value={severity} onChange={(e) => setSeverity(e.target.value)}>
            <option value="">{t('allSeverities')}</option>
            {SEVERITIES.map((s) => (
              <option key={s} value={s}>
                {t(`sev_${s}`)}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => void load(1)}>
          {t('refresh')}
        </button>
      </form>
      <ErrorBanner error={error} />
      {data?.cluster_events_note && <p className="muted" role="status">{data.cluster_events_note}</p>}
      {data && (
        <>
          <p>{t('totalRecords', { n: data.total })}</p>
          <DataTable label={t('eventsTable')} columns={columns} rows={rows} rowKey={(e) => e.id} empty={t('noEvents')} height={480} />
          {rows.length < data.total && (
            <button type="button" onClick={() => void load(page + 1)}>
              {t('loadMore')} ({rows.length} / {data.total})
            </button>
          )}
        </>
      )}
    </div>
  );
}
