// The live step timeline of a run (a create task or an expansion): progress with its
// number, "step i/n", each planned step's state with its per-machine count, and the log
// split by machine.
import { useMemo, useState } from 'react';
import { Progress } from '../../ui';
import { fmt } from './api';
import {
  type JournalRow,
  type PlannedStep,
  type RunMachine,
  currentIndex,
  logHosts,
  parseLog,
  stepViews,
} from './timeline';
import { useM } from './useM';

export interface RunView {
  status: string;
  progress: number;
  current_step: string;
  planned_steps: PlannedStep[];
  steps: JournalRow[];
  machines: RunMachine[];
  logs: string;
  ended: boolean;
}

export function Timeline(props: { run: RunView; label: string }) {
  const m = useM();
  const { run } = props;
  const views = useMemo(
    () => stepViews(run.planned_steps, run.steps, run.ended),
    [run.planned_steps, run.steps, run.ended],
  );
  const { index, total } = currentIndex(views);
  const names = new Map(run.machines.map((x) => [x.machine_id, x.node_name]));
  const stateText: Record<string, string> = {
    pending: m.stepPending,
    running: m.stepRunning,
    done: m.stepDone,
    failed: m.stepFailed,
  };
  return (
    <div className="mx-timeline">
      <div className="mx-progress">
        <Progress value={run.progress} label={`${props.label}: ${run.progress}%`} />
        <p role="status" aria-live="polite" className="mx-now">
          <span className="mx-stepnum">{fmt(m.stepIofN, { i: index, n: total })}</span> ·{' '}
          <span className="mx-current">{run.current_step}</span> · {run.progress}%
        </p>
      </div>
      <h2>{m.timeline}</h2>
      <ol className="mx-tl" aria-label={m.timeline}>
        {views.map((v) => (
          <li key={v.step} className={`mx-tl-step mx-tl-${v.state}`} data-step={v.step} data-state={v.state}>
            <span className="mx-tl-num">
              {v.index}/{views.length}
            </span>{' '}
            <span className="mx-tl-title">{v.title}</span>{' '}
            <span className={`mx-tl-state mx-tl-state-${v.state}`}>{stateText[v.state]}</span>
            {v.perMachine && v.total > 0 ? (
              <span className="mx-tl-count">
                {' '}
                · {fmt(m.machinesDone, { done: v.done, total: v.total })}
              </span>
            ) : null}
            {v.perMachine && v.machines.length > 0 ? (
              <ul className="mx-tl-machines">
                {v.machines.map((x) => (
                  <li key={x.machine_id} className={`mx-tl-${x.status}`}>
                    {names.get(x.machine_id) ?? x.machine_id}: {stateText[x.status] ?? x.status}
                    {x.attempt > 1 ? ` (${fmt(m.attempt, { n: x.attempt })})` : ''}
                  </li>
                ))}
              </ul>
            ) : null}
          </li>
        ))}
      </ol>
      <RunLogs logs={run.logs} machines={run.machines} />
    </div>
  );
}

function RunLogs(props: { logs: string; machines: RunMachine[] }) {
  const m = useM();
  const lines = useMemo(() => parseLog(props.logs), [props.logs]);
  const hosts = logHosts(lines, props.machines);
  const [host, setHost] = useState('');
  const shown = host ? lines.filter((l) => l.host === host) : lines;
  return (
    <section aria-labelledby="mx-logs" className="mx-logs">
      <h2 id="mx-logs">{m.logs}</h2>
      <label>
        {m.logsOf}{' '}
        <select value={host} onChange={(e) => setHost(e.target.value)} name="log-host">
          <option value="">{m.allHosts}</option>
          {hosts.map((h) => (
            <option key={h} value={h}>
              {h === 'cluster' ? m.cluster : h}
            </option>
          ))}
        </select>
      </label>
      {shown.length === 0 ? (
        <p>{m.noLogs}</p>
      ) : (
        // A focusable scroll region so keyboard users can scroll it.
        <pre className="mx-log" tabIndex={0} aria-label={m.logs}>
          {shown.map((l) => l.raw).join('\n')}
        </pre>
      )}
    </section>
  );
}
