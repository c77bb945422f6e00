import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Navigate, useLocation, useNavigate, useSearchParams } from 'react-router-dom';
import { useAuth } from '../../api/auth';
import { useT } from '../../i18n';
import { ErrorBanner, FormField, LanguageSwitch } from '../../ui';
import { messages } from './messages';

/** Where to go after signing in: `?next=` when it is one of ours, else the clusters. */
export function nextPath(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/signin') ? next : '/clusters';
}

export default function SignIn() {
  const t = useT(messages);
  const auth = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const [params] = useSearchParams();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => {
    document.title = `${t('title')} · Taichu`;
    first.current?.focus();
  }, [t]);

  if (auth.ready && auth.user && !busy) {
    return <Navigate to={auth.mustChangePassword ? '/account/password' : nextPath(params.get('next'))} replace />;
  }

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const user = await auth.signIn(username, password);
      navigate(user.password_change_required ? '/account/password' : nextPath(params.get('next')), { replace: true });
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <div className="signin">
      <div className="signin-lang">
        <LanguageSwitch />
      </div>
      <main className="signin-card" id="main">
        <h1>
          Taichu <span lang="zh-CN">太初</span>
        </h1>
        <p className="muted">{t('subtitle')}</p>
        <h2>{t('title')}</h2>
        {location.state === 'expired' && <p role="status">{t('expired')}</p>}
        <ErrorBanner error={error} />
        <form onSubmit={(e) => void submit(e)} noValidate>
          <FormField label={t('username')}>
            <input ref={first} name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required />
          </FormField>
          <FormField label={t('password')}>
            <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
          </FormField>
          <button type="submit" className="primary" disabled={busy}>
            {busy ? t('signingIn') : t('submit')}
          </button>
        </form>
      </main>
    </div>
  );
}
