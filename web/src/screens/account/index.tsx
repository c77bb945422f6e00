import { useNavigate, type RouteObject } from 'react-router-dom';
import { useAuth } from '../../api/auth';
import { useT } from '../../i18n';
import { Page } from '../../ui';
import { messages } from './messages';
import { PasswordForm } from './PasswordForm';

function Account() {
  const t = useT(messages);
  const auth = useAuth();
  const user = auth.user;
  return (
    <Page title={t('title')}>
      {user && (
        <dl className="facts">
          <dt>{t('username')}</dt>
          <dd>{user.username}</dd>
          <dt>{t('role')}</dt>
          <dd>{user.role}</dd>
          <dt>{t('email')}</dt>
          <dd>{user.email ?? t('none')}</dd>
        </dl>
      )}
      <section aria-labelledby="change-password">
        <h2 id="change-password">{t('changeTitle')}</h2>
        <PasswordForm />
      </section>
      <section aria-labelledby="session">
        <h2 id="session">{t('session')}</h2>
        <p className="muted">{t('signOutHint')}</p>
        <button type="button" className="secondary" onClick={() => void auth.signOut()}>
          {t('signOut')}
        </button>
      </section>
    </Page>
  );
}

/** Where the bootstrap admin is sent first (and only): change the password, then on. */
function ChangePassword() {
  const t = useT(messages);
  const auth = useAuth();
  const navigate = useNavigate();
  return (
    <Page title={t('changeTitle')}>
      {auth.mustChangePassword && (
        <p className="notice" role="note">
          {t('bootstrap')}
        </p>
      )}
      <PasswordForm onChanged={() => navigate('/clusters', { replace: true })} />
    </Page>
  );
}

export const routes: RouteObject[] = [
  { path: 'account', element: <Account /> },
  { path: 'account/password', element: <ChangePassword /> },
];
