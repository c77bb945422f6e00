// A node's detail: conditions, addresses, taints, allocatable and requests, node info.
import { api } from '../../api/client';
import { useFormat } from '../../i18n';
import { Dialog, ErrorBanner, StatusBadge, useAsync } from '../../ui';
import { formatNumber, labelText } from './format';
import { useClusterT } from './messages';
import type { NodeDetail } from './types';

export default function NodeDetailDialog(props: { clusterId: string; name: string; onClose: () => void }) {
  const t = useClusterT();
  const f = useFormat();
  const { data: node, error } = useAsync(
    (signal) =>
      api.get<NodeDetail>(
        `/clusters/${encodeURIComponent(props.clusterId)}/nodes/${encodeURIComponent(props.name)}`,
        undefined,
        { signal },
      ),
    [props.clusterId, props.name],
  );

  return (
    <Dialog open title={t('nodeDetail', { name: props.name })} onClose={props.onClose}>
      <ErrorBanner error={error} />
      {node && (
        <div className="cl-node-detail" data-testid="node-detail">
          <p>
            <StatusBadge status={node.status} /> {t(node.type === 'control-plane' ? 'type_control_plane' : 'type_worker')}
            {node.unschedulable ? ` · ${t('unschedulable')}` : ''}
          </p>
          <dl className="facts">
            <dt>{t('cpu')}</dt>
            <dd>
              {formatNumber(node.cpu_cores)} ({t('allocatable')} {formatNumber(node.allocatable_cpu_cores)}, {t('requests')}{' '}
              {formatNumber(node.cpu_requests_cores, 2)}, {t('limits')} {formatNumber(node.cpu_limits_cores, 2)})
            </dd>
            <dt>{t('memory')}</dt>
            <dd>
              {f.bytes(node.memory_bytes)} ({t('allocatable')} {f.bytes(node.allocatable_memory_bytes)}, {t('requests')}{' '}
              {f.bytes(node.memory_requests_bytes)}, {t('limits')} {f.bytes(node.memory_limits_bytes)})
            </dd>
            <dt>{t('pods')}</dt>
            <dd>
              {node.pod_count} / {node.pod_capacity}
            </dd>
            <dt>{t('colLabels')}</dt>
            <dd className="cl-labels">{labelText(node.labels) || '—'}</dd>
          </dl>
          <h3>{t('conditions')}</h3>
          <table className="cl-table">
            <thead>
              <tr>
                <th scope="col">{t('condType')}</th>
                <th scope="col">{t('condStatus')}</th>
                <th scope="col">{t('condReason')}</th>
                <th scope="col">{t('condMessage')}</th>
                <th scope="col">{t('condSince')}</th>
              </tr>
            </thead>
            <tbody>
              {node.conditions.map((c) => (
                <tr key={c.type}>
                  <td>{c.type}</td>
                  <td>{c.status}</td>
                  <td>{c.reason ?? '—'}</td>
                  <td>{c.message ?? '—'}</td>
                  <td>{f.dateTime(c.last_transition_time)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h3>{t('addresses')}</h3>
          <table className="cl-table">
            <thead>
              <tr>
                <th scope="col">{t('addrType')}</th>
                <th scope="col">{t('addrAddress')}</th>
              </tr>
            </thead>
            <tbody>
              {node.addresses.map((a) => (
                <tr key={`${a.type}:${a.address}`}>
                  <td>{a.type}</td>
                  <td>{a.address}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h3>{t('taints')}</h3>
          {node.taints.length ? (
            <ul>
              {node.taints.map((x) => (
                <li key={`${x.key}:${x.effect}`}>
                  {x.key}
                  {x.value ? `=${x.value}` : ''}:{x.effect}
                </li>
              ))}
            </ul>
          ) : (
            <p className="cl-muted">{t('noTaints')}</p>
          )}
          <h3>{t('nodeInfo')}</h3>
          <dl className="facts">
            {Object.entries(node.node_info).map(([k, v]) => (
              <div key={k} className="cl-fact">
                <dt>{k}</dt>
                <dd>{v}</dd>
              </div>
            ))}
          </dl>
        </div>
      )}
    </Dialog>
  );
}
