// /machines/:id: status, credentials (only whether one is stored), facts, preflight,
// status change, the status-change history; check now, delete.
import { useCallback, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { ApiError } from '../../api/client';
import { ErrorBanner, Page, StatusBadge } from '../../ui';
import { fmt, machinesApi } from './api';
import { FactsTable } from './FactsTable';
import { PreflightReport } from './PreflightReport';
import { useLive } from './useLive';
import { useM } from './useM';
import { useFormat } from '../../i18n';

const OPERATOR_STATUSES = ['available', 'unavailable', 'maintenance', 'error'];
const PREFLIGHT_ROLES = ['master', 'worker', 'etcd'];

function asError(err: unknown): ApiError {
  return err instanceof ApiError ? err : new ApiError(0, 0, String(err));
}

export function MachineDetail() {
  const m = useM();
  const fmtd = useFormat();
  const { id = '' } = useParams();
  const navigate = useNavigate();
  const load = useCallback(() => machinesApi.get(id), [id]);
  const loadEvents = useCallback(() => machinesApi.events(id), [id]);
  const machine = useLive(load, 2000, [load]);
  const events = useLive(loadEvents, 4000, [loadEvents]);
  const [note, setNote] = useState<string | null>(null);
  const [actionError, setActionError] = useState<ApiError | null>(null);
  const [newStatus, setNewStatus] = useState('maintenance');
  const [statusMessage, setStatusMessage] = useState('');
  const [confirmName, setConfirmName] = useState('');

  const d = machine.data;
  if (!d) {
    return (
      <div className="mx-page">
        {machine.error ? <ErrorBanner error={machine.error} /> : <p>{m.loading}</p>}
      </div>
    );
  }

  async function act(run: () => Promise<unknown>, done?: string): Promise<void> {
    setActionError(null);
    setNote(null);
    try {
      await run();
      if (done) setNote(done);
      machine.reload();
      events.reload();
    } catch (err) {
      setActionError(asError(err));
    }
  }

  return (
    <Page title={`${m.machine} ${d.name}`} actions={<StatusBadge status={d.status} />}>
      <p>
        <Link to="/machines">{m.back}</Link>
      </p>
      {d.status_message ? <p className="mx-sub">{d.status_message}</p> : null}
      {note ? (
        <p role="status" className="mx-note">
          {note}
        </p>
      ) : null}
      {actionError ? <ErrorBanner error={actionError} /> : null}

      <section aria-labelledby="mx-overview">
        <h2 id="mx-overview">{m.overview}</h2>
        <dl className="mx-dl">
          <dt>{m.address}</dt>
          <dd>
            {d.ip_address}:{d.port}
          </dd>
          <dt>{m.internalAddress}</dt>
          <dd>{d.internal_address}</dd>
          <dt>{m.user}</dt>
          <dd>{d.user}</dd>
          <dt>{m.role}</dt>
          <dd>{d.role}</dd>
          <dt>{m.reachable}</dt>
          <dd>{d.reachable == null ? m.unknown : d.reachable ? m.yes : m.no}</dd>
          <dt>{m.lastChecked}</dt>
          <dd>{d.last_checked_at ? fmtd.dateTime(d.last_checked_at) : m.never}</dd>
          <dt>{m.labels}</dt>
          <dd>
            {Object.entries(d.labels).map(([k, v]) => `${k}=${v}`).join(', ') || m.none}
          </dd>
        </dl>
        {d.check_error ? (
          <div className="mx-check-error" role="alert">
            <strong>{m.checkError}:</strong> <span className="mx-check-message">{d.check_error}</span>
          </div>
        ) : null}
        <div className="mx-actions">
          <button type="button" onClick={() => void act(() => machinesApi.check(id), m.checkQueued)}>
            {m.checkNow}
          </button>
        </div>
      </section>

      <section aria-labelledby="mx-credentials">
        <h2 id="mx-credentials">{m.credentials}</h2>
        <ul className="mx-plain">
          <li>{d.has_password ? m.passwordSet : m.passwordUnset}</li>
          <li>{d.has_private_key ? m.keySet : m.keyUnset}</li>
          <li>
            {m.hostKeyFingerprint}: <code>{d.host_key_fingerprint ?? m.none}</code>
            {d.host_key_source ? ` (${m.hostKeySource}: ${d.host_key_source})` : ''}
          </li>
        </ul>
      </section>

      <section aria-labelledby="mx-facts">
        <h2 id="mx-facts">{m.facts}</h2>
        {d.facts ? <FactsTable facts={d.facts} /> : <p>{m.noFacts}</p>}
      </section>

      <PreflightSection id={id} defaultRole={PREFLIGHT_ROLES.includes(d.role) ? d.role : 'worker'} />

      <section aria-labelledby="mx-status">
        <h2 id="mx-status">{m.changeStatus}</h2>
        <form
          className="mx-inline"
          onSubmit={(e) => {
            e.preventDefault();
            void act(() => machinesApi.setStatus(id, newStatus, statusMessage));
          }}
        >
          <label>
            {m.status}{' '}
            <select value={newStatus} onChange={(e) => setNewStatus(e.target.value)}>
              {OPERATOR_STATUSES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
          <label>
            {m.statusMessage}{' '}
            <input value={statusMessage} onChange={(e) => setStatusMessage(e.target.value)} />
          </label>
          <button type="submit">{m.apply}</button>
        </form>
      </section>

      <section aria-labelledby="mx-events">
        <h2 id="mx-events">{m.history}</h2>
        {events.error ? <ErrorBanner error={events.error} /> : null}
        {events.data && events.data.events.length === 0 ? <p>{m.noEvents}</p> : null}
        {events.data && events.data.events.length > 0 ? (
          <table className="mx-table" aria-label={m.history}>
            <thead>
              <tr>
                <th scope="col">{m.when}</th>
                <th scope="col">{m.reason}</th>
                <th scope="col">{m.severity}</th>
                <th scope="col">{m.message}</th>
              </tr>
            </thead>
            <tbody>
              {events.data.events.map((e) => (
                <tr key={e.id}>
                  <td>{fmtd.dateTime(e.created_at)}</td>
                  <td>{e.reason}</td>
                  <td>{e.severity}</td>
                  <td>{e.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </section>

      <section aria-labelledby="mx-delete">
        <h2 id="mx-delete">{m.deleteMachine}</h2>
        <form
          className="mx-inline"
          onSubmit={(e) => {
            e.preventDefault();
            void act(async () => {
              await machinesApi.remove(id);
              navigate('/machines');
            });
          }}
        >
          <label>
            {fmt(m.confirmDelete, { name: d.name })}{' '}
            <input value={confirmName} onChange={(e) => setConfirmName(e.target.value)} />
          </label>
          <button type="submit" className="danger" disabled={confirmName !== d.name}>
            {m.deleteMachine}
          </button>
        </form>
      </section>
    </Page>
  );
}

function PreflightSection(props: { id: string; defaultRole: string }) {
  const m = useM();
  const [role, setRole] = useState(props.defaultRole);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [report, setReport] = useState<Awaited<ReturnType<typeof machinesApi.preflightOne>> | null>(
    null,
  );
  async function run(): Promise<void> {
    setBusy(true);
    setError(null);
    try {
      setReport(await machinesApi.preflightOne(props.id, role));
    } catch (err) {
      setError(asError(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <section aria-labelledby="mx-preflight">
      <h2 id="mx-preflight">{m.preflight}</h2>
      <p className="mx-hint">{m.preflightIntro}</p>
      <div className="mx-inline">
        <label>
          {m.role}{' '}
          <select value={role} onChange={(e) => setRole(e.target.value)}>
            {PREFLIGHT_ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => void run()} disabled={busy}>
          {busy ? m.running : m.runPreflight}
        </button>
      </div>
      {error ? <ErrorBanner error={error} /> : null}
      {report ? <PreflightReport report={report} /> : null}
    </section>
  );
}

