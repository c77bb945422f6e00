import { useT } from '../i18n';
import { statusMessages } from './messages';

type Tone = 'ok' | 'warn' | 'bad' | 'neutral' | 'busy';
const TONES: Record<string, Tone> = {
  healthy: 'ok', ready: 'ok', online: 'ok', succeeded: 'ok', completed: 'ok', active: 'ok',
  available: 'ok', passed: 'ok', normal: 'ok', true: 'ok',
  pending: 'busy', running: 'busy', queued: 'busy', creating: 'busy', deleting: 'busy',
  importing: 'busy', provisioning: 'busy', restoring: 'busy', in_use: 'busy',
  warning: 'warn', degraded: 'warn', not_ready: 'warn', partially_failed: 'warn',
  unhealthy: 'bad', failed: 'bad', error: 'bad', offline: 'bad', unreachable: 'bad',
  critical: 'bad', blocked: 'bad', false: 'bad',
};

export function statusTone(status: string): Tone {
  return TONES[status.toLowerCase().replace(/[\s-]/g, '_')] ?? 'neutral';
}

/** A status as the platform spells it, coloured by its tone, translated when known. */
export function StatusBadge({ status, label }: { status: string | null | undefined; label?: string }) {
  const t = useT(statusMessages);
  const raw = status ?? 'unknown';
  const key = raw.toLowerCase().replace(/[\s-]/g, '_') as Parameters<typeof t>[0];
  const known = key in statusMessages.en;
  return <span className={`badge badge-${statusTone(raw)}`}>{label ?? (known ? t(key) : raw)}</span>;
}
