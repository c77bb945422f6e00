// A cluster's backup schedules: list (last run, next run, last error), create and edit
// (cron in UTC), enable/disable, delete.
import { useCallback, useRef, useState, type FormEvent } from 'react';
import { api } from '../../api/client';
import { useFormat, useT } from '../../i18n';
import { ConfirmDialog, Dialog, ErrorBanner, FormField, StatusBadge, usePolling } from '../../ui';
import { numberOf, triState } from './CreateBackup';
import { BackupOptionFields, type BackupOptions } from './OptionFields';
import { messages } from './messages';
import {
  fieldError,
  useFocusOnOpen,
  namespaceList,
  type BackupSchedule,
  type ScheduleCreate,
  type ScheduleList,
} from './model';

export function Schedules({ clusterId }: { clusterId: string }) {
  const t = useT(messages);
  const f = useFormat();
  const [list, setList] = useState<BackupSchedule[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [editing, setEditing] = useState<BackupSchedule | 'new' | null>(null);
  const [deleting, setDeleting] = useState<BackupSchedule | null>(null);
  const base = `/clusters/${clusterId}/backup-schedules`;
  const load = useCallback(async () => {
    try {
      const data = await api.get<ScheduleList>(base, { limit: 100 });
      setList(data.schedules);
      setLoaded(true);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [base]);
  usePolling(load, 15000, [load]);
  const act = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
      await load();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <section className="backups-section" aria-labelledby="schedules-heading">
      <header className="backups-section-header">
        <h2 id="schedules-heading">{t('schedules')}</h2>
        <button type="button" onClick={() => setEditing('new')}>
          {t('newSchedule')}
        </button>
      </header>
      <ErrorBanner error={error} onDismiss={() => setError(null)} />
      {loaded && list.length === 0 && <p className="muted">{t('noSchedules')}</p>}
      {list.length > 0 && (
        <table className="backups-table" aria-labelledby="schedules-heading">
          <thead>
            <tr>
              <th scope="col">{t('colName')}</th>
              <th scope="col">{t('colCron')}</th>
              <th scope="col">{t('colType')}</th>
              <th scope="col">{t('colRetention')}</th>
              <th scope="col">{t('colEnabled')}</th>
              <th scope="col">{t('colLastRun')}</th>
              <th scope="col">{t('colNextRun')}</th>
              <th scope="col">{t('colLastError')}</th>
              <th scope="col">{t('colActions')}</th>
            </tr>
          </thead>
          <tbody>
            {list.map((s) => (
              <tr key={s.id} data-schedule={s.name} data-enabled={String(s.enabled)}>
                <th scope="row">{s.name}</th>
                <td>
                  <code>{s.cron_expression}</code>
                </td>
                <td>{s.backup_type}</td>
                <td>{s.retention_days === 0 ? t('neverExpires') : t('days', { n: s.retention_days })}</td>
                <td>
                  <StatusBadge status={s.enabled ? 'active' : 'inactive'} label={s.enabled ? t('enabled') : t('disabled')} />
                </td>
                <td>{f.dateTime(s.last_run_at)}</td>
                <td>{s.enabled ? f.dateTime(s.next_run_at) : t('notYet')}</td>
                <td>{s.last_error ? <span className="error-text">{s.last_error}</span> : t('notYet')}</td>
                <td className="backups-actions">
                  <button type="button" onClick={() => act(() => api.put(`${base}/${s.id}`, { enabled: !s.enabled }))}>
                    {s.enabled ? t('disable') : t('enable')}
                  </button>
                  <button type="button" onClick={() => setEditing(s)}>
                    {t('edit')}
                  </button>
                  <button type="button" className="danger" onClick={() => setDeleting(s)}>
                    {t('delete')}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {editing && (
        <ScheduleForm
          clusterId={clusterId}
          schedule={editing === 'new' ? null : editing}
          onClose={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            void load();
          }}
        />
      )}
      {deleting && (
        <ConfirmDialog
          title={t('deleteScheduleTitle', { name: deleting.name })}
          confirmLabel={t('confirmDeleteSchedule')}
          onCancel={() => setDeleting(null)}
          onConfirm={() => {
            const target = deleting;
            setDeleting(null);
            void act(() => api.delete(`${base}/${target.id}`));
          }}
        >
          <p>{t('deleteScheduleText')}</p>
        </ConfirmDialog>
      )}
    </section>
  );
}

const FIELDS = [
  'name',
  'cron_expression',
  'backup_type',
  'retention_days',
  'enabled',
  'included_namespaces',
  'excluded_namespaces',
  'label_selector',
  'include_cluster_resources',
] as const;
type Field = (typeof FIELDS)[number];

const optionText = (value: unknown): string => (Array.isArray(value) ? value.join(', ') : '');
const triText = (value: unknown): string => (value === true ? 'yes' : value === false ? 'no' : '');

function ScheduleForm({
  clusterId,
  schedule,
  onClose,
  onSaved,
}: {
  clusterId: string;
  schedule: BackupSchedule | null;
  onClose: () => void;
  onSaved: () => void;
}) {
  const t = useT(messages);
  const o = schedule?.options ?? {};
  const [name, setName] = useState(schedule?.name ?? 'daily');
  const first = useRef<HTMLInputElement>(null);
  useFocusOnOpen(first, true);
  const [cron, setCron] = useState(schedule?.cron_expression ?? '0 2 * * *');
  const [options, setOptions] = useState<BackupOptions>({
    type: schedule?.backup_type ?? 'full',
    included: optionText(o.included_namespaces),
    excluded: optionText(o.excluded_namespaces),
    selector: typeof o.label_selector === 'string' ? o.label_selector : '',
    clusterResources: triText(o.include_cluster_resources),
    retention: String(schedule?.retention_days ?? 30),
  });
  const [enabled, setEnabled] = useState(schedule?.enabled ?? true);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [fieldErr, setFieldErr] = useState<{ field: Field | null; message: string | null }>({ field: null, message: null });
  const errorOf = (f: Field) => (fieldErr.field === f ? fieldErr.message : null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setFieldErr({ field: null, message: null });
    const body = {
      name: name.trim(),
      cron_expression: cron.trim(),
      backup_type: options.type as ScheduleCreate['backup_type'],
      retention_days: numberOf(options.retention),
      enabled,
      included_namespaces: namespaceList(options.included) ?? (schedule ? [] : undefined),
      excluded_namespaces: namespaceList(options.excluded) ?? (schedule ? [] : undefined),
      label_selector: options.selector.trim() || undefined,
      include_cluster_resources: triState(options.clusterResources),
    } satisfies ScheduleCreate;
    const base = `/clusters/${clusterId}/backup-schedules`;
    try {
      if (schedule) await api.put(`${base}/${schedule.id}`, body);
      else await api.post(base, body);
      onSaved();
    } catch (err) {
      const split = fieldError(err, FIELDS);
      if (split.field) setFieldErr(split);
      else setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog
      open
      title={schedule ? t('editScheduleTitle', { name: schedule.name }) : t('createScheduleTitle')}
      onClose={onClose}
      actions={
        <>
          <button type="button" onClick={onClose}>
            {t('cancel')}
          </button>
          <button type="submit" form="schedule-form" className="primary" disabled={busy}>
            {busy ? t('submitting') : t('save')}
          </button>
        </>
      }
    >
      <form id="schedule-form" className="form" noValidate onSubmit={submit}>
        <ErrorBanner error={error} />
        <FormField label={t('scheduleName')} hint={t('scheduleNameHint')} error={errorOf('name')}>
          <input value={name} onChange={(e) => setName(e.target.value)} ref={first} />
        </FormField>
        <FormField label={t('cron')} hint={t('cronHint')} error={errorOf('cron_expression')}>
          <input value={cron} onChange={(e) => setCron(e.target.value)} />
        </FormField>
        <BackupOptionFields value={options} onChange={setOptions} errorOf={errorOf} />
        <div className="field">
          <label>
            <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} /> {t('scheduleEnabled')}
          </label>
        </div>
      </form>
    </Dialog>
  );
}
