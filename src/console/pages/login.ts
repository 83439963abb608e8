// The login form: the API token (OAO_API_TOKEN) is kept in this browser
// session only (sessionStorage), never in a URL.
import { html } from "htm/preact";
import type { VNode } from "preact";
import { useState } from "preact/hooks";
import { api, ApiFailure, logIn } from "../api.ts";
import { message } from "../format.ts";

/** The form. */
export function Login(props: { notice?: string }): VNode {
  const [value, setValue] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError("");
    try {
      await api("/agents", { token: value.trim() }); // checks the token
      logIn(value);
    } catch (e) {
      setError(
        e instanceof ApiFailure && e.status === 401 ? "The server refused this token." : message(e),
      );
    } finally {
      setBusy(false);
    }
  };
  return html`
    <main class="login">
      <form class="card" onSubmit=${submit}>
          <h1>OAO console</h1>
          ${props.notice ? html`<p class="notice">${props.notice}</p>` : ""}
          <label for="token">API token</label>
          <input id="token" name="token" type="password" autocomplete="current-password" required
            value=${value} onInput=${(e: Event) =>
              setValue((e.target as HTMLInputElement).value)} />
          <p class="muted small">The server's OAO_API_TOKEN. It is kept in this browser tab's session only.</p>
          <button type="submit" class="primary" disabled=${busy}>Log in</button>
          ${error ? html`<p class="error" role="alert">${error}</p>` : ""}
        </form>
    </main>
  `;
}
