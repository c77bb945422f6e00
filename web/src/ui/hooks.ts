import { useCallback, useEffect, useRef, useState, type DependencyList } from 'react';

export interface AsyncState<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /** Runs the function again (keeps the previous data while loading). */
  reload: () => Promise<void>;
  setData: (data: T | undefined) => void;
}

/** Runs `fn` when `deps` change; the latest call wins (an earlier one's result is dropped). */
export function useAsync<T>(fn: (signal: AbortSignal) => Promise<T>, deps: DependencyList): AsyncState<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const latest = useRef<AbortController | null>(null);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const run = useCallback(fn, deps);
  const reload = useCallback(async () => {
    latest.current?.abort();
    const controller = new AbortController();
    latest.current = controller;
    setLoading(true);
    try {
      const result = await run(controller.signal);
      if (!controller.signal.aborted) {
        setData(result);
        setError(null);
      }
    } catch (e) {
      if (!controller.signal.aborted && (e as Error).name !== 'AbortError') setError(e);
    } finally {
      if (!controller.signal.aborted) setLoading(false);
    }
  }, [run]);
  useEffect(() => {
    void reload();
    return () => latest.current?.abort();
  }, [reload]);
  return { data, error, loading, reload, setData };
}

/** Calls `fn` now and every `ms` while the page is visible (paused when hidden, resumed
 * at once when shown again); `ms` null stops it. Calls never overlap. */
export function usePolling(fn: () => Promise<unknown> | void, ms: number | null, deps: DependencyList = []): void {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    if (ms === null) return undefined;
    let timer: number | undefined;
    let stopped = false;
    let busy = false;
    const tick = async () => {
      if (stopped || busy || document.hidden) return;
      busy = true;
      try {
        await saved.current();
      } catch {
        // The caller shows its own errors; polling goes on.
      } finally {
        busy = false;
      }
    };
    const schedule = () => {
      window.clearInterval(timer);
      timer = window.setInterval(() => void tick(), ms);
    };
    const onVisible = () => {
      if (!document.hidden) void tick();
    };
    void tick();
    schedule();
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      stopped = true;
      window.clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [ms, ...deps]);
}
