// Our own small SVG charts (no chart library), each with a text alternative: the SVG has
// a title and the numbers are in a visually hidden table.
import { useId } from 'react';
import { useFormat, useT } from '../i18n';
import { messages } from './messages';

export interface Point {
  /** Time in ms since the epoch (or any increasing number). */
  x: number;
  y: number;
}
export interface Series {
  name: string;
  points: Point[];
}

export interface LineChartProps {
  /** The chart's accessible name. */
  label: string;
  series: Series[];
  height?: number;
  /** How a y value reads (axis and text alternative). */
  formatY?: (y: number) => string;
  /** How an x value reads; default: a time. */
  formatX?: (x: number) => string;
}

const WIDTH = 640;
const PAD = { left: 56, right: 12, top: 12, bottom: 28 };

export function LineChart({ label, series, height = 220, formatY, formatX }: LineChartProps) {
  const t = useT(messages);
  const f = useFormat();
  const titleId = useId();
  const fy = formatY ?? ((y: number) => f.number(y));
  const fx = formatX ?? ((x: number) => new Date(x).toLocaleTimeString(f.locale));
  const points = series.flatMap((s) => s.points);
  if (points.length === 0) {
    return (
      <figure className="chart">
        <figcaption>{label}</figcaption>
        <p className="muted">{t('chartEmpty')}</p>
      </figure>
    );
  }
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const y1 = Math.max(...ys, 0) || 1;
  const sx = (x: number) => PAD.left + ((x - x0) / (x1 - x0 || 1)) * (WIDTH - PAD.left - PAD.right);
  const sy = (y: number) => height - PAD.bottom - (y / y1) * (height - PAD.top - PAD.bottom);
  const ticks = [0, 0.5, 1].map((r) => r * y1);
  return (
    <figure className="chart">
      <figcaption id={titleId}>{label}</figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${height}`} role="img" aria-labelledby={titleId} className="chart-svg">
        {ticks.map((y) => (
          <g key={y}>
            <line x1={PAD.left} x2={WIDTH - PAD.right} y1={sy(y)} y2={sy(y)} className="chart-grid" />
            <text x={PAD.left - 6} y={sy(y) + 4} textAnchor="end" className="chart-axis">
              {fy(y)}
            </text>
          </g>
        ))}
        <text x={PAD.left} y={height - 8} className="chart-axis">
          {fx(x0)}
        </text>
        <text x={WIDTH - PAD.right} y={height - 8} textAnchor="end" className="chart-axis">
          {fx(x1)}
        </text>
        {series.map((s, i) => (
          <polyline
            key={s.name}
            className={`chart-line chart-line-${i % 6}`}
            fill="none"
            points={s.points.map((p) => `${sx(p.x)},${sy(p.y)}`).join(' ')}
          />
        ))}
      </svg>
      {series.length > 1 && (
        <ul className="chart-legend">
          {series.map((s, i) => (
            <li key={s.name}>
              <span className={`chart-swatch chart-line-${i % 6}`} aria-hidden="true" /> {s.name}
            </li>
          ))}
        </ul>
      )}
      <table className="visually-hidden">
        <caption>{t('chartTable')}</caption>
        <thead>
          <tr>
            <th scope="col">{t('time')}</th>
            {series.map((s) => (
              <th key={s.name} scope="col">
                {s.name}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {[...new Set(xs)].sort((a, b) => a - b).slice(-50).map((x) => (
            <tr key={x}>
              <th scope="row">{fx(x)}</th>
              {series.map((s) => {
                const p = s.points.find((q) => q.x === x);
                return <td key={s.name}>{p ? fy(p.y) : ''}</td>;
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

export interface MeterProps {
  label: string;
  value: number;
  max: number;
  /** How value and max read: default plain numbers. */
  format?: (n: number) => string;
  /** Fraction at which the bar turns warning (default 0.8) and bad (default 0.9). */
  warnAt?: number;
  badAt?: number;
}

/** Usage of a capacity (CPU, memory, pods): a bar, the numbers and the percent. */
export function Meter({ label, value, max, format, warnAt = 0.8, badAt = 0.9 }: MeterProps) {
  const t = useT(messages);
  const f = useFormat();
  const fmt = format ?? ((n: number) => f.number(n));
  const ratio = max > 0 ? Math.min(1, Math.max(0, value / max)) : 0;
  const tone = ratio >= badAt ? 'bad' : ratio >= warnAt ? 'warn' : 'ok';
  const text = `${t('of', { value: fmt(value), max: fmt(max) })} (${Math.round(ratio * 100)}%)`;
  return (
    <div className="meter">
      <div className="meter-label">
        <span>{label}</span>
        <span>{text}</span>
      </div>
      <div role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={max} aria-valuenow={value} aria-valuetext={text} className="meter-track">
        <div className={`meter-fill meter-${tone}`} style={{ width: `${ratio * 100}%` }} />
      </div>
    </div>
  );
}
