// The import's validation checks, from what GET /imports/{id}/status reports: each check
// is passed or failed once its result is recorded, running while its step is current,
// and waiting (or never run, after a failure) otherwise.
import type { ImportStatus } from './types';

export type CheckState = 'passed' | 'failed' | 'running' | 'pending';
export interface Check {
  id: string;
  key: string; // message key
  vars?: Record<string, string | number>;
  state: CheckState;
}

const STEP_OF: Record<string, string> = {
  'Connecting to API server': 'api_server_reachable',
  Authenticating: 'authenticated',
  'Checking permissions': 'permissions',
  'Checking version': 'version_supported',
  'Counting resources': 'resources',
};

function state(value: unknown, running: boolean): CheckState {
  if (value === true) return 'passed';
  if (value === false) return 'failed';
  return running ? 'running' : 'pending';
}

export function importChecks(status: ImportStatus): Check[] {
  const results = (status.validation_results ?? {}) as Record<string, unknown>;
  const active = status.import_status === 'pending' || status.import_status === 'in_progress';
  const current = active ? STEP_OF[status.current_step] : undefined;
  const checks: Check[] = [
    { id: 'kubeconfig_valid', key: 'check_kubeconfig_valid', state: state(results.kubeconfig_valid, false) },
    {
      id: 'api_server_reachable',
      key: 'check_api_server_reachable',
      state: state(results.api_server_reachable, current === 'api_server_reachable' || (active && !current)),
    },
  ];
  if ('api_server_ready' in results) {
    checks.push({ id: 'api_server_ready', key: 'check_api_server_ready', state: state(results.api_server_ready, false) });
  }
  checks.push({
    id: 'authenticated',
    key: 'check_authenticated',
    state: state(results.authenticated, current === 'authenticated'),
  });
  const permissions = results.permissions as Record<string, boolean> | undefined;
  if (permissions && typeof permissions === 'object') {
    for (const [perm, allowed] of Object.entries(permissions)) {
      checks.push({ id: `perm:${perm}`, key: 'check_permissions', vars: { perm }, state: state(allowed, false) });
    }
  } else {
    checks.push({ id: 'permissions', key: 'check_permissions_all', state: state(undefined, current === 'permissions') });
  }
  checks.push({
    id: 'version_supported',
    key: 'check_version_supported',
    vars: { version: String(results.kubernetes_version ?? '—') },
    state: state(results.version_supported, current === 'version_supported'),
  });
  const counted = status.import_status === 'completed' ? true : undefined;
  checks.push({ id: 'resources', key: 'check_resources', state: state(counted, current === 'resources') });
  return checks;
}

export function resourcesSummary(resources: unknown): string {
  if (!resources || typeof resources !== 'object') return '';
  return Object.entries(resources as Record<string, number>)
    .map(([name, n]) => `${n} ${name}`)
    .join(', ');
}
