// The create-backup dialog: every option POST /clusters/{id}/backups accepts; the API's
// validation message is shown under the field it names.
import { useRef, useState, type FormEvent } from 'react';
import { api } from '../../api/client';
import { useT } from '../../i18n';
import { Dialog, ErrorBanner, FormField } from '../../ui';
import { BackupOptionFields, type BackupOptions } from './OptionFields';
import { messages } from './messages';
import { fieldError, useFocusOnOpen, namespaceList, type BackupCreate, type BackupDetail } from './model';

const FIELDS = [
  'backup_name',
  'backup_type',
  'included_namespaces',
  'excluded_namespaces',
  'label_selector',
  'include_cluster_resources',
  'retention_days',
] as const;
type Field = (typeof FIELDS)[number];

export function defaultName(prefix: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${prefix}-${stamp}`;
}

/** "" -> undefined, "yes"/"no" -> booleans (the API's default for undefined). */
export function triState(value: string): boolean | undefined {
  return value === '' ? undefined : value === 'yes';
}

/** A number field's text as the API gets it: a number when it reads as one, else the text
 * itself (so the API names the field). */
export function numberOf(text: string): number {
  const n = Number(text);
  return (text.trim() === '' || Number.isNaN(n) ? text : n) as number;
}

export function CreateBackup({
  clusterId,
  open,
  onClose,
  onCreated,
}: {
  clusterId: string;
  open: boolean;
  onClose: () => void;
  onCreated: (backup: BackupDetail) => void;
}) {
  const t = useT(messages);
  const [name, setName] = useState(() => defaultName('backup'));
  const first = useRef<HTMLInputElement>(null);
  useFocusOnOpen(first, open);
  const [options, setOptions] = useState<BackupOptions>({
    type: 'full',
    included: '',
    excluded: '',
    selector: '',
    clusterResources: '',
    retention: '30',
  });
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
      backup_name: name.trim(),
      backup_type: options.type as BackupCreate['backup_type'],
      retention_days: numberOf(options.retention),
      included_namespaces: namespaceList(options.included),
      excluded_namespaces: namespaceList(options.excluded),
      label_selector: options.selector.trim() || undefined,
      include_cluster_resources: triState(options.clusterResources),
    } satisfies BackupCreate;
    try {
      const created = await api.post<BackupDetail>(`/clusters/${clusterId}/backups`, body);
      setName(defaultName('backup'));
      onCreated(created);
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
      open={open}
      title={t('createTitle')}
      onClose={onClose}
      actions={
        <>
          <button type="button" onClick={onClose}>
            {t('cancel')}
          </button>
          <button type="submit" form="create-backup-form" className="primary" disabled={busy}>
            {busy ? t('submitting') : t('submitCreate')}
          </button>
        </>
      }
    >
      <form id="create-backup-form" className="form" noValidate onSubmit={submit}>
        <ErrorBanner error={error} />
        <FormField label={t('name')} hint={t('nameHint')} error={errorOf('backup_name')}>
          <input value={name} onChange={(e) => setName(e.target.value)} ref={first} />
        </FormField>
        <BackupOptionFields value={options} onChange={setOptions} errorOf={errorOf} />
      </form>
    </Dialog>
  );
}
