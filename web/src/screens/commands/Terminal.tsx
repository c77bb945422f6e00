// A command's output as a terminal shows it: the prompt line, stdout, stderr, and the end.
import type { Schema } from '../../api/client';
import { useFormat, useT } from '../../i18n';
import { messages } from './messages';

export type CommandResult = Schema<'CommandResult'>;

export function Terminal({ result }: { result: CommandResult }) {
  const t = useT(messages);
  const f = useFormat();
  const failed = result.status !== 'done' || (result.returncode ?? 0) !== 0;
  return (
    <figure className="w4-terminal">
      {/* Focusable so a keyboard user can scroll a long output. */}
      <pre className="w4-terminal-screen" data-testid="terminal" tabIndex={0} aria-label={t('output')}>
        <span className="w4-terminal-prompt">$ {result.command}</span>
        {'\n'}
        {result.stdout}
        {result.stderr ? <span className="w4-terminal-stderr">{result.stderr}</span> : null}
      </pre>
      <figcaption className={failed ? 'w4-terminal-end w4-bad' : 'w4-terminal-end'}>
        <span data-testid="exit-code">{t('exitCodeIs', { code: result.returncode ?? '—' })}</span>
        {' · '}
        <span>{t('statusIs', { status: result.status })}</span>
        {' · '}
        <span>{t('ms', { n: f.number(result.duration_ms) })}</span>
        {' · '}
        <span>{t('bytes', { out: f.bytes(result.stdout_bytes), err: f.bytes(result.stderr_bytes) })}</span>
        {result.truncated ? <strong> · {t('truncated')}</strong> : null}
      </figcaption>
    </figure>
  );
}
