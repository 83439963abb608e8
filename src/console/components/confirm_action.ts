// An action that asks for confirmation in place (no browser dialog): the
// button opens a small form with an optional reason, Confirm and Back.
import { html } from "htm/preact";
import type { ComponentChildren, VNode } from "preact";
import { useState } from "preact/hooks";
import { message } from "../format.ts";

/** The action. */
export function ConfirmAction(
  props: {
    label: string;
    confirmText: string;
    run: (reason: string) => Promise<unknown>;
    reason?: boolean;
    danger?: boolean;
    disabled?: boolean;
    children?: ComponentChildren;
  },
): VNode {
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  if (!open) {
    return html`
      <button type="button" class=${props.danger ? "danger" : ""} disabled=${props.disabled}
        onClick=${() => setOpen(true)}>${props.label}</button>
    `;
  }
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError("");
    try {
      await props.run(reason);
      setOpen(false);
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="confirm" onSubmit=${submit} aria-label=${props.label}>
    <p>${props.confirmText}</p>
    ${props.children}
    ${
    props.reason
      ? html`<label>Reason <input value=${reason} onInput=${(e: Event) =>
        setReason((e.target as HTMLInputElement).value)} /></label>`
      : ""
  }
    <div class="row">
      <button type="submit" class=${
    props.danger ? "danger" : "primary"
  } disabled=${busy}>Confirm ${props.label.toLowerCase()}</button>
      <button type="button" onClick=${() => setOpen(false)}>Back</button>
    </div>
    ${error ? html`<p class="error" role="alert">${error}</p>` : ""}
  </form>`;
}
