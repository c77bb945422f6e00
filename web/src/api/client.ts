// The one HTTP client of the console. `api.*` speaks the `/api/v1` family (unwraps the
// `{code, message, data}` envelope); `runtime.*` the `/api/...` family (plain JSON, errors
// `{detail}`). Every failure is an ApiError whose message is the API's own message.
import type { components, paths } from './schema';

export type Schemas = components['schemas'];
/** A schema of the generated OpenAPI types: `Schema<'UserOut'>`. */
export type Schema<N extends keyof Schemas> = Schemas[N];
export type ApiPath = keyof paths;

type JsonOf<R> = R extends { content: { 'application/json': infer J } } ? J : never;
type Ok<Op> = Op extends { responses: infer Rs }
  ? Rs extends { 200: infer R }
    ? JsonOf<R>
    : Rs extends { 201: infer R }
      ? JsonOf<R>
      : Rs extends { 202: infer R }
        ? JsonOf<R>
        : never
  : never;
type Unwrap<E> = E extends { data: infer D } ? D : E;
/** The `data` of a `/api/v1` operation's success: `V1Data<'/api/v1/users/{id}', 'get'>`. */
export type V1Data<P extends ApiPath, M extends keyof paths[P]> = Unwrap<Ok<paths[P][M]>>;
/** The JSON body of a runtime-family operation's success. */
export type RuntimeData<P extends ApiPath, M extends keyof paths[P]> = Ok<paths[P][M]>;

export class ApiError extends Error {
  /** HTTP status (0: the platform could not be reached). */
  readonly status: number;
  /** The envelope's `code` (the status for the runtime family). */
  readonly code: number;
  /** The request field the message names (`"new_password: too short"` -> `new_password`). */
  readonly field?: string;
  constructor(status: number, code: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = fieldOf(message);
  }
}

const FIELD = /^(?:Invalid request parameter: )?([A-Za-z_][A-Za-z0-9_.]*): /;
export function fieldOf(message: string): string | undefined {
  return FIELD.exec(message)?.[1];
}

export type Query = Record<string, string | number | boolean | null | undefined | Array<string | number>>;

/** `?a=1&b=x&b=y` from a query object; null/undefined/'' values are left out. */
export function qs(query?: Query): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === null || value === undefined || value === '') continue;
    if (Array.isArray(value)) value.forEach((v) => params.append(key, String(v)));
    else params.append(key, String(value));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

const TOKEN_KEY = 'taichu.token';
type Listener = () => void;

/** The bearer token (kept in localStorage: a reload stays signed in). */
export const session = {
  token(): string | null {
    return localStorage.getItem(TOKEN_KEY);
  },
  setToken(token: string | null): void {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  },
  /** Called once a 401 could not be recovered by a refresh (auth.tsx signs out). */
  onExpired: null as Listener | null,
};

export interface RequestOptions {
  signal?: AbortSignal;
  /** Extra headers (e.g. Accept). */
  headers?: Record<string, string>;
  /** Do not try a refresh or sign out on 401 (sign-in itself). */
  noAuthRetry?: boolean;
}

type Family = 'v1' | 'runtime';

function url(family: Family, path: string): string {
  if (path.startsWith('/api/')) return path;
  return (family === 'v1' ? '/api/v1' : '/api') + (path.startsWith('/') ? path : `/${path}`);
}

async function parse(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function errorFrom(status: number, body: unknown): ApiError {
  if (body && typeof body === 'object') {
    const b = body as { code?: unknown; message?: unknown; detail?: unknown };
    if (typeof b.message === 'string') {
      return new ApiError(status, typeof b.code === 'number' ? b.code : status, b.message);
    }
    if (typeof b.detail === 'string') return new ApiError(status, status, b.detail);
    if (Array.isArray(b.detail)) return new ApiError(status, status, JSON.stringify(b.detail));
  }
  const text = typeof body === 'string' && body.length < 300 ? `: ${body}` : '';
  return new ApiError(status, status, `HTTP ${status}${text}`);
}

let refreshing: Promise<boolean> | null = null;

/** Exchanges the current token for a fresh one, once at a time. */
async function refreshToken(): Promise<boolean> {
  const token = session.token();
  if (!token) return false;
  refreshing ??= (async () => {
    try {
      const r = await fetch('/api/v1/auth/refresh', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ token }),
      });
      if (!r.ok) return false;
      const body = (await r.json()) as { data?: { token?: string } };
      if (!body.data?.token) return false;
      session.setToken(body.data.token);
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

export async function request<T>(
  family: Family,
  method: string,
  path: string,
  body?: unknown,
  options: RequestOptions = {},
  retried = false,
): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json', ...options.headers };
  const token = session.token();
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload: BodyInit | undefined;
  if (body instanceof FormData || typeof body === 'string') payload = body;
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response: Response;
  try {
    response = await fetch(url(family, path), { method, headers, body: payload, signal: options.signal });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 0, `The platform could not be reached: ${(e as Error).message}`);
  }
  const parsed = await parse(response);
  if (response.status === 401 && token && !options.noAuthRetry) {
    if (!retried && (await refreshToken())) {
      return request<T>(family, method, path, body, options, true);
    }
    session.setToken(null);
    session.onExpired?.();
  }
  if (!response.ok) throw errorFrom(response.status, parsed);
  if (family === 'v1' && parsed && typeof parsed === 'object' && 'code' in parsed) {
    const envelope = parsed as { code: number; message: string; data: unknown };
    if (envelope.code !== 0) throw new ApiError(response.status, envelope.code, envelope.message);
    return envelope.data as T;
  }
  return parsed as T;
}

function family(f: Family) {
  return {
    get: <T>(path: string, query?: Query, options?: RequestOptions) =>
      request<T>(f, 'GET', path + qs(query), undefined, options),
    post: <T>(path: string, body?: unknown, options?: RequestOptions) =>
      request<T>(f, 'POST', path, body, options),
    put: <T>(path: string, body?: unknown, options?: RequestOptions) =>
      request<T>(f, 'PUT', path, body, options),
    patch: <T>(path: string, body?: unknown, options?: RequestOptions) =>
      request<T>(f, 'PATCH', path, body, options),
    delete: <T>(path: string, body?: unknown, options?: RequestOptions) =>
      request<T>(f, 'DELETE', path, body, options),
  };
}

/** `/api/v1` (paths given without the prefix: `api.get('/clusters')`); resolves to `data`. */
export const api = family('v1');
/** `/api/...` runtime family (`runtime.post('/state/command/', ...)`); resolves to the body. */
export const runtime = family('runtime');

/** The message to show for anything thrown (ApiError's is the API's own). */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
