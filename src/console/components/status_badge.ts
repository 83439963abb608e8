// An execution's status as a coloured badge (the colour is not the only
// cue: the status is written out).
import { html } from "htm/preact";
import type { VNode } from "preact";

/** The badge. */
export function StatusBadge(props: { status: string }): VNode {
  return html`<span class=${`badge status-${props.status.toLowerCase()}`}>${props.status}</span>`;
}
