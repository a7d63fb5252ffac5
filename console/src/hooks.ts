/**
 * React glue: the shared Api and Live instances, data loading that refreshes itself from the
 * event stream, and small form state.
 */
import { createContext, useCallback, useContext, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { type Api, ApiError } from './lib/api.ts';
import type { FieldErrors, FormValues } from './lib/form.ts';
import type { Live } from './lib/live.ts';
import type { Permissions } from './lib/roles.ts';
import type { FulcrumEvent } from './lib/types.ts';

export interface AppServices {
  api: Api;
  live: Live;
  /** Shows a message in the notification area (role="status"). */
  notify: (message: string, kind?: 'ok' | 'error') => void;
  /** What the signed-in role may change: hides the buttons it may not use (API.md roles). */
  can: Permissions;
}

export const Services = createContext<AppServices | null>(null);

export function useServices(): AppServices {
  const s = useContext(Services);
  if (!s) throw new Error('Services missing: render inside <Services.Provider>');
  return s;
}

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | null;
  loading: boolean;
  reload: () => void;
}

/**
 * Loads with `load` and reloads when `deps` change, when an event passes `refreshOn`
 * (debounced 250 ms), and every `everyMs` when given. A failed reload keeps the last data.
 */
export function useLoad<T>(
  load: (api: Api, signal: AbortSignal) => Promise<T>,
  deps: readonly unknown[],
  opts: { refreshOn?: (e: FulcrumEvent) => boolean; everyMs?: number } = {},
): Loaded<T> {
  const { api, live } = useServices();
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const refreshRef = useRef(opts.refreshOn);
  refreshRef.current = opts.refreshOn;

  // biome-ignore lint/correctness/useExhaustiveDependencies: deps are the caller's; tick forces a reload.
  useEffect(() => {
    const ctl = new AbortController();
    setLoading(true);
    loadRef
      .current(api, ctl.signal)
      .then((d) => {
        if (ctl.signal.aborted) return;
        setData(d);
        setError(null);
      })
      .catch((e: unknown) => {
        if (ctl.signal.aborted) return;
        setError(e instanceof ApiError ? e : new ApiError(0, 'network', String((e as Error)?.message ?? e), null));
      })
      .finally(() => {
        if (!ctl.signal.aborted) setLoading(false);
      });
    return () => ctl.abort();
  }, [api, tick, ...deps]);

  const reload = useCallback(() => setTick((t) => t + 1), []);

  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    const off = live.onEvent((e) => {
      if (!refreshRef.current?.(e)) return;
      if (timer) return;
      timer = setTimeout(() => {
        timer = null;
        reload();
      }, 250);
    });
    return () => {
      off();
      if (timer) clearTimeout(timer);
    };
  }, [live, reload]);

  useEffect(() => {
    if (!opts.everyMs) return;
    const t = setInterval(reload, opts.everyMs);
    return () => clearInterval(t);
  }, [opts.everyMs, reload]);

  return { data, error, loading, reload };
}

/** Re-renders on every stats sample; returns the sample count (a version number). */
export function useStatsTick(): number {
  const { live } = useServices();
  return useSyncExternalStore(
    (fn) => live.onStats(fn),
    () => live.history.size + (live.history.latest?.at ?? 0),
  );
}

/** Current time, refreshed every `everyMs` (for "12 s ago"). */
export function useNow(everyMs = 5000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}

export interface FormState {
  values: FormValues;
  errors: FieldErrors;
  formError: string | null;
  set: (path: string, value: string | boolean) => void;
  setMany: (patch: FormValues) => void;
  setErrors: (e: FieldErrors) => void;
  setFormError: (m: string | null) => void;
  /** Paths the operator typed in (a suggestion never overwrites them). */
  touched: ReadonlySet<string>;
}

/** Form values and their errors; editing a field clears its error. */
export function useForm(initial: () => FormValues): FormState {
  const [values, setValues] = useState<FormValues>(initial);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [touched, setTouched] = useState<Set<string>>(() => new Set());
  const set = useCallback((path: string, value: string | boolean) => {
    setValues((v) => ({ ...v, [path]: value }));
    setTouched((t) => (t.has(path) ? t : new Set(t).add(path)));
    setErrors((e) => {
      if (!(path in e)) return e;
      const { [path]: _, ...rest } = e;
      return rest;
    });
  }, []);
  const setMany = useCallback((patch: FormValues) => setValues((v) => ({ ...v, ...patch })), []);
  return { values, errors, formError, set, setMany, setErrors, setFormError, touched };
}
