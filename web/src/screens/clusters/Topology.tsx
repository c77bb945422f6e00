// Clusters grouped by environment, with each group's health and node totals.
import { Link } from 'react-router-dom';
import { api } from '../../api/client';
import { useFormat } from '../../i18n';
import { ErrorBanner, Meter, Page, StatusBadge, useAsync, usePolling } from '../../ui';
import { useClusterT } from './messages';
import type { Topology as TopologyData } from './types';

const SHOWN = 200; // clusters listed per environment; the list screen has them all

export default function Topology() {
  const t = useClusterT();
  const f = useFormat();
  const { data, error, reload } = useAsync(() => api.get<TopologyData>('/clusters/topology'), []);
  usePolling(reload, 15_000);

  return (
    <Page title={t('topologyTitle')} actions={<Link to="/clusters">{t('back')}</Link>}>
      <ErrorBanner error={error} />
      {data && (
        <>
          <p data-testid="topology-summary">
            {t('topologySummary', {
              clusters: f.number(data.summary.total_clusters),
              envs: data.summary.total_environments,
              nodes: f.number(data.summary.total_nodes),
              healthy: f.number(data.summary.healthy_clusters),
            })}
          </p>
          <div className="cl-topology">
            {data.environments.map((env) => (
              <section key={env.type} className="cl-env" aria-labelledby={`env-${env.type}`}>
                <h2 id={`env-${env.type}`}>{t(`env_${env.type}`)}</h2>
                <p>
                  {t('envSummary', {
                    count: f.number(env.count),
                    nodes: f.number(env.total_node_count),
                    healthy: f.number(env.healthy_clusters),
                    unhealthy: f.number(env.unhealthy_clusters),
                  })}
                </p>
                <Meter label={t('st_healthy')} value={env.healthy_clusters} max={env.count} />
                <ul className="cl-env-clusters">
                  {env.clusters.slice(0, SHOWN).map((c) => (
                    <li key={c.id}>
                      <Link to={`/clusters/${c.id}`}>{c.name}</Link> <StatusBadge status={c.status} />{' '}
                      <span className="muted">
                        {c.version ?? '—'} · {t('nodesCount', { n: c.node_count })}
                      </span>
                    </li>
                  ))}
                  {env.clusters.length > SHOWN && (
                    <li>
                      <Link to={`/clusters`}>{t('andMore', { n: f.number(env.clusters.length - SHOWN) })}</Link>
                    </li>
                  )}
                </ul>
              </section>
            ))}
          </div>
        </>
      )}
    </Page>
  );
}
