// The console's routes. Each area's index.tsx exports `routes` (paths relative to `/`,
// rendered inside the signed-in Layout); its engineer edits only that file's area.
import { useState } from 'react';
import { Navigate, Outlet, useLocation, type RouteObject } from 'react-router-dom';
import { useAuth } from './api/auth';
import { useT } from './i18n';
import { routes as account } from './screens/account';
import { routes as audit } from './screens/audit';
import { routes as backups } from './screens/backups';
import { routes as clusters } from './screens/clusters';
import { routes as commands } from './screens/commands';
import { routes as machines } from './screens/machines';
import { routes as security } from './screens/security';
import SignIn from './screens/signin';
import { routes as users } from './screens/users';
import { ErrorBanner, Layout, Placeholder } from './ui';
import { messages } from './ui/messages';

/** Signed in, or off to /signin?next=...; the bootstrap admin only to the password change. */
function RequireAuth() {
  const auth = useAuth();
  const location = useLocation();
  if (!auth.ready) return <p className="muted boot">…</p>;
  if (auth.profileError) return <SessionUnchecked />; // set only while the token is kept unchecked
  if (!auth.user) {
    if (auth.signedOut) return <Navigate to="/signin" replace />;
    const next = encodeURIComponent(location.pathname + location.search);
    return <Navigate to={`/signin?next=${next}`} replace />;
  }
  if (auth.mustChangePassword && location.pathname !== '/account/password') {
    return <Navigate to="/account/password" replace />;
  }
  return <Outlet />;
}

/** The token is kept but could not be checked: say why and offer a retry, not a sign-in. */
function SessionUnchecked() {
  const auth = useAuth();
  const t = useT(messages);
  const [busy, setBusy] = useState(false);
  const retry = () => {
    setBusy(true);
    void auth.refreshProfile().finally(() => setBusy(false));
  };
  return (
    <main className="boot" data-testid="session-unchecked">
      <h1>{t('sessionUnchecked')}</h1>
      <ErrorBanner error={auth.profileError} />
      <button type="button" onClick={retry} disabled={busy}>
        {t('retry')}
      </button>
    </main>
  );
}

function NotFound() {
  const t = useT(messages);
  return <Placeholder title={t('empty')} />;
}

export const routes: RouteObject[] = [
  { path: '/signin', element: <SignIn /> },
  {
    element: <RequireAuth />,
    children: [
      {
        path: '/',
        element: <Layout />,
        children: [
          { index: true, element: <Navigate to="/clusters" replace /> },
          ...clusters,
          ...backups,
          ...machines,
          ...commands,
          ...security,
          ...users,
          ...audit,
          ...account,
          { path: '*', element: <NotFound /> },
        ],
      },
    ],
  },
];
