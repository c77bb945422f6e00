// Small display helpers shared by the clusters screens.
export function formatNumber(value: number | null | undefined, digits = 1): string {
  if (value === null || value === undefined) return '—';
  return Number.isInteger(value) ? String(value) : value.toFixed(digits);
}

export function percent(part: number, whole: number): number {
  return whole > 0 ? Math.round((part / whole) * 1000) / 10 : 0;
}

export type Translate = (key: string, params?: Record<string, string | number>) => string;

export function ago(iso: string | null | undefined, now: number, t: Translate): string {
  if (!iso) return t('never');
  const seconds = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (seconds < 60) return t('secondsAgo', { n: seconds });
  if (seconds < 3600) return t('minutesAgo', { n: Math.floor(seconds / 60) });
  if (seconds < 86400) return t('hoursAgo', { n: Math.floor(seconds / 3600) });
  return t('daysAgo', { n: Math.floor(seconds / 86400) });
}

export function labelText(labels: Record<string, string> | undefined): string {
  return Object.entries(labels ?? {})
    .map(([k, v]) => (v ? `${k}=${v}` : k))
    .join(', ');
}

/** "env=prod, tier=web" -> {env: "prod", tier: "web"}; null when a pair is malformed. */
export function parseLabels(text: string): Record<string, string> | null {
  const labels: Record<string, string> = {};
  for (const part of text.split(',')) {
    const item = part.trim();
    if (!item) continue;
    const eq = item.indexOf('=');
    if (eq <= 0) return null;
    labels[item.slice(0, eq).trim()] = item.slice(eq + 1).trim();
  }
  return labels;
}
