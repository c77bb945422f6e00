// Register a cluster by kubeconfig (pasted or read from a file): POST /clusters/import,
// then the import's validation checks, each shown as its result is recorded.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Link } from 'react-router-dom';
import { api, ApiError } from '../../api/client';
import { useFormat } from '../../i18n';
import { ErrorBanner, FormField, Page, Progress } from '../../ui';
import { parseLabels } from './format';
import { importChecks, resourcesSummary, type CheckState } from './importChecks';
import { useClusterT } from './messages';
import { ENVIRONMENTS, type ImportOut, type ImportRequest, type ImportStatus } from './types';

const MAX_KUBECONFIG = 1024 * 1024;
const POLL_MS = 700;
const MARK: Record<CheckState, string> = { passed: '✓', failed: '✗', running: '…', pending: '○' };
const STATE_KEY: Record<CheckState, string> = {
  passed: 'checkPassed',
  failed: 'checkFailed',
  running: 'checkRunning',
  pending: 'checkPending',
};
const FIELDS = ['name', 'description', 'region', 'labels', 'kubeconfig', 'context'];
type Environment = (typeof ENVIRONMENTS)[number];

export default function RegisterCluster() {
  const t = useClusterT();
  const f = useFormat();
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [environment, setEnvironment] = useState<Environment>('default');
  const [region, setRegion] = useState('default');
  const [labels, setLabels] = useState('');
  const [kubeconfig, setKubeconfig] = useState('');
  const [context, setContext] = useState('');
  const [insecure, setInsecure] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [started, setStarted] = useState<ImportOut | null>(null);
  const [status, setStatus] = useState<ImportStatus | null>(null);
  const checksRef = useRef<HTMLHeadingElement>(null);
  // A message naming one of the form's fields is shown under it; any other in the banner.
  const raw = error instanceof ApiError ? error.field?.replace(/^body\./, '') : undefined;
  const field = raw && FIELDS.includes(raw) ? raw : undefined;
  const errorOf = (name: string) => (field === name ? (error as ApiError).message : null);

  useEffect(() => {
    if (!started) return undefined;
    let stopped = false;
    let timer = 0;
    const tick = async () => {
      try {
        const next = await api.get<ImportStatus>(`/imports/${encodeURIComponent(started.id)}/status`);
        if (stopped) return;
        setStatus(next);
        if (next.import_status === 'completed' || next.import_status === 'failed') return;
      } catch (e) {
        if (stopped) return;
        setError(e);
      }
      timer = window.setTimeout(() => void tick(), POLL_MS);
    };
    void tick();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [started]);

  async function readFile(file: File | undefined) {
    if (!file) return;
    if (file.size > MAX_KUBECONFIG) {
      setError(new Error(t('fileTooBig', { name: file.name, size: f.bytes(file.size), max: f.bytes(MAX_KUBECONFIG) })));
      return;
    }
    setKubeconfig(await file.text());
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    const parsed = parseLabels(labels);
    if (parsed === null) {
      setError(new Error(t('badLabels')));
      return;
    }
    setBusy(true);
    setError(null);
    setStatus(null);
    setStarted(null);
    const body: ImportRequest = {
      import_source: 'manual',
      name: name.trim(),
      description,
      environment_type: environment,
      region: region.trim() || 'default',
      labels: parsed,
      kubeconfig,
      context: context.trim() || null,
      insecure_skip_tls_verify: insecure,
    };
    try {
      setStarted(await api.post<ImportOut>('/clusters/import', body));
      window.setTimeout(() => checksRef.current?.focus(), 0);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  const ended = status?.import_status === 'completed' || status?.import_status === 'failed';
  const running = !!started && !ended;

  return (
    <Page title={t('registerTitle')} actions={<Link to="/clusters">{t('back')}</Link>}>
      <form className="cl-form" onSubmit={submit} noValidate aria-label={t('registerTitle')}>
        <FormField label={t('name')} hint={t('nameHint')} error={errorOf('name')}>
          <input name="name" required value={name} maxLength={100} autoComplete="off" onChange={(e) => setName(e.target.value)} />
        </FormField>
        <FormField label={t('description')} error={errorOf('description')}>
          <input name="description" value={description} maxLength={1000} onChange={(e) => setDescription(e.target.value)} />
        </FormField>
        <FormField label={t('environment')}>
          <select name="environment_type" value={environment} onChange={(e) => setEnvironment(e.target.value as Environment)}>
            {ENVIRONMENTS.map((env) => (
              <option key={env} value={env}>
                {t(`env_${env}`)}
              </option>
            ))}
          </select>
        </FormField>
        <FormField label={t('region')} error={errorOf('region')}>
          <input name="region" value={region} maxLength={64} onChange={(e) => setRegion(e.target.value)} />
        </FormField>
        <FormField label={t('labels')} hint={t('labelsHint')} error={errorOf('labels')}>
          <input name="labels" value={labels} onChange={(e) => setLabels(e.target.value)} />
        </FormField>
        <div className="cl-wide">
          <FormField label={t('kubeconfig')} hint={t('kubeconfigHint')} error={errorOf('kubeconfig')}>
            <textarea name="kubeconfig" required rows={10} spellCheck={false} value={kubeconfig} onChange={(e) => setKubeconfig(e.target.value)} />
          </FormField>
        </div>
        <FormField label={t('kubeconfigFile')}>
          <input type="file" onChange={(e) => void readFile(e.target.files?.[0])} />
        </FormField>
        <FormField label={t('context')} hint={t('contextHint')} error={errorOf('context')}>
          <input name="context" value={context} maxLength={253} onChange={(e) => setContext(e.target.value)} />
        </FormField>
        <div className="cl-check">
          <input id="cl-insecure" type="checkbox" checked={insecure} onChange={(e) => setInsecure(e.target.checked)} />
          <label htmlFor="cl-insecure">{t('insecure')}</label>
        </div>
        <div className="cl-wide">
          <ErrorBanner error={field ? null : error} />
        </div>
        <div className="cl-buttons">
          <button type="submit" className="primary" disabled={busy || running}>
            {busy || running ? t('importing') : t('startImport')}
          </button>
        </div>
      </form>
      {started && (
        <section className="cl-import" aria-labelledby="cl-checks-title">
          <h2 id="cl-checks-title" tabIndex={-1} ref={checksRef}>
            {t('checksTitle')}
          </h2>
          <Progress label={t('importProgress')} value={status?.progress ?? 0} max={100} detail={status?.current_step ?? started.import_status} />
          <ol className="cl-checks" aria-live="polite" data-testid="import-checks">
            {(status ? importChecks(status) : []).map((check) => (
              <li key={check.id} className={`cl-check-${check.state}`} data-check={check.id} data-state={check.state}>
                <span aria-hidden="true" className="cl-mark">
                  {MARK[check.state]}
                </span>
                {t(check.key, check.vars)} <span className="muted">({t(STATE_KEY[check.state])})</span>
              </li>
            ))}
          </ol>
          {status?.import_status === 'failed' && (
            <div role="alert" className="error-banner" data-testid="import-failed">
              <strong>{t('importFailed')}: </strong>
              {status.error_message}
            </div>
          )}
          {status?.import_status === 'completed' && (
            <div role="status" className="notice" data-testid="import-done">
              <strong>{t('importDone')}. </strong>
              {t('resourcesCounted', { summary: resourcesSummary(status.imported_resources) })}{' '}
              <Link to={`/clusters/${status.cluster_id}`}>{t('openCluster')}</Link>
            </div>
          )}
        </section>
      )}
    </Page>
  );
}
