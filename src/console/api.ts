// The API as the console calls it: every request carries the bearer token
// kept in the browser session (never in a URL); a 401 forgets it, which
// sends the operator back to the login form.

const KEY = "oao.token";
const listeners = new Set<() => void>();

/** An answer other than 2xx, with the API's error code and message. */
export class ApiFailure extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** The API's error code. */
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The token of this browser session, or `""` when logged out. */
export function token(): string {
  return sessionStorage.getItem(KEY) ?? "";
}

/** Whether the operator logged in (with a token, or to a server without one). */
export function loggedIn(): boolean {
  return sessionStorage.getItem(KEY) !== null;
}

/** Keeps the token for this session (`""` for a server without a token). */
export function logIn(value: string): void {
  sessionStorage.setItem(KEY, value.trim());
  for (const listener of listeners) listener();
}

/** Forgets the token. */
export function logOut(): void {
  sessionStorage.removeItem(KEY);
  for (const listener of listeners) listener();
}

/** Calls `listener` when the login state changes; returns its removal. */
export function onAuthChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Sends a request to the API with the token; JSON in, JSON (or text) out. */
export async function api<T = unknown>(
  path: string,
  init: { method?: string; body?: unknown; text?: boolean; token?: string } = {},
): Promise<T> {
  const headers: Record<string, string> = { accept: init.text ? "text/plain" : "application/json" };
  const bearer = init.token ?? token();
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  if (init.body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, {
    method: init.method ?? "GET",
    headers,
    // Revalidated every time: an unchanged answer (same ETag) comes back as a 304.
    cache: "no-cache",
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await response.text();
  if (!response.ok) {
    let code = `http_${response.status}`;
    let message = text || response.statusText;
    try {
      const error = JSON.parse(text).error;
      code = error.code;
      message = error.message;
    } catch {
      // not the API's error envelope
    }
    if (response.status === 401 && init.token === undefined) logOut();
    throw new ApiFailure(response.status, code, message);
  }
  if (init.text) return text as T;
  return (text ? JSON.parse(text) : undefined) as T;
}
