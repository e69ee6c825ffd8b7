// Tandem's REST client for the browser: the envelope, tokens, refresh before expiry.
//
// Tokens live in localStorage (never in a URL). The access token is refreshed a minute
// before it expires; a 401 triggers one refresh and a retry. If the server says the refresh
// token was reused (401 on /refresh), every session of this browser is signed out.

const STORE_KEY = "tandem-session";
const REFRESH_MARGIN_MS = 60_000;

export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = error?.code || "HTTP_ERROR";
    this.details = error?.details || {};
  }
}

export class Api {
  constructor() {
    this.session = loadSession();
    this.listeners = new Set();
    this.refreshing = null;
    this.timer = null;
    window.addEventListener("storage", (event) => {
      if (event.key !== STORE_KEY) return;
      this.session = loadSession();
      this.schedule();
      this.emit();
    });
    this.schedule();
  }

  get user() {
    return this.session?.user ?? null;
  }

  get accessToken() {
    return this.session?.access_token ?? null;
  }

  onChange(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit() {
    for (const listener of this.listeners) listener(this.user);
  }

  async signUp({ email, password, name, role }) {
    await this.request("POST", "/api/v1/auth/register", { email, password, name, role }, { auth: false });
    return this.signIn({ email, password });
  }

  async signIn({ email, password }) {
    const data = await this.request("POST", "/api/v1/auth/login", { email, password }, { auth: false });
    this.store(data);
    return data.user;
  }

  async signOut() {
    const token = this.session?.refresh_token;
    this.store(null);
    if (token) {
      try {
        await this.request("POST", "/api/v1/auth/logout", { refresh_token: token }, { auth: false });
      } catch {
        // Signing out locally is what matters; the server forgets the token in time.
      }
    }
  }

  store(data) {
    this.session = data
      ? { ...data, expires_at: Date.now() + data.expires_in * 1000 }
      : null;
    if (this.session) localStorage.setItem(STORE_KEY, JSON.stringify(this.session));
    else localStorage.removeItem(STORE_KEY);
    this.schedule();
    this.emit();
  }

  schedule() {
    clearTimeout(this.timer);
    if (!this.session) return;
    const wait = Math.max(0, this.session.expires_at - Date.now() - REFRESH_MARGIN_MS);
    this.timer = setTimeout(() => this.refresh().catch(() => {}), wait);
  }

  async refresh() {
    if (!this.session) throw new ApiError(401, { code: "UNAUTHORIZED", message: "Signed out" });
    if (!this.refreshing) {
      const token = this.session.refresh_token;
      this.refreshing = (async () => {
        try {
          const data = await this.request("POST", "/api/v1/auth/refresh", { refresh_token: token }, { auth: false });
          this.store(data);
        } catch (error) {
          // Another tab may have rotated it already: adopt that tab's session if so.
          const stored = loadSession();
          if (stored && stored.refresh_token !== token) {
            this.session = stored;
            this.schedule();
            this.emit();
          } else if (error.status === 401) {
            this.store(null); // reused or revoked: sign out everywhere
          }
          throw error;
        } finally {
          this.refreshing = null;
        }
      })();
    }
    return this.refreshing;
  }

  /** Call the API; resolves to `data`, rejects with ApiError. `raw: true` gives the Response. */
  async request(method, path, body, { auth = true, headers = {}, raw = false, retry = true, keepalive = false } = {}) {
    // "no-cache": always revalidate with the server (the board answers 304 to a current
    // ETag), never serve a stale copy from the HTTP cache that would miss live changes.
    const init = { method, cache: "no-cache", keepalive, headers: { Accept: "application/json", ...headers } };
    if (body !== undefined && body !== null) {
      if (typeof body === "string" || body instanceof Blob) {
        init.body = body;
      } else {
        init.body = JSON.stringify(body);
        init.headers["Content-Type"] = "application/json";
      }
    }
    if (auth && this.session) {
      if (this.session.expires_at - Date.now() < 5_000) await this.refresh().catch(() => {});
      if (this.accessToken) init.headers.Authorization = `Bearer ${this.accessToken}`;
    }
    const response = await fetch(path, init);
    if (response.status === 401 && auth && retry && this.session) {
      await this.refresh();
      return this.request(method, path, body, { auth, headers, raw, keepalive, retry: false });
    }
    if (raw) return response;
    if (response.status === 304) return null;
    return unwrap(response);
  }
}

/** The `data` of an answer's envelope; an ApiError for an error envelope (or none). For
 * callers of `request(…, { raw: true })` that need the Response's headers too. */
export async function unwrap(response) {
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok || !payload?.success) throw new ApiError(response.status, payload?.error);
  return payload.data;
}

function loadSession() {
  try {
    return JSON.parse(localStorage.getItem(STORE_KEY) || "null");
  } catch {
    return null;
  }
}

export const api = new Api();
