// What a check read on the machine (MachineFacts), as a definition list.
import { useFormat } from '../../i18n';
import { useM } from './useM';

type Facts = Record<string, unknown>;

function text(value: unknown): string {
  if (value == null || value === '') return '—';
  return String(value);
}

export function FactsTable(props: { facts: Facts }) {
  const m = useM();
  const fmtd = useFormat();
  const bytes = (n: unknown): string => (typeof n === 'number' ? fmtd.bytes(n) : '—');
  const f = props.facts;
  const ports = Array.isArray(f.ports_in_use) ? (f.ports_in_use as number[]) : [];
  const rows: [string, string][] = [
    [m.hostname, text(f.hostname)],
    [m.os, `${text(f.os_name)} ${f.os_version ? String(f.os_version) : ''}`.trim()],
    [m.kernel, text(f.kernel)],
    [m.arch, text(f.arch)],
    [m.cpu, text(f.cpu_cores)],
    [m.memory, bytes(f.memory_bytes)],
    [m.disk, `${bytes(f.disk_root_free_bytes)} / ${bytes(f.disk_root_bytes)}`],
    [m.runtime, text(f.container_runtime ?? m.none)],
    [m.kubelet, text(f.kubelet ?? m.none)],
    [m.swap, f.swap_on ? m.yes : m.no],
    [m.cgroup, text(f.cgroup_version)],
    [m.init, text(f.init_system)],
    [m.clock, typeof f.clock_offset_ms === 'number' ? `${f.clock_offset_ms.toFixed(0)} ms` : '—'],
    [m.ports, ports.length ? ports.join(', ') : m.none],
  ];
  return (
    <dl className="mx-dl mx-facts" aria-label={m.facts}>
      {rows.map(([k, v]) => (
        <div key={k} className="mx-dl-row">
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}
