// The audit records of one cluster (GET /clusters/{id}/audit), filtered by user, action
// and result, newest first, a page at a time.
import { useCallback, useEffect, useMemo, useState } from 'react';
import { api } from '../../api/client';
import { useFormat } from '../../i18n';
import { DataTable, ErrorBanner, StatusBadge, type Column } from '../../ui';
import { PAGE_LIMIT } from './fetchAll';
import { useClusterT } from './messages';
import type { AuditEvent, AuditEventList } from './types';

export default function AuditTab({ clusterId }: { clusterId: string }) {
  const t = useClusterT();
  const f = useFormat();
  const [user, setUser] = useState('');
  const [action, setAction] = useState('');
  const [result, setResult] = useState('');
  const [applied, setApplied] = useState({ user: '', action: '', result: '' });
  const [rows, setRows] = useState<AuditEvent[]>([]);
  const [total, setTotal] = useState<number | null>(null);
  const [page, setPage] = useState(1);
  const [error, setError] = useState<unknown>(null);

  const load = useCallback(
    async (wanted: number) => {
      try {
        const data = await api.get<AuditEventList>(`/clusters/${encodeURIComponent(clusterId)}/audit`, {
          ...applied,
          page: wanted,
          limit: PAGE_LIMIT,
        });
        setRows((old) => (wanted === 1 ? data.events : [...old, ...data.events]));
        setTotal(data.total);
        setPage(wanted);
        setError(null);
      } catch (e) {
        setError(e);
      }
    },
    [clusterId, applied],
  );
  useEffect(() => {
    void load(1);
  }, [load]);

  const columns = useMemo<Column<AuditEvent>[]>(
    () => [
      { key: 'time', header: t('auTime'), width: '18fr', sortValue: (a) => a.timestamp, render: (a) => f.dateTime(a.timestamp) },
      { key: 'user', header: t('auUser'), width: '12fr', sortValue: (a) => a.user ?? '', render: (a) => a.user ?? '—' },
      { key: 'action', header: t('auAction'), width: '14fr', sortValue: (a) => a.action, render: (a) => a.action },
      {
        key: 'resource',
        header: t('auResource'),
        width: '28fr',
        render: (a) => `${a.resource}${a.resource_id ? ` ${a.resource_id}` : ''}`,
      },
      { key: 'result', header: t('auResult'), width: '12fr', sortValue: (a) => a.result, render: (a) => <StatusBadge status={a.result} /> },
      { key: 'ip', header: t('auAddress'), width: '16fr', render: (a) => a.ip_address ?? '—' },
    ],
    [t, f],
  );

  return (
    <div className="cl-audit">
      <form
        className="cl-filters"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied({ user: user.trim(), action: action.trim(), result });
        }}
      >
        <label>
          <span>{t('auditFilterUser')}</span>
          <input name="user" value={user} maxLength={64} onChange={(e) => setUser(e.target.value)} />
        </label>
        <label>
          <span>{t('auditFilterAction')}</span>
          <input name="action" value={action} maxLength={64} onChange={(e) => setAction(e.target.value)} />
        </label>
        <label>
          <span>{t('auditFilterResult')}</span>
          <select name="result" value={result} onChange={(e) => setResult(e.target.value)}>
            <option value="">{t('anyResult')}</option>
            <option value="success">success</option>
            <option value="failure">failure</option>
          </select>
        </label>
        <button type="submit">{t('search')}</button>
      </form>
      <ErrorBanner error={error} />
      {total !== null && (
        <>
          <p>{t('totalRecords', { n: total })}</p>
          <DataTable label={t('auditTable')} columns={columns} rows={rows} rowKey={(a) => a.id} empty={t('noAudit')} height={480} />
          {rows.length < total && (
            <button type="button" onClick={() => void load(page + 1)}>
              {t('loadMore')} ({rows.length} / {total})
            </button>
          )}
        </>
      )}
    </div>
  );
}
