// A cluster's security summary: Pod Security levels, network policies, RBAC, audit logging.
import { useEffect, useState } from 'react';
import { api } from '../../api/client';
import { ErrorBanner } from '../../ui';
import { useClusterT } from './messages';
import type { SecurityPolicies } from './types';

export default function SecurityTab({ clusterId }: { clusterId: string }) {
  const t = useClusterT();
  const [data, setData] = useState<SecurityPolicies | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let live = true;
    api
      .get<SecurityPolicies>(`/clusters/${encodeURIComponent(clusterId)}/security-policies`)
      .then((d) => live && setData(d))
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [clusterId]);

  return (
    <div className="cl-security">
      <ErrorBanner error={error} />
      {data && (
        <>
          <dl className="facts" data-testid="security-summary">
            <dt>{t('podSecurity')}</dt>
            <dd>{data.pod_security_standard}</dd>
            <dt>{t('podSecurityLevels')}</dt>
            <dd>
              {Object.entries(data.pod_security_levels)
                .map(([level, n]) => `${level}: ${n}`)
                .join(', ')}
            </dd>
            <dt>{t('networkPolicies')}</dt>
            <dd>
              {data.network_policies_enabled
                ? t('networkPoliciesValue', { n: data.network_policies_count })
                : t('networkPoliciesNone')}
            </dd>
            <dt>{t('rbac')}</dt>
            <dd>
              {data.rbac_enabled
                ? t('rbacValue', { roles: data.roles_count, clusterRoles: data.cluster_roles_count })
                : t('rbacOff')}
            </dd>
            <dt>{t('auditLogging')}</dt>
            <dd>
              {data.audit_logging_enabled === null ? t('auditUnknown') : data.audit_logging_mode}
              {data.audit_logging_backends.length ? ` (${data.audit_logging_backends.join(', ')})` : ''}
              {data.audit_logging_note ? ` — ${data.audit_logging_note}` : ''}
            </dd>
          </dl>
          <table className="cl-table">
            <caption>{t('namespacesTable')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('namespace')}</th>
                <th scope="col">{t('enforce')}</th>
                <th scope="col">{t('labelled')}</th>
              </tr>
            </thead>
            <tbody>
              {data.namespaces.map((ns) => (
                <tr key={ns.namespace}>
                  <td>{ns.namespace}</td>
                  <td>{ns.enforce}</td>
                  <td>{ns.labelled ? t('yes') : t('no')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}
