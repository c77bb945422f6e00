import { useMemo } from 'react';
import { useT } from '../../i18n';
import { type MachineKey, KEYS, messages } from './messages';

/** The area's strings in the chosen language, as an object (`m.addMachine`); templates
 * with `{placeholders}` are filled with `format` from the i18n module. */
export function useM(): Record<MachineKey, string> {
  const t = useT(messages);
  return useMemo(() => Object.fromEntries(KEYS.map((k) => [k, t(k)])) as Record<MachineKey, string>, [t]);
}
