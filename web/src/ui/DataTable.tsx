// A virtualised table (@tanstack/react-virtual): only the visible rows are in the DOM, so
// 5,000 nodes or 2,000 clusters scroll without lag. ARIA grid semantics with
// aria-rowcount/aria-rowindex; the body is one tab stop, arrows/PageUp/PageDown/Home/End
// move the active row, Enter activates it; header buttons sort.
import { useVirtualizer } from '@tanstack/react-virtual';
import { useId, useMemo, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';
import { useT } from '../i18n';
import { messages } from './messages';

export interface Column<T> {
  key: string;
  header: string;
  /** The cell; default `String(row[key])`. */
  render?: (row: T) => ReactNode;
  /** Makes the column sortable by this value. */
  sortValue?: (row: T) => string | number | null | undefined;
  /** A CSS grid track: '2fr', '120px', 'minmax(8rem, 1fr)'; default '1fr'. */
  width?: string;
}

export interface DataTableProps<T> {
  rows: readonly T[];
  columns: Column<T>[];
  rowKey: (row: T) => string;
  /** The table's accessible name. */
  label: string;
  /** Enter or click on a row (e.g. open its detail). */
  onActivate?: (row: T) => void;
  /** Height of the scrolling body in px (default 480). */
  height?: number;
  /** Row height in px (default 40); rows are fixed height. */
  rowHeight?: number;
  /** Shown when there are no rows. */
  empty?: ReactNode;
  /** Initial sort. */
  initialSort?: { key: string; dir: 'asc' | 'desc' };
}

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

export function DataTable<T>({
  rows,
  columns,
  rowKey,
  label,
  onActivate,
  height = 480,
  rowHeight = 40,
  empty,
  initialSort,
}: DataTableProps<T>) {
  const t = useT(messages);
  const id = useId();
  const [sort, setSort] = useState(initialSort ?? null);
  const [active, setActive] = useState(0);
  const body = useRef<HTMLDivElement>(null);
  const sorted = useMemo(() => {
    const column = sort ? columns.find((c) => c.key === sort.key) : undefined;
    if (!sort || !column?.sortValue) return rows;
    const value = column.sortValue;
    const out = [...rows].sort((a, b) => compare(value(a), value(b)));
    return sort.dir === 'desc' ? out.reverse() : out;
  }, [rows, columns, sort]);
  const virtual = useVirtualizer({
    count: sorted.length,
    getScrollElement: () => body.current,
    estimateSize: () => rowHeight,
    overscan: 10,
  });
  const template = columns.map((c) => c.width ?? '1fr').join(' ');
  const current = Math.min(active, Math.max(0, sorted.length - 1));

  const go = (to: number) => {
    const next = Math.max(0, Math.min(sorted.length - 1, to));
    setActive(next);
    virtual.scrollToIndex(next, { align: 'auto' });
  };
  const onKey = (e: KeyboardEvent) => {
    const page = Math.max(1, Math.floor(height / rowHeight) - 1);
    const moves: Record<string, number> = {
      ArrowDown: current + 1,
      ArrowUp: current - 1,
      PageDown: current + page,
      PageUp: current - page,
      Home: 0,
      End: sorted.length - 1,
    };
    if (e.key in moves) {
      e.preventDefault();
      go(moves[e.key]!);
    } else if (e.key === 'Enter' && onActivate && sorted[current]) {
      e.preventDefault();
      onActivate(sorted[current]);
    }
  };
  const toggle = (key: string) =>
    setSort((s) => (s?.key === key ? { key, dir: s.dir === 'asc' ? 'desc' : 'asc' } : { key, dir: 'asc' }));

  return (
    <>
    <div
      className="table"
      role="grid"
      aria-label={label}
      aria-rowcount={sorted.length + 1}
      aria-colcount={columns.length}
      tabIndex={sorted.length ? 0 : undefined}
      aria-activedescendant={sorted.length ? `${id}-row-${current}` : undefined}
      onKeyDown={onKey}
    >
      <div className="table-row table-head" role="row" aria-rowindex={1} style={{ gridTemplateColumns: template }}>
        {columns.map((c) => {
          const dir = sort?.key === c.key ? sort.dir : null;
          return (
            <div
              key={c.key}
              role="columnheader"
              className="table-cell"
              aria-sort={dir === 'asc' ? 'ascending' : dir === 'desc' ? 'descending' : c.sortValue ? 'none' : undefined}
            >
              {c.sortValue ? (
                <button type="button" className="sort" onClick={() => toggle(c.key)}>
                  {c.header}
                  <span aria-hidden="true">{dir === 'asc' ? ' ▲' : dir === 'desc' ? ' ▼' : ''}</span>
                </button>
              ) : (
                c.header
              )}
            </div>
          );
        })}
      </div>
      {sorted.length === 0 ? (
        <div className="table-empty" role="row">
          <div role="gridcell">{empty ?? t('empty')}</div>
        </div>
      ) : (
        <div
          ref={body}
          className="table-body"
          role="rowgroup"
          style={{ height: Math.min(height, sorted.length * rowHeight + 2) }}
        >
          <div style={{ height: virtual.getTotalSize(), position: 'relative' }}>
            {virtual.getVirtualItems().map((item) => {
              const row = sorted[item.index]!;
              return (
                <div
                  key={rowKey(row)}
                  id={`${id}-row-${item.index}`}
                  role="row"
                  aria-rowindex={item.index + 2}
                  aria-selected={item.index === current}
                  className={`table-row${item.index === current ? ' table-row-active' : ''}${onActivate ? ' table-row-link' : ''}`}
                  style={{ gridTemplateColumns: template, height: rowHeight, transform: `translateY(${item.start}px)` }}
                  onClick={() => {
                    setActive(item.index);
                    onActivate?.(row);
                  }}
                >
                  {columns.map((c) => (
                    <div key={c.key} role="gridcell" className="table-cell">
                      {c.render ? c.render(row) : String((row as Record<string, unknown>)[c.key] ?? '')}
                    </div>
                  ))}
                </div>
              );
            })}
          </div>
        </div>
      )}
    </div>
    {/* Outside the grid: a grid may hold only rows (axe: aria-required-children). */}
    <div className="table-foot" aria-live="polite">
      {t('rows', { count: sorted.length })}
    </div>
    </>
  );
}
