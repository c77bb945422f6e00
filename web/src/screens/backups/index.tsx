// The backups area (W2): /backups (choose a cluster; the API lists backups per cluster)
// and /backups/:clusterId (that cluster's backups, the same component as the cluster
// page's backups tab).
import { useEffect, useState } from 'react';
import { Link, useNavigate, useParams, type RouteObject } from 'react-router-dom';
import { api, type Schema } from '../../api/client';
import { useT } from '../../i18n';
import { ErrorBanner, FormField, Page, useAsync } from '../../ui';
import { ClusterBackups } from './ClusterBackups';
import './backups.css';
import { messages } from './messages';

type Clusters = Schema<'ClusterList'>;

function ClusterPicker({ current }: { current?: string }) {
  const t = useT(messages);
  const navigate = useNavigate();
  const clusters = useAsync((signal) => api.get<Clusters>('/clusters', { limit: 100 }, { signal }), []);
  const list = clusters.data?.clusters ?? [];
  return (
    <div className="backups-picker">
      <ErrorBanner error={clusters.error} />
      {clusters.data && list.length === 0 && <p className="muted">{t('clusterNone')}</p>}
      {list.length > 0 && (
        <FormField label={t('clusterPick')}>
          <select value={current ?? ''} onChange={(e) => e.target.value && navigate(`/backups/${e.target.value}`)}>
            {!current && <option value="">—</option>}
            {list.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </FormField>
      )}
    </div>
  );
}

function AllBackups() {
  const t = useT(messages);
  return (
    <Page title={t('allTitle')}>
      <p className="muted">{t('allIntro')}</p>
      <ClusterPicker />
    </Page>
  );
}

function ClusterBackupsPage() {
  const t = useT(messages);
  const { clusterId = '' } = useParams();
  const [name, setName] = useState(clusterId);
  useEffect(() => {
    const controller = new AbortController();
    api
      .get<Schema<'ClusterSummary'>>(`/clusters/${clusterId}`, undefined, { signal: controller.signal })
      .then((c) => setName(c.name))
      .catch(() => setName(clusterId));
    return () => controller.abort();
  }, [clusterId]);
  return (
    <Page title={t('clusterTitle', { name })} actions={<Link to={`/clusters/${clusterId}`}>{t('openCluster')}</Link>}>
      <ClusterPicker current={clusterId} />
      <ClusterBackups key={clusterId} clusterId={clusterId} />
    </Page>
  );
}

export const routes: RouteObject[] = [
  { path: 'backups', element: <AllBackups /> },
  { path: 'backups/:clusterId', element: <ClusterBackupsPage /> },
];
