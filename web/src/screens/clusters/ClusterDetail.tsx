// One cluster: its name and state, and tabs (overview, nodes, events, security,
// autoscaling, backups, audit). The tab (and an open node) live in the address.
import { useCallback } from 'react';
import { Link, useParams, useSearchParams } from 'react-router-dom';
import { api } from '../../api/client';
import { ErrorBanner, Page, StatusBadge, Tabs, useAsync, usePolling } from '../../ui';
import { ClusterBackups } from '../backups/ClusterBackups';
import AuditTab from './AuditTab';
import AutoscalingTab from './AutoscalingTab';
import EventsTab from './EventsTab';
import { useClusterT } from './messages';
import NodesTab from './NodesTab';
import OverviewTab from './OverviewTab';
import SecurityTab from './SecurityTab';
import type { ClusterDetail as Detail } from './types';

const TABS = ['overview', 'nodes', 'events', 'security', 'autoscaling', 'backups', 'audit'] as const;
type TabId = (typeof TABS)[number];
const TAB_LABEL: Record<TabId, string> = {
  overview: 'tabOverview',
  nodes: 'tabNodes',
  events: 'tabEvents',
  security: 'tabSecurity',
  autoscaling: 'tabAutoscaling',
  backups: 'tabBackups',
  audit: 'tabAudit',
};

export default function ClusterDetail() {
  const t = useClusterT();
  const { id = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const wanted = params.get('tab') ?? 'overview';
  const tab: TabId = (TABS as readonly string[]).includes(wanted) ? (wanted as TabId) : 'overview';
  const { data: cluster, error, reload } = useAsync(() => api.get<Detail>(`/clusters/${encodeURIComponent(id)}`), [id]);
  usePolling(reload, 10_000, [id]);

  const select = useCallback(
    (next: string) => setParams(next === 'overview' ? {} : { tab: next }, { replace: true }),
    [setParams],
  );

  const content = (name: TabId) => {
    if (!cluster) return null;
    switch (name) {
      case 'overview':
        return <OverviewTab cluster={cluster} />;
      case 'nodes':
        return <NodesTab clusterId={cluster.id} />;
      case 'events':
        return <EventsTab clusterId={cluster.id} />;
      case 'security':
        return <SecurityTab clusterId={cluster.id} />;
      case 'autoscaling':
        return <AutoscalingTab clusterId={cluster.id} />;
      case 'backups':
        return <ClusterBackups clusterId={cluster.id} />;
      case 'audit':
        return <AuditTab clusterId={cluster.id} />;
    }
  };

  return (
    <Page title={cluster?.name ?? t('clusters')} actions={<Link to="/clusters">{t('back')}</Link>}>
      <ErrorBanner error={error} />
      {cluster && (
        <>
          <p className="cl-state">
            <StatusBadge status={cluster.status} /> {cluster.version ?? '—'} ·{' '}
            {t('readyNodes', { ready: cluster.ready_node_count, total: cluster.node_count })}
          </p>
          <Tabs
            label={t('clusterTabs', { name: cluster.name })}
            active={tab}
            onChange={select}
            tabs={TABS.map((name) => ({ id: name, label: t(TAB_LABEL[name]), content: name === tab ? content(name) : null }))}
          />
        </>
      )}
    </Page>
  );
}
