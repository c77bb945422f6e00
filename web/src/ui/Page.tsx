import { useEffect, type ReactNode } from 'react';
import { useT } from '../i18n';
import { messages } from './messages';

/** A screen's frame: its h1 (also the document title) and optional actions beside it. */
export function Page({ title, actions, children }: { title: string; actions?: ReactNode; children?: ReactNode }) {
  useEffect(() => {
    document.title = `${title} · Taichu`;
  }, [title]);
  return (
    <section className="page">
      <header className="page-header">
        <h1>{title}</h1>
        {actions && <div className="page-actions">{actions}</div>}
      </header>
      {children}
    </section>
  );
}

/** The stub of a screen not built yet. */
export function Placeholder({ title }: { title: string }) {
  const t = useT(messages);
  return (
    <Page title={title}>
      <p className="muted">{t('comingSoon')}</p>
    </Page>
  );
}
