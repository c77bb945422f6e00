// /provision/tasks/:id: a create task live: its timeline, machines, logs; retry, cancel.
import { useCallback, useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import { ApiError } from '../../api/client';
import { ErrorBanner, Page, StatusBadge } from '../../ui';
import { provisionApi } from './api';
import { ACTIVE } from './timeline';
import { Timeline } from './Timeline';
import { useLive } from './useLive';
import { useM } from './useM';
import { useFormat } from '../../i18n';

export function TaskPage() {
  const m = useM();
  const fmtd = useFormat();
  const { id = '' } = useParams();
  const load = useCallback(() => provisionApi.task(id), [id]);
  const task = useLive(load, 1500, [load]);
  const [actionError, setActionError] = useState<ApiError | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const t = task.data;
  if (!t) {
    return (
      <div className="mx-page">
        {task.error ? <ErrorBanner error={task.error} /> : <p>{m.loading}</p>}
      </div>
    );
  }
  const active = ACTIVE.has(t.status);

  async function act(run: () => Promise<unknown>, done?: string): Promise<void> {
    setActionError(null);
    setNote(null);
    try {
      await run();
      if (done) setNote(done);
      task.reload();
    } catch (err) {
      setActionError(err instanceof ApiError ? err : new ApiError(0, 0, String(err)));
    }
  }

  return (
    <Page title={`${m.task}: ${t.cluster_name}`} actions={<StatusBadge status={t.status} />}>
      <p>
        <Link to="/machines">{m.back}</Link>
      </p>
      <dl className="mx-dl">
        <dt>{m.version}</dt>
        <dd>
          {t.kubernetes_version} · {t.network_plugin}
        </dd>
        <dt>{m.started}</dt>
        <dd>{fmtd.dateTime(t.started_at)}</dd>
        <dt>{m.completed}</dt>
        <dd>{fmtd.dateTime(t.completed_at)}</dd>
      </dl>
      <div className="mx-actions">
        {active ? (
          <button
            type="button"
            className="danger"
            onClick={() => void act(() => provisionApi.cancel(id), m.cancelRequested)}
          >
            {m.cancelTask}
          </button>
        ) : null}
        {t.status === 'failed' || t.status === 'cancelled' ? (
          <button type="button" className="primary" onClick={() => void act(() => provisionApi.retry(id))}>
            {m.retry}
          </button>
        ) : null}
        {t.status === 'completed' && t.cluster_id ? (
          <Link className="mx-button mx-button-primary" to={`/clusters/${t.cluster_id}`}>
            {m.openCluster}
          </Link>
        ) : null}
      </div>
      {note ? (
        <p role="status" className="mx-note">
          {note}
        </p>
      ) : null}
      {actionError ? <ErrorBanner error={actionError} /> : null}
      {task.error ? <ErrorBanner error={task.error} /> : null}
      {t.error_msg ? (
        <div className="mx-check-error" role="alert">
          <strong>{m.error}:</strong> <pre className="mx-error-text">{t.error_msg}</pre>
        </div>
      ) : null}
      <Timeline
        label={m.progress}
        run={{
          status: t.status,
          progress: t.progress,
          current_step: t.current_step,
          planned_steps: t.planned_steps ?? [],
          steps: t.steps ?? [],
          machines: t.machines ?? [],
          logs: t.logs,
          ended: !active,
        }}
      />
      <section aria-labelledby="mx-task-machines">
        <h2 id="mx-task-machines">{m.taskMachines}</h2>
        <table className="mx-table">
          <thead>
            <tr>
              <th scope="col">{m.node}</th>
              <th scope="col">{m.role}</th>
              <th scope="col">{m.address}</th>
            </tr>
          </thead>
          <tbody>
            {(t.machines ?? []).map((x) => (
              <tr key={x.machine_id}>
                <td>
                  <Link to={`/machines/${x.machine_id}`}>{x.node_name}</Link>
                </td>
                <td>{x.role}</td>
                <td>{x.address}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </Page>
  );
}
