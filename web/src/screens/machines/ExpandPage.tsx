// /clusters/:id/expand: join available worker machines to a created cluster, then follow
// the expansion live (?expansion=<id>); the cluster's expansion history.
import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { Link, useParams, useSearchParams } from 'react-router-dom';
import { ApiError } from '../../api/client';
import { ErrorBanner, FormField, Page, StatusBadge } from '../../ui';
import {
  expansionApi,
  fieldOf,
  fmt,
  machinesApi,
} from './api';
import { ACTIVE } from './timeline';
import { Timeline } from './Timeline';
import { useLive } from './useLive';
import { useM } from './useM';
import { useFormat } from '../../i18n';

function asError(err: unknown): ApiError {
  return err instanceof ApiError ? err : new ApiError(0, 0, String(err));
}

export function ExpandPage() {
  const m = useM();
  const fmtd = useFormat();
  const { id = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const running = params.get('expansion');
  const loadCluster = useCallback(() => expansionApi.cluster(id), [id]);
  const loadHistory = useCallback(() => expansionApi.history(id), [id]);
  const loadWorkers = useCallback(() => machinesApi.list({ status: 'available', role: 'worker' }), []);
  const cluster = useLive(loadCluster, 5000, [loadCluster]);
  const history = useLive(loadHistory, 5000, [loadHistory]);
  const workers = useLive(loadWorkers, 5000, [loadWorkers]);
  const [chosen, setChosen] = useState<Record<string, boolean>>({});
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  const c = cluster.data;
  const ids = (workers.data?.machines ?? []).filter((x) => chosen[x.id]).map((x) => x.id);
  const nodes = c?.node_count ?? 0;
  const named = error ? fieldOf(error.message) : null;

  async function submit(e: FormEvent): Promise<void> {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const made = await expansionApi.request(id, {
        new_node_count: nodes + ids.length,
        new_cpu_cores: 0,
        new_memory_gb: 0,
        new_storage_gb: 0,
        reason,
        machine_ids: ids,
      });
      setChosen({});
      setParams({ expansion: made.id });
      history.reload();
    } catch (err) {
      setError(asError(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Page title={c ? `${m.expand}: ${c.name}` : m.expand}>
      <p>
        <Link to={`/clusters/${id}`}>{m.back}</Link>
      </p>
      {cluster.error ? <ErrorBanner error={cluster.error} /> : null}
      {running ? (
        <ExpansionRun
          clusterId={id}
          expansionId={running}
          onEnded={() => {
            void history.reload();
            void cluster.reload();
          }}
        />
      ) : null}

      <form className="mx-form" onSubmit={(e) => void submit(e)} aria-labelledby="mx-expand-form">
        <h2 id="mx-expand-form">{m.chooseWorkers}</h2>
        <p className="mx-hint">{m.expandIntro}</p>
        {error && named !== 'machine_ids' && named !== 'new_node_count' ? (
          <ErrorBanner error={error} />
        ) : null}
        {workers.error ? <ErrorBanner error={workers.error} /> : null}
        {workers.data && workers.data.machines.length === 0 ? <p>{m.noWorkers}</p> : null}
        <fieldset aria-describedby="mx-expand-err">
          <legend>{m.chooseWorkers}</legend>
          {(workers.data?.machines ?? []).map((x) => (
            <label key={x.id} className="mx-check">
              <input
                type="checkbox"
                checked={Boolean(chosen[x.id])}
                onChange={(e) => setChosen({ ...chosen, [x.id]: e.target.checked })}
              />{' '}
              {x.name} ({x.ip_address})
            </label>
          ))}
          {error && (named === 'machine_ids' || named === 'new_node_count') ? (
            <p id="mx-expand-err" className="mx-error" role="alert">
              {error.message}
            </p>
          ) : null}
        </fieldset>
        <p role="status">
          {fmt(m.nodesNow, { n: nodes })} · {fmt(m.nodesAfter, { n: nodes + ids.length })}
        </p>
        <FormField label={m.expandReason}>
          {(f) => (
            <input {...f} value={reason} onChange={(e) => setReason(e.target.value)} />
          )}
        </FormField>
        <div className="mx-actions">
          <button type="submit" className="primary" disabled={busy || ids.length === 0}>
            {m.startExpansion}
          </button>
        </div>
      </form>

      <section aria-labelledby="mx-expansions">
        <h2 id="mx-expansions">{m.expansions}</h2>
        {history.error ? <ErrorBanner error={history.error} /> : null}
        {history.data && history.data.expansions.length === 0 ? <p>{m.noExpansions}</p> : null}
        {history.data && history.data.expansions.length > 0 ? (
          <table className="mx-table" aria-label={m.expansions}>
            <thead>
              <tr>
                <th scope="col">{m.requestedAt}</th>
                <th scope="col">{m.nodeChange}</th>
                <th scope="col">{m.status}</th>
                <th scope="col">{m.reason}</th>
              </tr>
            </thead>
            <tbody>
              {history.data.expansions.map((x) => (
                <tr key={x.id}>
                  <td>
                    <Link to={`/clusters/${id}/expand?expansion=${x.id}`}>
                      {fmtd.dateTime(x.created_at)}
                    </Link>
                  </td>
                  <td>
                    {x.old_node_count} → {x.new_node_count}
                  </td>
                  <td>
                    <StatusBadge status={x.status} />
                  </td>
                  <td>{x.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </section>
    </Page>
  );
}

function ExpansionRun(props: { clusterId: string; expansionId: string; onEnded: () => void }) {
  const m = useM();
  const load = useCallback(
    () => expansionApi.get(props.clusterId, props.expansionId),
    [props.clusterId, props.expansionId],
  );
  const run = useLive(load, 1500, [load]);
  const [error, setError] = useState<ApiError | null>(null);
  const x = run.data;
  const ended = x ? !ACTIVE.has(x.status) : false;
  const { onEnded } = props;
  // The history and the node count change when the run ends: read them again then.
  useEffect(() => {
    if (ended) onEnded();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [ended]);
  if (!x) return run.error ? <ErrorBanner error={run.error} /> : <p>{m.loading}</p>;
  const active = ACTIVE.has(x.status);
  return (
    <section aria-labelledby="mx-expansion-run" className="mx-run">
      <div className="mx-head">
        <h2 id="mx-expansion-run">
          {m.expansion}: {x.old_node_count} → {x.new_node_count}
        </h2>
        <StatusBadge status={x.status} />
      </div>
      {active ? (
        <button
          type="button"
          className="danger"
          onClick={() =>
            void expansionApi
              .cancel(props.clusterId, props.expansionId)
              .then(() => run.reload())
              .catch((err) => setError(asError(err)))
          }
        >
          {m.cancelExpansion}
        </button>
      ) : null}
      {error ? <ErrorBanner error={error} /> : null}
      {x.error_msg ? (
        <div className="mx-check-error" role="alert">
          <strong>{m.error}:</strong> <pre className="mx-error-text">{x.error_msg}</pre>
        </div>
      ) : null}
      <Timeline
        label={m.progress}
        run={{
          status: x.status,
          progress: x.progress,
          current_step: x.current_step,
          planned_steps: x.planned_steps ?? [],
          steps: x.steps ?? [],
          machines: x.machines ?? [],
          logs: x.logs,
          ended: !active,
        }}
      />
    </section>
  );
}
