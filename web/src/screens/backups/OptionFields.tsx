// The options a backup and a backup schedule share (type, namespaces, label selector,
// cluster-scoped resources, retention): one set of fields for both forms.
import { useT } from '../../i18n';
import { FormField } from '../../ui';
import { messages } from './messages';
import { BACKUP_TYPES } from './model';

export interface BackupOptions {
  type: string;
  included: string;
  excluded: string;
  selector: string;
  clusterResources: string;
  retention: string;
}

export type OptionField =
  | 'backup_type'
  | 'included_namespaces'
  | 'excluded_namespaces'
  | 'label_selector'
  | 'include_cluster_resources'
  | 'retention_days';

export function BackupOptionFields({
  value,
  onChange,
  errorOf,
}: {
  value: BackupOptions;
  onChange: (next: BackupOptions) => void;
  errorOf: (field: OptionField) => string | null;
}) {
  const t = useT(messages);
  const set = (patch: Partial<BackupOptions>) => onChange({ ...value, ...patch });
  return (
    <>
      <FormField label={t('type')} error={errorOf('backup_type')}>
        <select value={value.type} onChange={(e) => set({ type: e.target.value })}>
          {BACKUP_TYPES.map((type) => (
            <option key={type} value={type}>
              {t(type === 'full' ? 'typeFull' : type === 'namespaces' ? 'typeNamespaces' : 'typeEtcd')}
            </option>
          ))}
        </select>
      </FormField>
      {value.type !== 'etcd' && (
        <>
          <FormField label={t('included')} hint={t('includedHint')} error={errorOf('included_namespaces')}>
            <input value={value.included} onChange={(e) => set({ included: e.target.value })} />
          </FormField>
          <FormField label={t('excluded')} hint={t('excludedHint')} error={errorOf('excluded_namespaces')}>
            <input value={value.excluded} onChange={(e) => set({ excluded: e.target.value })} />
          </FormField>
          <FormField label={t('labelSelector')} hint={t('labelSelectorHint')} error={errorOf('label_selector')}>
            <input value={value.selector} onChange={(e) => set({ selector: e.target.value })} />
          </FormField>
          <FormField label={t('clusterResources')} error={errorOf('include_cluster_resources')}>
            <select value={value.clusterResources} onChange={(e) => set({ clusterResources: e.target.value })}>
              <option value="">{t('clusterResourcesDefault')}</option>
              <option value="yes">{t('yes')}</option>
              <option value="no">{t('no')}</option>
            </select>
          </FormField>
        </>
      )}
      <FormField label={t('retention')} hint={t('retentionHint')} error={errorOf('retention_days')}>
        <input
          type="number"
          inputMode="numeric"
          value={value.retention}
          onChange={(e) => set({ retention: e.target.value })}
        />
      </FormField>
    </>
  );
}
