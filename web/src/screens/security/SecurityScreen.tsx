// /security/traffic, /security/anomalies, /security/blacklist: one screen, three views.
import { NavLink } from 'react-router-dom';
import { useAuth } from '../../api/auth';
import { useT } from '../../i18n';
import { Page } from '../../ui';
import { Anomalies } from './Anomalies';
import { Blacklist } from './Blacklist';
import { messages } from './messages';
import { Traffic } from './Traffic';
import './w4.css';

export const VIEWS = ['traffic', 'anomalies', 'blacklist'] as const;
export type View = (typeof VIEWS)[number];

export function SecurityScreen({ view }: { view: View }) {
  const t = useT(messages);
  const { isAdmin } = useAuth();
  return (
    <Page title={`${t('title')} · ${t(view)}`}>
      <div className="w4-screen">
        <nav aria-label={t('tabs')} className="w4-subnav">
          {VIEWS.map((v) => (
            <NavLink key={v} to={`/security/${v}`}>
              {t(v)}
            </NavLink>
          ))}
        </nav>
        {!isAdmin ? (
          <p className="notice" role="note" data-testid="admins-only">
            {t('adminsOnly')}
          </p>
        ) : view === 'traffic' ? (
          <Traffic />
        ) : view === 'anomalies' ? (
          <Anomalies />
        ) : (
          <Blacklist />
        )}
      </div>
    </Page>
  );
}
