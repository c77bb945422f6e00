// A cluster's nodes: every page read (a few at a time, with a count), filtered by type and
// status through the API, in the virtualised table; a node opens its detail.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useSearchParams } from 'react-router-dom';
import { api } from '../../api/client';
import { useFormat } from '../../i18n';
import { DataTable, ErrorBanner, Progress, StatusBadge, type Column } from '../../ui';
import { fetchAll, PAGE_LIMIT } from './fetchAll';
import { formatNumber, labelText } from './format';
import { useClusterT } from './messages';
import NodeDetailDialog from './NodeDetailDialog';
import type { NodeList, NodeOut } from './types';

export default function NodesTab({ clusterId }: { clusterId: string }) {
  const t = useClusterT();
  const f = useFormat();
  const [params, setParams] = useSearchParams();
  const [type, setType] = useState('');
  const [status, setStatus] = useState('');
  const [rows, setRows] = useState<NodeOut[] | null>(null);
  const [summary, setSummary] = useState<NodeList['summary'] | null>(null);
  const [usageNote, setUsageNote] = useState<string | null>(null);
  const [progress, setProgress] = useState<{ loaded: number; total: number } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const generation = useRef(0);
  const openNode = params.get('node');

  const load = useCallback(async () => {
    const mine = ++generation.current;
    setProgress({ loaded: 0, total: 0 });
    try {
      const { items } = await fetchAll<NodeOut>(
        async (page) => {
          const data = await api.get<NodeList>(`/clusters/${encodeURIComponent(clusterId)}/nodes`, {
            type,
            status,
            page,
            limit: PAGE_LIMIT,
          });
          if (page === 1 && mine === generation.current) {
            setSummary(data.summary);
            setUsageNote(data.usage_available ? null : (data.usage_note ?? null));
          }
          return { items: data.nodes, total: data.total };
        },
        (loaded, total) => mine === generation.current && setProgress({ loaded, total }),
        () => mine !== generation.current,
      );
      if (mine !== generation.current) return;
      setRows(items);
      setError(null);
    } catch (e) {
      if (mine === generation.current) setError(e);
    } finally {
      if (mine === generation.current) setProgress(null);
    }
  }, [clusterId, type, status]);
  useEffect(() => {
    void load();
  }, [load]);

  const open = useCallback(
    (name: string | null) => {
      const next = new URLSearchParams(params);
      if (name) next.set('node', name);
      else next.delete('node');
      setParams(next);
    },
    [params, setParams],
  );

  const columns = useMemo<Column<NodeOut>[]>(
    () => [
      {
        key: 'name',
        header: t('colName'),
        width: 'minmax(10rem, 2fr)',
        sortValue: (n) => n.name,
        render: (n) => (
          <button type="button" className="link" tabIndex={-1} onClick={() => open(n.name)}>
            {n.name}
          </button>
        ),
      },
      {
        key: 'type',
        header: t('nodeType'),
        width: '8rem',
        sortValue: (n) => n.type,
        render: (n) => t(n.type === 'control-plane' ? 'type_control_plane' : 'type_worker'),
      },
      {
        key: 'status',
        header: t('colStatus'),
        width: '7rem',
        sortValue: (n) => n.status,
        render: (n) => <StatusBadge status={n.status} />,
      },
      {
        key: 'cpu',
        header: t('cpu'),
        width: '5rem',
        sortValue: (n) => n.cpu_cores,
        render: (n) => formatNumber(n.cpu_cores),
      },
      {
        key: 'cpu_usage',
        header: t('cpuUsage'),
        width: '5rem',
        sortValue: (n) => n.cpu_usage_percent ?? -1,
        render: (n) => formatNumber(n.cpu_usage_percent),
      },
      {
        key: 'memory',
        header: t('memory'),
        width: '7rem',
        sortValue: (n) => n.memory_bytes,
        render: (n) => f.bytes(n.memory_bytes),
      },
      {
        key: 'mem_usage',
        header: t('memUsage'),
        width: '5rem',
        sortValue: (n) => n.memory_usage_percent ?? -1,
        render: (n) => formatNumber(n.memory_usage_percent),
      },
      {
        key: 'pods',
        header: t('pods'),
        width: '4rem',
        sortValue: (n) => n.pod_count,
        render: (n) => f.number(n.pod_count),
      },
      {
        key: 'labels',
        header: t('colLabels'),
        width: 'minmax(8rem, 2fr)',
        render: (n) => <span className="cl-labels">{labelText(n.labels)}</span>,
      },
    ],
    [t, f, open],
  );

  return (
    <div className="cl-nodes">
      <form className="cl-filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          <span>{t('typeFilter')}</span>
          <select name="type" value={type} onChange={(e) => setType(e.target.value)}>
            <option value="">{t('allTypes')}</option>
            <option value="control-plane">{t('type_control_plane')}</option>
            <option value="worker">{t('type_worker')}</option>
          </select>
        </label>
        <label>
          <span>{t('statusFilter')}</span>
          <select name="status" value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="">{t('allStatuses')}</option>
            <option value="ready">{t('nst_ready')}</option>
            <option value="not_ready">{t('nst_not_ready')}</option>
            <option value="unknown">{t('nst_unknown')}</option>
          </select>
        </label>
        <button type="button" onClick={() => void load()} disabled={!!progress}>
          {t('refresh')}
        </button>
      </form>
      <ErrorBanner error={error} />
      <div className="cl-meta" aria-live="polite">
        {progress ? (
          <Progress
            label={t('loadingNodes', { loaded: progress.loaded, total: progress.total })}
            value={progress.loaded}
            max={progress.total}
            format="count"
          />
        ) : (
          summary &&
          rows && (
            <span data-testid="node-count" data-count={rows.length}>
              {t('nodeSummary', { cp: summary.control_plane_count, workers: summary.worker_count, ready: summary.ready_count })}
            </span>
          )
        )}
        {usageNote && <p className="muted">{usageNote}</p>}
      </div>
      {rows && (
        <DataTable
          label={t('nodesTable')}
          columns={columns}
          rows={rows}
          rowKey={(n) => n.name}
          onActivate={(n) => open(n.name)}
          height={560}
        />
      )}
      {openNode && <NodeDetailDialog clusterId={clusterId} name={openNode} onClose={() => open(null)} />}
    </div>
  );
}
