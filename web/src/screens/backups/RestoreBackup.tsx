// The restore dialog: every option POST .../backups/{backupId}/restore accepts (target
// cluster, namespaces, namespace mapping, existing-object policy, dry run).
import { useRef, useState, type FormEvent } from 'react';
import { api, type Schema } from '../../api/client';
import { useT } from '../../i18n';
import { Dialog, ErrorBanner, FormField, useAsync } from '../../ui';
import { defaultName } from './CreateBackup';
import { messages } from './messages';
import { fieldError, useFocusOnOpen, mappingOf, namespaceList, type BackupDetail, type RestoreCreate, type RestoreStatus } from './model';

const FIELDS = [
  'restore_name',
  'target_cluster_id',
  'included_namespaces',
  'namespace_mapping',
  'existing_policy',
  'dry_run',
] as const;
type Field = (typeof FIELDS)[number];

export function RestoreBackup({
  clusterId,
  backup,
  onClose,
  onStarted,
}: {
  clusterId: string;
  backup: BackupDetail;
  onClose: () => void;
  onStarted: (restore: RestoreStatus) => void;
}) {
  const t = useT(messages);
  const clusters = useAsync(
    (signal) => api.get<Schema<'ClusterList'>>('/clusters', { limit: 100 }, { signal }),
    [],
  );
  const [name, setName] = useState(() => defaultName('restore'));
  const first = useRef<HTMLInputElement>(null);
  useFocusOnOpen(first, true);
  const [target, setTarget] = useState('');
  const [included, setIncluded] = useState('');
  const [mapping, setMapping] = useState('');
  const [policy, setPolicy] = useState<'skip' | 'update'>('skip');
  const [dryRun, setDryRun] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [fieldErr, setFieldErr] = useState<{ field: Field | null; message: string | null }>({ field: null, message: null });
  const errorOf = (f: Field) => (fieldErr.field === f ? fieldErr.message : null);
  const isEtcd = backup.backup_type === 'etcd';
  const sourceNamespaces = (backup.options?.included_namespaces as string[] | undefined) ?? [];

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setFieldErr({ field: null, message: null });
    const body = {
      restore_name: name.trim(),
      target_cluster_id: target || undefined,
      included_namespaces: namespaceList(included),
      namespace_mapping: mappingOf(mapping),
      existing_policy: policy,
      dry_run: dryRun,
    } satisfies RestoreCreate;
    try {
      const restore = await api.post<RestoreStatus>(`/clusters/${clusterId}/backups/${backup.id}/restore`, body);
      onStarted(restore);
    } catch (err) {
      const split = fieldError(err, FIELDS);
      if (split.field) setFieldErr(split);
      else setError(err);
    } finally {
      setBusy(false);
    }
  };

  const others = (clusters.data?.clusters ?? []).filter((c) => c.id !== clusterId);
  return (
    <Dialog
      open
      title={t('restoreOf', { name: backup.backup_name })}
      onClose={onClose}
      actions={
        <>
          <button type="button" onClick={onClose}>
            {t('cancel')}
          </button>
          <button type="submit" form="restore-backup-form" className="primary" disabled={busy}>
            {busy ? t('submitting') : t('submitRestore')}
          </button>
        </>
      }
    >
      <form id="restore-backup-form" className="form" noValidate onSubmit={submit}>
        <ErrorBanner error={error ?? clusters.error} />
        {sourceNamespaces.length > 0 && (
          <p className="muted">{t('backupNamespaces', { list: sourceNamespaces.join(', ') })}</p>
        )}
        <FormField label={t('restoreName')} hint={t('nameHint')} error={errorOf('restore_name')}>
          <input value={name} onChange={(e) => setName(e.target.value)} ref={first} />
        </FormField>
        <FormField label={t('target')} error={errorOf('target_cluster_id')}>
          <select value={target} onChange={(e) => setTarget(e.target.value)}>
            <option value="">{t('targetSame', { name: backup.cluster_name })}</option>
            {others.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </FormField>
        {!isEtcd && (
          <>
            <FormField label={t('restoreIncluded')} hint={t('restoreIncludedHint')} error={errorOf('included_namespaces')}>
              <input value={included} onChange={(e) => setIncluded(e.target.value)} />
            </FormField>
            <FormField label={t('mapping')} hint={t('mappingHint')} error={errorOf('namespace_mapping')}>
              <textarea rows={3} value={mapping} onChange={(e) => setMapping(e.target.value)} />
            </FormField>
            <FormField label={t('existingPolicy')} error={errorOf('existing_policy')}>
              <select value={policy} onChange={(e) => setPolicy(e.target.value as 'skip' | 'update')}>
                <option value="skip">{t('policySkip')}</option>
                <option value="update">{t('policyUpdate')}</option>
              </select>
            </FormField>
          </>
        )}
        <div className="field">
          <label>
            <input type="checkbox" checked={dryRun} onChange={(e) => setDryRun(e.target.checked)} /> {t('dryRun')}
          </label>
        </div>
      </form>
    </Dialog>
  );
}
