// Pure logic of the step timeline (create tasks and expansions): what each planned step's
// status is from the journal, "step i of n", per-machine counts, and the log split by host.

export interface PlannedStep {
  step: string;
  title: string;
  per_machine: boolean;
}
export interface JournalRow {
  step: string;
  machine_id: string;
  status: string; // pending | running | done | failed
  attempt: number;
}
export interface RunMachine {
  machine_id: string;
  node_name: string;
  address: string;
}
export type StepState = 'pending' | 'running' | 'done' | 'failed';

export interface StepView {
  index: number; // 1-based
  step: string;
  title: string;
  state: StepState;
  perMachine: boolean;
  done: number; // machines done (per-machine steps) or 0/1
  total: number; // machines it runs on (per-machine steps) or 1
  machines: { machine_id: string; status: string; attempt: number }[];
}

function stateOf(rows: JournalRow[], ended: boolean): StepState {
  if (rows.some((r) => r.status === 'failed')) return 'failed';
  // A row still running after the run ended was interrupted: it runs again on a retry.
  if (rows.some((r) => r.status === 'running')) return ended ? 'pending' : 'running';
  if (rows.length > 0 && rows.every((r) => r.status === 'done')) return 'done';
  return 'pending';
}

/** The planned steps with their state; steps of the journal not in the plan (a changed
 * pipeline) are appended so nothing the run did is hidden. */
export function stepViews(planned: PlannedStep[], journal: JournalRow[], ended: boolean): StepView[] {
  const byStep = new Map<string, JournalRow[]>();
  for (const row of journal) {
    const list = byStep.get(row.step) ?? [];
    list.push(row);
    byStep.set(row.step, list);
  }
  const all: PlannedStep[] = [...planned];
  for (const [name, rows] of byStep) {
    if (!planned.some((p) => p.step === name)) {
      all.push({ step: name, title: name, per_machine: rows.some((r) => r.machine_id !== '') });
    }
  }
  return all.map((p, i) => {
    const rows = byStep.get(p.step) ?? [];
    return {
      index: i + 1,
      step: p.step,
      title: p.title,
      state: stateOf(rows, ended),
      perMachine: p.per_machine,
      // Machines the step runs on are known once it has started (some run on masters only).
      done: rows.filter((r) => r.status === 'done').length,
      total: rows.length,
      machines: rows.map((r) => ({ machine_id: r.machine_id, status: r.status, attempt: r.attempt })),
    };
  });
}

/** The step running now (or the first not done), 1-based, and how many there are. */
export function currentIndex(views: StepView[]): { index: number; total: number } {
  const total = views.length;
  const active = views.find((v) => v.state === 'running' || v.state === 'failed');
  if (active) return { index: active.index, total };
  const next = views.find((v) => v.state === 'pending');
  return { index: next ? next.index : total, total };
}

export interface LogLine {
  at: string;
  host: string;
  step: string;
  text: string;
  raw: string;
}

const LINE = /^(\S+) \[([^\]]*)\] ([^:]+): ?(.*)$/;

/** `<time> [<host>] <step>: <line>` lines (the API's format); others are kept whole. */
export function parseLog(logs: string): LogLine[] {
  if (!logs) return [];
  return logs.split('\n').map((raw) => {
    const m = LINE.exec(raw);
    if (!m) return { at: '', host: '', step: '', text: raw, raw };
    return { at: m[1], host: m[2], step: m[3], text: m[4], raw };
  });
}

/** The hosts the log names, the machines' node names first, in the run's order. */
export function logHosts(lines: LogLine[], machines: RunMachine[]): string[] {
  const hosts = machines.map((m) => m.node_name);
  for (const line of lines) {
    if (line.host && !hosts.includes(line.host)) hosts.push(line.host);
  }
  return hosts;
}

export const ACTIVE = new Set(['pending', 'running', 'in_progress']);
