// A preflight report: the summary, then each check (set-wide and per machine).
import type { PreflightOut } from './api';
import { fmt } from './api';
import { useM } from './useM';

export function PreflightReport(props: { report: PreflightOut }) {
  const m = useM();
  const r = props.report;
  const names = new Map(r.machines.map((x) => [x.id, x.name]));
  const rows = [
    ...r.checks.map((c) => ({ ...c, where: c.machine_ids.map((i) => names.get(i) ?? i).join(', ') })),
    ...r.machines.flatMap((x) => x.checks.map((c) => ({ ...c, where: x.name }))),
  ];
  return (
    <div className="mx-preflight">
      <p role="status" className={r.passed ? 'mx-pass' : 'mx-fail'}>
        <strong>{r.passed ? m.preflightPassed : m.preflightFailed}</strong>{' '}
        {fmt(m.summary, { pass: r.summary.pass, warn: r.summary.warn, fail: r.summary.fail })}
      </p>
      <table className="mx-table" aria-label={m.preflight}>
        <thead>
          <tr>
            <th scope="col">{m.machine}</th>
            <th scope="col">{m.check}</th>
            <th scope="col">{m.result}</th>
            <th scope="col">{m.message}</th>
            <th scope="col">{m.hint}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((c, i) => (
            <tr key={`${c.where}-${c.name}-${i}`} className={`mx-check-${c.status}`}>
              <td>{c.where}</td>
              <td>{c.name}</td>
              <td>
                <span className={`mx-result mx-result-${c.status}`}>{c.status}</span>
              </td>
              <td>{c.message}</td>
              <td>{c.hint ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
