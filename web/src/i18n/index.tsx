// English and Chinese. Each screen owns a `messages.ts`:
//   export const messages = defineMessages({ en: { title: 'Clusters' }, zh: { title: '集群' } });
// and calls `const t = useT(messages); t('title')`. `zh` must have exactly `en`'s keys (a
// type error otherwise). The language: localStorage, else the browser's, switchable.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';

export type Lang = 'en' | 'zh';
export const LANGS: ReadonlyArray<{ lang: Lang; label: string }> = [
  { lang: 'en', label: 'English' },
  { lang: 'zh', label: '中文' },
];
const STORAGE_KEY = 'taichu.lang';

export type MessageTable<K extends string> = { en: Record<K, string>; zh: Record<K, string> };

/** Declares a screen's strings; the type makes `zh` complete and exact. */
export function defineMessages<K extends string>(table: { en: Record<K, string>; zh: Record<NoInfer<K>, string> }): MessageTable<K> {
  return table;
}

export type Params = Record<string, string | number>;
export type T<K extends string> = (key: K, params?: Params) => string;

/** `{name}` placeholders filled from params. */
export function format(template: string, params?: Params): string {
  if (!params) return template;
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in params ? String(params[name]) : whole,
  );
}

export function browserLang(languages: readonly string[] = navigator.languages ?? [navigator.language]): Lang {
  for (const l of languages) {
    const lower = l.toLowerCase();
    if (lower.startsWith('zh')) return 'zh';
    if (lower.startsWith('en')) return 'en';
  }
  return 'en';
}

function initialLang(): Lang {
  const stored = localStorage.getItem(STORAGE_KEY);
  return stored === 'en' || stored === 'zh' ? stored : browserLang();
}

interface LangState {
  lang: Lang;
  setLang(lang: Lang): void;
}
const LangContext = createContext<LangState>({ lang: 'en', setLang: () => undefined });

export function LanguageProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(initialLang);
  const setLang = useCallback((next: Lang) => {
    localStorage.setItem(STORAGE_KEY, next);
    setLangState(next);
  }, []);
  useEffect(() => {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  }, [lang]);
  const value = useMemo(() => ({ lang, setLang }), [lang, setLang]);
  return <LangContext.Provider value={value}>{children}</LangContext.Provider>;
}

export function useLang(): LangState {
  return useContext(LangContext);
}

/** The translate function of a screen's messages, in the current language. */
export function useT<K extends string>(messages: MessageTable<K>): T<K> {
  const { lang } = useLang();
  return useCallback((key: K, params?: Params) => format(messages[lang][key] ?? messages.en[key] ?? key, params), [lang, messages]);
}

/** Locale-formatted numbers and times in the current language. */
export function useFormat() {
  const { lang } = useLang();
  return useMemo(() => {
    const locale = lang === 'zh' ? 'zh-CN' : 'en';
    const number = new Intl.NumberFormat(locale);
    const dateTime = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'medium' });
    return {
      locale,
      number: (n: number) => number.format(n),
      dateTime: (d: string | number | Date | null | undefined) => (d == null || d === '' ? '—' : dateTime.format(new Date(d))),
      bytes: (n: number) => formatBytes(n, locale),
    };
  }, [lang]);
}

export function formatBytes(n: number, locale = 'en'): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${new Intl.NumberFormat(locale, { maximumFractionDigits: unit ? 1 : 0 }).format(value)} ${units[unit]}`;
}
