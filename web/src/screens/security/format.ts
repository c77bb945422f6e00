// Small helpers shared by W4's screens (commands, security, users, audit).

/** A `datetime-local` input's value (the reader's local time) as RFC 3339 in UTC, or null. */
export function localToRfc3339(value: string): string | null {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** Compact JSON for a table cell (evidence, audit values); empty for nothing. */
export function compact(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object' && Object.keys(value as object).length === 0) return '';
  return JSON.stringify(value);
}
