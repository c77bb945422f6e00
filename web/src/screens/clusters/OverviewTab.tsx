// Capacity (the cluster's record) and usage (requests and metrics, from the runtime
// resources read) as meters, and a chart of usage sampled while the page is open. Every
// meter and the chart carry their numbers as text.
import { useState } from 'react';
import { runtime } from '../../api/client';
import { useFormat } from '../../i18n';
import { ErrorBanner, LineChart, Meter, usePolling } from '../../ui';
import { formatNumber, labelText, percent } from './format';
import { useClusterT } from './messages';
import type { ClusterDetail, RuntimeResources } from './types';

const MAX_SAMPLES = 60;
interface Sample {
  at: number;
  cpu: number;
  mem: number;
}

export default function OverviewTab({ cluster }: { cluster: ClusterDetail }) {
  const t = useClusterT();
  const f = useFormat();
  const [res, setRes] = useState<RuntimeResources | null>(null);
  const [samples, setSamples] = useState<Sample[]>([]);
  const [error, setError] = useState<unknown>(null);
  usePolling(
    async () => {
      try {
        const data = await runtime.get<RuntimeResources>('/runtime/resources/', { cluster_id: cluster.id });
        setRes(data);
        setError(null);
        const used = data.total.used;
        if (used) {
          const sample = {
            at: Date.now(),
            cpu: percent(used.cpu, data.total.allocatable.cpu),
            mem: percent(used.memory, data.total.allocatable.memory),
          };
          setSamples((old) => [...old, sample].slice(-MAX_SAMPLES));
        }
      } catch (e) {
        setError(e);
      }
    },
    15_000,
    [cluster.id],
  );

  const cores = (n: number) => t('cores', { n: formatNumber(n, 2) });
  const total = res?.total;
  return (
    <div className="cl-overview">
      <dl className="facts">
        <dt>{t('apiServer')}</dt>
        <dd>{cluster.api_server_url}</dd>
        <dt>{t('colVersion')}</dt>
        <dd>{cluster.version ?? '—'}</dd>
        <dt>{t('colEnvironment')}</dt>
        <dd>{t(`env_${cluster.environment_type}`)}</dd>
        <dt>{t('region')}</dt>
        <dd>{cluster.region}</dd>
        <dt>{t('provider')}</dt>
        <dd>{cluster.provider}</dd>
        <dt>{t('colLabels')}</dt>
        <dd>{labelText(cluster.labels) || '—'}</dd>
        <dt>{t('colHeartbeat')}</dt>
        <dd>{f.dateTime(cluster.last_heartbeat_at)}</dd>
        <dt>{t('created')}</dt>
        <dd>{f.dateTime(cluster.created_at)}</dd>
        {cluster.last_probe_error && (
          <>
            <dt>{t('lastProbeError')}</dt>
            <dd className="cl-error-text">{cluster.last_probe_error}</dd>
          </>
        )}
      </dl>
      <h2>{t('capacity')}</h2>
      <ul className="cl-capacity">
        <li>
          {t('cpu')}: {cores(cluster.total_cpu_cores)}
        </li>
        <li>
          {t('memory')}: {f.bytes(cluster.total_memory_bytes)}
        </li>
        <li>
          {t('storage')}: {f.bytes(cluster.total_storage_bytes)}
        </li>
      </ul>
      <h2>{t('usage')}</h2>
      <ErrorBanner error={error} />
      {total && (
        <div className="cl-meters">
          <Meter label={t('cpuRequested')} value={total.requested.cpu} max={total.allocatable.cpu} format={cores} />
          <Meter label={t('memRequested')} value={total.requested.memory} max={total.allocatable.memory} format={f.bytes} />
          {total.used ? (
            <>
              <Meter label={t('cpuUsed')} value={total.used.cpu} max={total.allocatable.cpu} format={cores} />
              <Meter label={t('memUsed')} value={total.used.memory} max={total.allocatable.memory} format={f.bytes} />
            </>
          ) : (
            <p className="muted">{t('metricsUnavailable')}</p>
          )}
          {cluster.used_storage_bytes !== null && cluster.used_storage_bytes !== undefined && (
            <Meter label={t('storageUsed')} value={cluster.used_storage_bytes} max={cluster.total_storage_bytes} format={f.bytes} />
          )}
        </div>
      )}
      {res?.metrics_available && (
        <LineChart
          label={t('usageOverTime')}
          formatY={(y) => `${formatNumber(y)}%`}
          series={[
            { name: t('usageSeries_cpu'), points: samples.map((s) => ({ x: s.at, y: s.cpu })) },
            { name: t('usageSeries_mem'), points: samples.map((s) => ({ x: s.at, y: s.mem })) },
          ]}
        />
      )}
    </div>
  );
}
