// /provision/new: the create-cluster wizard. Machines and roles -> versions (from the
// artifact bundles) -> network -> name and review; the API's validation message is shown
// on the field it names, and the wizard goes back to the step holding that field.
import { type FormEvent, useEffect, useRef, useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { ApiError } from '../../api/client';
import { ErrorBanner, FormField, Page } from '../../ui';
import {
  type ArtifactSummary,
  type CreateClusterIn,
  type MachineDetail,
  type MachineIn,
  type MachineSummary,
  type PreflightOut,
  fieldOf,
  fmt,
  machinesApi,
  provisionApi,
} from './api';
import { PreflightReport } from './PreflightReport';
import { useM } from './useM';

const NODE_ROLES = ['master', 'worker', 'etcd'];
const ENVIRONMENTS = ['default', 'development', 'testing', 'staging', 'production'];
// Which step holds the field an API message names.
const FIELD_STEP: Record<string, number> = {
  machine_ids: 0,
  artifact_path: 1,
  'kubernetes.version': 1,
  'kubernetes.container_manager': 1,
  'kubernetes.image_repo': 1,
  'network.plugin': 2,
  'network.pods_cidr': 2,
  'network.service_cidr': 2,
  cluster_name: 3,
  description: 3,
  environment_type: 3,
  labels: 3,
};

function asError(err: unknown): ApiError {
  return err instanceof ApiError ? err : new ApiError(0, 0, String(err));
}

export function Wizard() {
  const m = useM();
  const navigate = useNavigate();
  const [step, setStep] = useState(0);
  const [machines, setMachines] = useState<MachineSummary[] | null>(null);
  const [bundles, setBundles] = useState<ArtifactSummary[] | null>(null);
  const [loadError, setLoadError] = useState<ApiError | null>(null);
  const [chosen, setChosen] = useState<Record<string, boolean>>({});
  const [roles, setRoles] = useState<Record<string, string>>({});
  const [bundle, setBundle] = useState('');
  const [version, setVersion] = useState('');
  const [runtime, setRuntime] = useState('');
  const [imageRepo, setImageRepo] = useState('');
  const [plugin, setPlugin] = useState('');
  const [podsCidr, setPodsCidr] = useState('');
  const [serviceCidr, setServiceCidr] = useState('');
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [environment, setEnvironment] = useState('default');
  const [withPackages, setWithPackages] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [preflight, setPreflight] = useState<PreflightOut | null>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    machinesApi
      .list({ status: 'available', limit: 100 })
      .then((list) => {
        const usable = list.machines.filter((x) => NODE_ROLES.includes(x.role));
        setMachines(usable);
        setRoles(Object.fromEntries(usable.map((x) => [x.id, x.role])));
      })
      .catch((err) => setLoadError(asError(err)));
    provisionApi
      .artifacts()
      .then((list) => {
        const valid = list.artifacts.filter((a) => a.valid);
        setBundles(valid);
        if (valid[0]) pickBundle(valid[0]);
      })
      .catch((err) => setLoadError(asError(err)));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  // Focus follows the step, so a keyboard or screen reader user lands on its heading.
  useEffect(() => {
    headingRef.current?.focus();
  }, [step]);

  function pickBundle(b: ArtifactSummary): void {
    setBundle(b.name);
    setVersion(b.kubernetes_version ?? '');
    setRuntime(b.container_runtimes?.[0] ?? '');
    setPlugin(b.network_plugins?.[0] ?? '');
  }

  const current = bundles?.find((b) => b.name === bundle) ?? null;
  const ids = (machines ?? []).filter((x) => chosen[x.id]).map((x) => x.id);
  const named = error ? fieldOf(error.message) : null;
  const errorFor = (field: string): string | null =>
    error && named === field ? error.message : null;
  const titles = [m.stepMachines, m.stepVersions, m.stepNetwork, m.stepReview];

  function body(): CreateClusterIn {
    return {
      cluster_name: name.trim(),
      description,
      machine_ids: ids,
      artifact_path: bundle,
      kubernetes: { version, container_manager: runtime, image_repo: imageRepo.trim() },
      network: { plugin, pods_cidr: podsCidr.trim(), service_cidr: serviceCidr.trim() },
      with_packages: withPackages,
      auto_approve: true,
      labels: {},
      environment_type: environment as CreateClusterIn['environment_type'],
    };
  }

  /** Roles changed in the wizard are saved on the machines (the API reads them there). */
  async function saveRoles(): Promise<void> {
    for (const machineId of ids) {
      const listed = machines?.find((x) => x.id === machineId);
      if (!listed || listed.role === roles[machineId]) continue;
      const d: MachineDetail = await machinesApi.get(machineId);
      await machinesApi.update(machineId, {
        name: d.name,
        ip_address: d.ip_address,
        internal_address: d.internal_address,
        port: d.port,
        user: d.user,
        become: d.become,
        role: roles[machineId] as MachineIn['role'],
        artifact_path: d.artifact_path,
        image_repo: d.image_repo,
        registry_address: d.registry_address,
        labels: d.labels,
      });
      listed.role = roles[machineId];
    }
  }

  async function runPreflight(): Promise<void> {
    setBusy(true);
    setError(null);
    try {
      setPreflight(await machinesApi.preflightSet(ids, Object.fromEntries(ids.map((i) => [i, roles[i]]))));
    } catch (err) {
      setError(asError(err));
    } finally {
      setBusy(false);
    }
  }

  async function submit(e: FormEvent): Promise<void> {
    e.preventDefault();
    if (step < 3) {
      setStep(step + 1);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await saveRoles();
      const task = await provisionApi.create(body());
      navigate(`/provision/tasks/${task.id}`);
    } catch (err) {
      const failure = asError(err);
      setError(failure);
      const field = fieldOf(failure.message);
      if (field && field in FIELD_STEP) setStep(FIELD_STEP[field]);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Page title={m.wizard}>
      <nav aria-label={m.wizardSteps}>
        <ol className="mx-steps">
          {titles.map((title, i) => (
            <li key={title} className={i === step ? 'mx-step-current' : i < step ? 'mx-step-done' : ''}>
              <button
                type="button"
                aria-current={i === step ? 'step' : undefined}
                onClick={() => setStep(i)}
              >
                {fmt(m.stepOf, { i: i + 1, n: titles.length })}: {title}
              </button>
            </li>
          ))}
        </ol>
      </nav>
      {loadError ? <ErrorBanner error={loadError} /> : null}
      {error && !(named && named in FIELD_STEP) ? <ErrorBanner error={error} /> : null}
      <form className="mx-form" onSubmit={(e) => void submit(e)} aria-labelledby="mx-wizard-step">
        <h2 id="mx-wizard-step" tabIndex={-1} ref={headingRef}>
          {fmt(m.stepOf, { i: step + 1, n: titles.length })}: {titles[step]}
        </h2>

        {step === 0 ? (
          <fieldset aria-describedby="mx-machines-hint mx-machines-err">
            <legend>{m.chooseMachines}</legend>
            <p id="mx-machines-hint" className="mx-hint">
              {m.machinesHint} {m.rolesSaved}
            </p>
            {machines && machines.length === 0 ? <p>{m.noAvailable}</p> : null}
            {machines && machines.length > 0 ? (
              <table className="mx-table">
                <thead>
                  <tr>
                    <th scope="col">{m.use}</th>
                    <th scope="col">{m.name}</th>
                    <th scope="col">{m.address}</th>
                    <th scope="col">{m.role}</th>
                  </tr>
                </thead>
                <tbody>
                  {machines.map((x) => (
                    <tr key={x.id}>
                      <td>
                        <input
                          type="checkbox"
                          id={`mx-use-${x.id}`}
                          checked={Boolean(chosen[x.id])}
                          onChange={(e) => setChosen({ ...chosen, [x.id]: e.target.checked })}
                          aria-label={`${m.use} ${x.name}`}
                        />
                      </td>
                      <td>
                        <label htmlFor={`mx-use-${x.id}`}>{x.name}</label>
                      </td>
                      <td>{x.ip_address}</td>
                      <td>
                        <select
                          aria-label={`${m.role} ${x.name}`}
                          value={roles[x.id] ?? x.role}
                          onChange={(e) => setRoles({ ...roles, [x.id]: e.target.value })}
                        >
                          {NODE_ROLES.map((r) => (
                            <option key={r} value={r}>
                              {r}
                            </option>
                          ))}
                        </select>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : null}
            <p role="status">{fmt(m.selectedCount, { n: ids.length })}</p>
            {errorFor('machine_ids') ? (
              <p id="mx-machines-err" className="mx-error" role="alert">
                {error?.message}
              </p>
            ) : null}
          </fieldset>
        ) : null}

        {step === 1 ? (
          <div className="mx-grid">
            {bundles && bundles.length === 0 ? <p>{m.noBundles}</p> : null}
            <FormField label={m.bundle} error={errorFor('artifact_path')}>
              {(f) => (
                <select
                  {...f}
                  value={bundle}
                  onChange={(e) => {
                    const b = bundles?.find((x) => x.name === e.target.value);
                    if (b) pickBundle(b);
                  }}
                >
                  {(bundles ?? []).map((b) => (
                    <option key={b.name} value={b.name}>
                      {b.name} ({b.kubernetes_version}, {b.arch})
                    </option>
                  ))}
                </select>
              )}
            </FormField>
            <FormField label={m.k8sVersion} error={errorFor('kubernetes.version')}>
              {(f) => (
                <input
                  {...f}
                  name="kubernetes.version"
                  value={version}
                  onChange={(e) => setVersion(e.target.value)}
                />
              )}
            </FormField>
            <FormField label={m.containerRuntime} error={errorFor('kubernetes.container_manager')}>
              {(f) => (
                <select
                  {...f}
                  value={runtime}
                  onChange={(e) => setRuntime(e.target.value)}
                >
                  {(current?.container_runtimes ?? ['containerd']).map((r) => (
                    <option key={r} value={r}>
                      {r}
                    </option>
                  ))}
                </select>
              )}
            </FormField>
            <FormField label={m.imageRepo} error={errorFor('kubernetes.image_repo')}>
              {(f) => (
                <input
                  {...f}
                  value={imageRepo}
                  onChange={(e) => setImageRepo(e.target.value)}
                />
              )}
            </FormField>
          </div>
        ) : null}

        {step === 2 ? (
          <div className="mx-grid">
            <FormField label={m.plugin} error={errorFor('network.plugin')}>
              {(f) => (
                <select
                  {...f}
                  value={plugin}
                  onChange={(e) => setPlugin(e.target.value)}
                >
                  {(current?.network_plugins ?? []).map((p) => (
                    <option key={p} value={p}>
                      {p}
                    </option>
                  ))}
                </select>
              )}
            </FormField>
            <FormField
              label={m.podsCidr}
              hint={fmt(m.defaultValue, { v: '10.244.0.0/16' })}
              error={errorFor('network.pods_cidr')}
            >
              {(f) => (
                <input
                  {...f}
                  name="network.pods_cidr"
                  placeholder="10.244.0.0/16"
                  value={podsCidr}
                  onChange={(e) => setPodsCidr(e.target.value)}
                />
              )}
            </FormField>
            <FormField
              label={m.serviceCidr}
              hint={fmt(m.defaultValue, { v: '10.96.0.0/12' })}
              error={errorFor('network.service_cidr')}
            >
              {(f) => (
                <input
                  {...f}
                  name="network.service_cidr"
                  placeholder="10.96.0.0/12"
                  value={serviceCidr}
                  onChange={(e) => setServiceCidr(e.target.value)}
                />
              )}
            </FormField>
          </div>
        ) : null}

        {step === 3 ? (
          <>
            <div className="mx-grid">
              <FormField label={m.clusterName} error={errorFor('cluster_name')}>
                {(f) => (
                  <input
                    {...f}
                    name="cluster_name"
                    required
                    value={name}
                    onChange={(e) => setName(e.target.value)}
                  />
                )}
              </FormField>
              <FormField label={m.description} error={errorFor('description')}>
                {(f) => (
                  <input
                    {...f}
                    value={description}
                    onChange={(e) => setDescription(e.target.value)}
                  />
                )}
              </FormField>
              <FormField label={m.environment} error={errorFor('environment_type')}>
                {(f) => (
                  <select
                    {...f}
                    value={environment}
                    onChange={(e) => setEnvironment(e.target.value)}
                  >
                    {ENVIRONMENTS.map((x) => (
                      <option key={x} value={x}>
                        {x}
                      </option>
                    ))}
                  </select>
                )}
              </FormField>
            </div>
            <label className="mx-check">
              <input
                type="checkbox"
                checked={withPackages}
                onChange={(e) => setWithPackages(e.target.checked)}
              />{' '}
              {m.withPackages}
            </label>
            <h3>{m.review}</h3>
            <dl className="mx-dl">
              <dt>{m.machines}</dt>
              <dd>
                {(machines ?? [])
                  .filter((x) => chosen[x.id])
                  .map((x) => `${x.name} (${roles[x.id]})`)
                  .join(', ') || m.none}
              </dd>
              <dt>{m.k8sVersion}</dt>
              <dd>
                {version} · {runtime} · {bundle}
              </dd>
              <dt>{m.plugin}</dt>
              <dd>
                {plugin} · {podsCidr || '10.244.0.0/16'} · {serviceCidr || '10.96.0.0/12'}
              </dd>
            </dl>
            <div className="mx-actions">
              <button type="button" onClick={() => void runPreflight()} disabled={busy || !ids.length}>
                {m.checkSet}
              </button>
            </div>
            <p className="mx-hint">{m.checkSetHint}</p>
            {preflight ? <PreflightReport report={preflight} /> : null}
          </>
        ) : null}

        <div className="mx-actions">
          {step > 0 ? (
            <button type="button" onClick={() => setStep(step - 1)}>
              {m.previous}
            </button>
          ) : null}
          <button type="submit" className="primary" disabled={busy}>
            {step < 3 ? m.next : busy ? m.creating : m.create}
          </button>
        </div>
      </form>
    </Page>
  );
}
