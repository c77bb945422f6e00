// /machines: the inventory (status, role, last check; search and status filter, live),
// adding a machine, and the create tasks with their progress.
import { useCallback, useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { ErrorBanner, Page, Progress, StatusBadge } from '../../ui';
import { machinesApi, provisionApi } from './api';
import { MachineForm } from './MachineForm';
import { useLive } from './useLive';
import { useM } from './useM';
import { useFormat } from '../../i18n';

const STATUSES = ['available', 'in_use', 'deploying', 'maintenance', 'unavailable', 'offline', 'error'];

export function MachineList() {
  const m = useM();
  const fmtd = useFormat();
  const navigate = useNavigate();
  const [search, setSearch] = useState('');
  const [status, setStatus] = useState('');
  const [adding, setAdding] = useState(false);
  const load = useCallback(() => machinesApi.list({ search, status }), [search, status]);
  const machines = useLive(load, 3000, [load]);
  const tasks = useLive(provisionApi.tasks, 3000, [provisionApi.tasks]);

  return (
    <Page
      title={m.inventory}
      actions={
        <>
          <button type="button" className="primary" onClick={() => setAdding(true)} disabled={adding}>
            {m.addMachine}
          </button>
          <Link className="mx-button" to="/provision/new">
            {m.createCluster}
          </Link>
        </>
      }
    >
      {adding ? (
        <MachineForm
          onCreated={(created) => navigate(`/machines/${created.id}`)}
          onCancel={() => setAdding(false)}
        />
      ) : null}
      <div className="mx-filters" role="search">
        <label>
          {m.search}{' '}
          <input type="search" value={search} onChange={(e) => setSearch(e.target.value)} />
        </label>
        <label>
          {m.statusFilter}{' '}
          <select value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="">{m.all}</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
      </div>
      {machines.error ? <ErrorBanner error={machines.error} /> : null}
      {machines.data && machines.data.machines.length === 0 ? <p>{m.noMachines}</p> : null}
      {machines.data && machines.data.machines.length > 0 ? (
        <table className="mx-table" aria-label={m.inventory}>
          <thead>
            <tr>
              <th scope="col">{m.name}</th>
              <th scope="col">{m.address}</th>
              <th scope="col">{m.role}</th>
              <th scope="col">{m.status}</th>
              <th scope="col">{m.lastChecked}</th>
            </tr>
          </thead>
          <tbody>
            {machines.data.machines.map((row) => (
              <tr key={row.id}>
                <td>
                  <Link to={`/machines/${row.id}`}>{row.name}</Link>
                </td>
                <td>
                  {row.ip_address}:{row.port}
                </td>
                <td>{row.role}</td>
                <td>
                  <StatusBadge status={row.status} />
                  {row.status_message ? <span className="mx-sub"> {row.status_message}</span> : null}
                </td>
                <td>{row.last_checked_at ? fmtd.dateTime(row.last_checked_at) : m.never}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {!machines.data && !machines.error ? <p>{m.loading}</p> : null}

      <h2>{m.recentTasks}</h2>
      {tasks.error ? <ErrorBanner error={tasks.error} /> : null}
      {tasks.data && tasks.data.tasks.length === 0 ? <p>{m.noTasks}</p> : null}
      {tasks.data && tasks.data.tasks.length > 0 ? (
        <table className="mx-table" aria-label={m.recentTasks}>
          <thead>
            <tr>
              <th scope="col">{m.clusterName}</th>
              <th scope="col">{m.status}</th>
              <th scope="col">{m.progress}</th>
              <th scope="col">{m.currentStep}</th>
              <th scope="col">{m.version}</th>
            </tr>
          </thead>
          <tbody>
            {tasks.data.tasks.map((task) => (
              <tr key={task.id}>
                <td>
                  <Link to={`/provision/tasks/${task.id}`}>{task.cluster_name}</Link>
                </td>
                <td>
                  <StatusBadge status={task.status} />
                </td>
                <td>
                  <Progress value={task.progress} label={`${task.cluster_name} ${m.progress}`} />
                </td>
                <td>{task.current_step}</td>
                <td>{task.kubernetes_version}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </Page>
  );
}
