// A cluster's autoscaling summary (HPAs, VPAs, cluster-autoscaler) and the platform's
// thresholds, edited through PUT /clusters/{id}/autoscaling-policies.
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api, ApiError } from '../../api/client';
import { ErrorBanner, FormField } from '../../ui';
import { useClusterT } from './messages';
import type { AutoscalingPolicies, AutoscalingSettingsOut, AutoscalingUpdate } from './types';

interface FormState {
  enabled: boolean;
  min_nodes: string;
  max_nodes: string;
  scale_up_threshold: string;
  scale_down_threshold: string;
}

type NumberKey = Exclude<keyof FormState, 'enabled'>;
const NUMBERS: NumberKey[] = ['min_nodes', 'max_nodes', 'scale_up_threshold', 'scale_down_threshold'];

function toForm(p: AutoscalingPolicies): FormState {
  return {
    enabled: p.enabled,
    min_nodes: String(p.min_nodes ?? 1),
    max_nodes: String(p.max_nodes ?? 10),
    scale_up_threshold: String(p.scale_up_threshold ?? 70),
    scale_down_threshold: String(p.scale_down_threshold ?? 30),
  };
}

export default function AutoscalingTab({ clusterId }: { clusterId: string }) {
  const t = useClusterT();
  const [data, setData] = useState<AutoscalingPolicies | null>(null);
  const [form, setForm] = useState<FormState | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [saveError, setSaveError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const path = `/clusters/${encodeURIComponent(clusterId)}/autoscaling-policies`;

  const load = useCallback(async () => {
    try {
      const next = await api.get<AutoscalingPolicies>(path);
      setData(next);
      setForm(toForm(next));
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [path]);
  useEffect(() => {
    void load();
  }, [load]);

  async function save(event: FormEvent) {
    event.preventDefault();
    if (!form) return;
    setBusy(true);
    setSaved(false);
    setSaveError(null);
    const body: AutoscalingUpdate = {
      enabled: form.enabled,
      min_nodes: Number(form.min_nodes),
      max_nodes: Number(form.max_nodes),
      scale_up_threshold: Number(form.scale_up_threshold),
      scale_down_threshold: Number(form.scale_down_threshold),
    };
    try {
      await api.put<AutoscalingSettingsOut>(path, body);
      setSaved(true);
      await load();
    } catch (e) {
      setSaveError(e);
    } finally {
      setBusy(false);
    }
  }

  // A message naming one of the thresholds is shown under it; any other in the banner.
  const raw = saveError instanceof ApiError ? saveError.field?.replace(/^body\./, '') : undefined;
  const field = raw && NUMBERS.includes(raw as NumberKey) ? raw : undefined;
  const number = (key: NumberKey, label: string, min: number, max: number) => (
    <FormField label={label} error={field === key ? (saveError as ApiError).message : null}>
      <input
        name={key}
        type="number"
        min={min}
        max={max}
        value={form?.[key] ?? ''}
        onChange={(e) => form && setForm({ ...form, [key]: e.target.value })}
      />
    </FormField>
  );

  return (
    <div className="cl-autoscaling">
      <ErrorBanner error={error} />
      {data && form && (
        <>
          <ul className="cl-facts-list">
            <li>{t('settingsSource', { source: t(`src_${data.settings_source}`) })}</li>
            <li>{t('hpaCount', { n: data.hpa_count })}</li>
            <li>{t('vpaCount', { n: data.vpa_count })}{data.vpa_note ? ` — ${data.vpa_note}` : ''}</li>
            <li>{t('clusterAutoscaler', { state: data.cluster_autoscaler_enabled ? t('on') : t('off') })}</li>
          </ul>
          <form className="cl-form" onSubmit={save} aria-label={t('tabAutoscaling')}>
            <div className="cl-check">
              <input
                id="as-enabled"
                type="checkbox"
                checked={form.enabled}
                onChange={(e) => setForm({ ...form, enabled: e.target.checked })}
              />
              <label htmlFor="as-enabled">{t('autoscalingEnabled')}</label>
            </div>
            {number('min_nodes', t('minNodes'), 1, 100000)}
            {number('max_nodes', t('maxNodes'), 1, 100000)}
            {number('scale_up_threshold', t('scaleUp'), 1, 100)}
            {number('scale_down_threshold', t('scaleDown'), 1, 100)}
            <div className="cl-wide">
              <ErrorBanner error={field ? null : saveError} />
            </div>
            <div className="cl-buttons">
              <button type="submit" className="primary" disabled={busy}>
                {t('saveThresholds')}
              </button>
              {saved && <span role="status">{t('saved')}</span>}
            </div>
          </form>
          {data.hpa_policies.length > 0 && (
            <table className="cl-table">
              <caption>{t('hpaTable')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('namespace')}</th>
                  <th scope="col">{t('colName')}</th>
                  <th scope="col">{t('target')}</th>
                  <th scope="col">{t('replicas')}</th>
                </tr>
              </thead>
              <tbody>
                {data.hpa_policies.map((h) => (
                  <tr key={`${h.namespace}/${h.name}`}>
                    <td>{h.namespace}</td>
                    <td>{h.name}</td>
                    <td>{h.target_kind ? `${h.target_kind}/${h.target_name}` : '—'}</td>
                    <td>
                      {h.min_replicas} / {h.current_replicas} / {h.max_replicas}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </div>
  );
}
