import { messageOf } from '../api/client';
import { useT } from '../i18n';
import { messages } from './messages';

/** Shows a failure's message (an ApiError's is the API's own); nothing when `error` is empty. */
export function ErrorBanner({ error, onDismiss }: { error: unknown; onDismiss?: () => void }) {
  const t = useT(messages);
  if (error === null || error === undefined || error === false) return null;
  return (
    <div className="error-banner" role="alert">
      <strong>{t('error')}: </strong>
      <span className="error-message">{messageOf(error)}</span>
      {onDismiss && (
        <button type="button" className="link" onClick={onDismiss}>
          {t('dismiss')}
        </button>
      )}
    </div>
  );
}
