// A table with a header row of column names, scrolling sideways on a narrow screen.
import { html } from "htm/preact";
import type { ComponentChildren, VNode } from "preact";

/** The table; its children are the body's rows. */
export function DataTable(
  props: { columns: readonly string[]; label?: string; children: ComponentChildren },
): VNode {
  return html`
    <div class="table-wrap">
      <table aria-label=${props.label}>
        <thead>
          <tr>${props.columns.map((c) => html`<th scope="col" key=${c}>${c}</th>`)}</tr>
        </thead>
        <tbody>${props.children}</tbody>
      </table>
    </div>
  `;
}
