/**
 * The operators' console (served at `/ui`): Preact with htm, bundled by
 * `deno task bundle:console`. Runs in the browser; not part of the library.
 *
 * @module
 */
import { render } from "preact";
import { html } from "htm/preact";
import { App } from "./app.ts";

render(html`<${App} />`, document.getElementById("app")!);
