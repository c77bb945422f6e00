import { NavLink, Outlet } from 'react-router-dom';
import { useAuth } from '../api/auth';
import { LANGS, useLang, useT, type Lang } from '../i18n';
import { messages } from './messages';

/** The language switch (also on the sign-in screen). */
export function LanguageSwitch() {
  const t = useT(messages);
  const { lang, setLang } = useLang();
  return (
    <label className="lang-switch">
      <span className="visually-hidden">{t('language')}</span>
      <select value={lang} onChange={(e) => setLang(e.target.value as Lang)} aria-label={t('language')}>
        {LANGS.map((l) => (
          <option key={l.lang} value={l.lang} lang={l.lang === 'zh' ? 'zh-CN' : 'en'}>
            {l.label}
          </option>
        ))}
      </select>
    </label>
  );
}

type Key = keyof typeof messages.en;
const NAV: Array<{ to: string; key: Key; admin?: boolean; sub?: boolean }> = [
  { to: '/clusters', key: 'clusters' },
  { to: '/machines', key: 'machines' },
  { to: '/commands', key: 'commands' },
  { to: '/security/traffic', key: 'traffic' },
  { to: '/security/anomalies', key: 'anomalies' },
  { to: '/security/blacklist', key: 'blacklist' },
  { to: '/users', key: 'users', admin: true },
  { to: '/audit', key: 'audit' },
];

/** The signed-in frame: skip link, header (brand, language, account, sign out), the
 * navigation and the routed screen in <main>. Signing out lands on /signin (RequireAuth). */
export function Layout() {
  const t = useT(messages);
  const auth = useAuth();
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        {t('skip')}
      </a>
      <header className="topbar">
        <NavLink to="/clusters" className="brand">
          Taichu <span lang="zh-CN">太初</span>
        </NavLink>
        <div className="topbar-right">
          <LanguageSwitch />
          <NavLink to="/account" className="account-link">
            {auth.user?.username ?? t('account')}
          </NavLink>
          <button type="button" className="secondary" onClick={() => void auth.signOut()}>
            {t('signOut')}
          </button>
        </div>
      </header>
      <div className="body">
        {!auth.mustChangePassword && (
          <nav className="sidenav" aria-label={t('nav')}>
            <ul>
              {NAV.filter((n) => !n.admin || auth.isAdmin).map((n) => (
                <li key={n.to}>
                  <NavLink to={n.to}>{t(n.key)}</NavLink>
                </li>
              ))}
            </ul>
          </nav>
        )}
        <main id="main" tabIndex={-1}>
          <Outlet />
        </main>
      </div>
    </div>
  );
}
