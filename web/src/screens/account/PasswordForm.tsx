import { useState, type FormEvent } from 'react';
import { ApiError, api } from '../../api/client';
import { useAuth } from '../../api/auth';
import { useT } from '../../i18n';
import { ErrorBanner, FormField } from '../../ui';
import { messages } from './messages';

/** Changes the caller's own password (PUT /users/{id}/password, which needs the old one). */
export function PasswordForm({ onChanged }: { onChanged?: () => void }) {
  const t = useT(messages);
  const auth = useAuth();
  const [oldPassword, setOld] = useState('');
  const [newPassword, setNew] = useState('');
  const [confirm, setConfirm] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const mismatch = confirm !== '' && confirm !== newPassword;
  // The strength rule names the field `password` (shared with registration).
  const named = error instanceof ApiError ? error.field : undefined;
  const field = named === 'password' ? 'new_password' : named;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!auth.user || mismatch) return;
    setBusy(true);
    setError(null);
    setDone(false);
    try {
      await api.put(`/users/${auth.user.id}/password`, { old_password: oldPassword, new_password: newPassword });
      await auth.refreshProfile();
      setOld('');
      setNew('');
      setConfirm('');
      setDone(true);
      onChanged?.();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={(e) => void submit(e)} noValidate className="form">
      {!field && <ErrorBanner error={error} />}
      {done && (
        <p role="status" className="ok-text">
          {t('changed')}
        </p>
      )}
      <FormField label={t('oldPassword')} error={field === 'old_password' ? (error as ApiError).message : null}>
        <input type="password" name="old_password" autoComplete="current-password" value={oldPassword} onChange={(e) => setOld(e.target.value)} required />
      </FormField>
      <FormField label={t('newPassword')} error={field === 'new_password' ? (error as ApiError).message : null}>
        <input type="password" name="new_password" autoComplete="new-password" value={newPassword} onChange={(e) => setNew(e.target.value)} required />
      </FormField>
      <FormField label={t('confirm')} error={mismatch ? t('mismatch') : null}>
        <input type="password" name="confirm" autoComplete="new-password" value={confirm} onChange={(e) => setConfirm(e.target.value)} required />
      </FormField>
      {field && field !== 'old_password' && field !== 'new_password' && <ErrorBanner error={error} />}
      <button type="submit" className="primary" disabled={busy || mismatch || !newPassword}>
        {busy ? t('saving') : t('submit')}
      </button>
    </form>
  );
}
