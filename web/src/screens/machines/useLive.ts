import type { DependencyList } from 'react';
import { useAsync, usePolling } from '../../ui';

/** `useAsync` kept fresh by `usePolling` every `ms` (null: no polling, e.g. once ended). */
export function useLive<T>(fn: () => Promise<T>, ms: number | null, deps: DependencyList) {
  const state = useAsync(() => fn(), deps);
  usePolling(() => state.reload(), ms, deps);
  return state;
}
