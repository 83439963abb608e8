// A small router over the History API: the console's pages are paths under
// /ui (the server answers every one with the same page).
import { html } from "htm/preact";
import type { ComponentChildren, VNode } from "preact";
import { useEffect, useState } from "preact/hooks";

const listeners = new Set<() => void>();
addEventListener("popstate", () => listeners.forEach((l) => l()));

/** Goes to a path of the console (`/ui/...`). */
export function navigate(path: string): void {
  if (path === location.pathname + location.search) return;
  history.pushState(null, "", path);
  listeners.forEach((l) => l());
}

/** The current path and query, re-rendering on navigation. */
export function useLocation(): { path: string; query: URLSearchParams } {
  const [, setTick] = useState(0);
  useEffect(() => {
    const listener = () => setTick((n) => n + 1);
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }, []);
  return {
    path: location.pathname.replace(/\/+$/, "") || "/ui",
    query: new URLSearchParams(location.search),
  };
}

/** A link that navigates without reloading (a real `<a href>`: keyboard and middle-click work). */
export function Link(
  props: { href: string; class?: string; children: ComponentChildren; current?: boolean },
): VNode {
  const onClick = (event: MouseEvent) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    navigate(props.href);
  };
  return html`<a href=${props.href} class=${props.class} aria-current=${
    props.current ? "page" : undefined
  } onClick=${onClick}>${props.children}</a>`;
}
