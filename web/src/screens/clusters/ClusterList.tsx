// The clusters list: every cluster (paged reads of up to 100, merged), filtered by the API
// (search, label selector, status), refreshed by polling, shown in the virtualised table.
import { useEffect, useMemo, useRef, useState } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import { api } from '../../api/client';
import { useFormat } from '../../i18n';
import { DataTable, ErrorBanner, Page, Progress, StatusBadge, usePolling, type Column } from '../../ui';
import { fetchAll, PAGE_LIMIT } from './fetchAll';
import { ago, labelText } from './format';
import { useClusterT } from './messages';
import { CLUSTER_STATUSES, type ClusterList as ListData, type ClusterSummary } from './types';

const POLL_MS = 10_000;

function useDebounced<T>(value: T, ms: number): T {
  const [current, setCurrent] = useState(value);
  useEffect(() => {
    const timer = window.setTimeout(() => setCurrent(value), ms);
    return () => window.clearTimeout(timer);
  }, [value, ms]);
  return current;
}

export default function ClusterList() {
  const t = useClusterT();
  const f = useFormat();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const [search, setSearch] = useState(params.get('search') ?? '');
  const [selector, setSelector] = useState(params.get('label_selector') ?? '');
  const [status, setStatus] = useState(params.get('status') ?? '');
  const debouncedSearch = useDebounced(search.trim(), 300);
  const debouncedSelector = useDebounced(selector.trim(), 400);
  const filters = useMemo(
    () => ({ search: debouncedSearch, label_selector: debouncedSelector, status }),
    [debouncedSearch, debouncedSelector, status],
  );
  const key = JSON.stringify(filters);
  const [rows, setRows] = useState<ClusterSummary[] | null>(null);
  const [progress, setProgress] = useState<{ loaded: number; total: number } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [updatedAt, setUpdatedAt] = useState(0);
  const generation = useRef(0);
  const shownKey = useRef<string | null>(null);

  useEffect(() => {
    // The filters live in the address: a filtered list can be bookmarked and shared.
    const next = new URLSearchParams();
    for (const [name, value] of Object.entries(filters)) if (value) next.set(name, value);
    if (next.toString() !== params.toString()) setParams(next, { replace: true });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);

  // Every poll reads the whole list again; a change of filters shows the count loading.
  usePolling(
    async () => {
      const mine = ++generation.current;
      const fresh = shownKey.current !== key;
      if (fresh) setProgress({ loaded: 0, total: 0 });
      try {
        const { items } = await fetchAll<ClusterSummary>(
          async (page) => {
            const data = await api.get<ListData>('/clusters', { ...filters, page, limit: PAGE_LIMIT });
            return { items: data.clusters, total: data.total };
          },
          fresh ? (loaded, total) => mine === generation.current && setProgress({ loaded, total }) : undefined,
          () => mine !== generation.current,
        );
        if (mine !== generation.current) return;
        shownKey.current = key;
        setRows(items);
        setError(null);
        setUpdatedAt(Date.now());
      } catch (e) {
        if (mine === generation.current) setError(e);
      } finally {
        if (mine === generation.current) setProgress(null);
      }
    },
    POLL_MS,
    [key],
  );

  const columns = useMemo<Column<ClusterSummary>[]>(
    () => [
      {
        key: 'name',
        header: t('colName'),
        width: 'minmax(10rem, 2fr)',
        sortValue: (c) => c.name,
        render: (c) => (
          <Link to={`/clusters/${c.id}`} tabIndex={-1}>
            {c.name}
          </Link>
        ),
      },
      { key: 'status', header: t('colStatus'), width: '8rem', sortValue: (c) => c.status, render: (c) => <StatusBadge status={c.status} /> },
      { key: 'version', header: t('colVersion'), width: '7rem', sortValue: (c) => c.version, render: (c) => c.version ?? '—' },
      { key: 'nodes', header: t('colNodes'), width: '5rem', sortValue: (c) => c.node_count, render: (c) => f.number(c.node_count) },
      {
        key: 'environment',
        header: t('colEnvironment'),
        width: '9.5rem',
        sortValue: (c) => c.environment_type,
        render: (c) => t(`env_${c.environment_type}`),
      },
      {
        key: 'labels',
        header: t('colLabels'),
        width: 'minmax(8rem, 2fr)',
        render: (c) => <span className="cl-labels" title={labelText(c.labels)}>{labelText(c.labels)}</span>,
      },
      {
        key: 'heartbeat',
        header: t('colHeartbeat'),
        width: '8rem',
        sortValue: (c) => c.last_heartbeat_at,
        render: (c) => (
          <time dateTime={c.last_heartbeat_at ?? undefined} title={f.dateTime(c.last_heartbeat_at)}>
            {ago(c.last_heartbeat_at, updatedAt || Date.now(), t)}
          </time>
        ),
      },
    ],
    [t, f, updatedAt],
  );

  return (
    <Page
      title={t('clusters')}
      actions={
        <>
          <Link to="/clusters/topology">{t('topology')}</Link>
          <Link to="/clusters/new" className="cl-button">
            {t('register')}
          </Link>
        </>
      }
    >
      <form className="cl-filters" role="search" aria-label={t('clusters')} onSubmit={(e) => e.preventDefault()}>
        <label>
          <span>{t('search')}</span>
          <input
            type="search"
            name="search"
            value={search}
            placeholder={t('searchHint')}
            maxLength={100}
            onChange={(e) => setSearch(e.target.value)}
          />
        </label>
        <label>
          <span>{t('labelSelector')}</span>
          <input
            type="text"
            name="label_selector"
            value={selector}
            placeholder={t('labelSelectorHint')}
            maxLength={2000}
            onChange={(e) => setSelector(e.target.value)}
          />
        </label>
        <label>
          <span>{t('statusFilter')}</span>
          <select name="status" value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="">{t('allStatuses')}</option>
            {CLUSTER_STATUSES.map((s) => (
              <option key={s} value={s}>
                {t(`st_${s}`)}
              </option>
            ))}
          </select>
        </label>
      </form>
      <ErrorBanner error={error} />
      <div className="cl-meta" aria-live="polite">
        {progress ? (
          <Progress label={t('loadedOf', { loaded: progress.loaded, total: progress.total })} value={progress.loaded} max={progress.total} format="count" />
        ) : rows ? (
          <span data-testid="cluster-count" data-count={rows.length}>
            {t('shownCount', { count: f.number(rows.length) })}
            {updatedAt ? ` · ${t('liveUpdated', { time: new Date(updatedAt).toLocaleTimeString(f.locale) })}` : ''}
          </span>
        ) : null}
      </div>
      {rows && (
        <DataTable
          label={t('clustersTable')}
          columns={columns}
          rows={rows}
          rowKey={(c) => c.id}
          onActivate={(c) => navigate(`/clusters/${c.id}`)}
          empty={t('noClusters')}
          height={560}
        />
      )}
    </Page>
  );
}
