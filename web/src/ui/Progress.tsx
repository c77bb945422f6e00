import { formatBytes, useFormat } from '../i18n';

export interface ProgressProps {
  /** Done so far (null: not known yet, shown as "0"). */
  value: number | null | undefined;
  /** The total; 100 for a percent. */
  max?: number;
  /** What is progressing (the accessible name). */
  label: string;
  /** How the number reads: "42%" (default), "3 / 7" (count), "1.2 MiB / 4 MiB" (bytes). */
  format?: 'percent' | 'count' | 'bytes';
  /** Extra text after the number (e.g. the current step's name). */
  detail?: string;
}

/** A bar with a number: never a spinner without one. */
export function Progress({ value, max = 100, label, format = 'percent', detail }: ProgressProps) {
  const f = useFormat();
  const done = Math.max(0, Math.min(value ?? 0, max));
  const ratio = max > 0 ? done / max : 0;
  const text =
    format === 'percent'
      ? `${Math.round(ratio * 100)}%`
      : format === 'bytes'
        ? `${formatBytes(done, f.locale)} / ${formatBytes(max, f.locale)}`
        : `${f.number(done)} / ${f.number(max)}`;
  return (
    <div className="progress">
      <div
        className="progress-track"
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={max}
        aria-valuenow={done}
        aria-valuetext={detail ? `${text} ${detail}` : text}
      >
        <div className="progress-fill" style={{ width: `${ratio * 100}%` }} />
      </div>
      <span className="progress-text">
        {text}
        {detail ? ` · ${detail}` : ''}
      </span>
    </div>
  );
}
