/**
 * A small router: exact segments and `:name` parameters, matched in order.
 * Answers which route handles a request, or that the path is unknown (404)
 * or known with other methods (405, with the methods allowed).
 *
 * @example
 * ```ts
 * import { Router } from "./router.ts";
 * const router = new Router([
 *   { method: "GET", path: "/executions/:id", summary: "Status", handle: () => new Response() },
 * ]);
 * const match = router.match("GET", "/executions/exec-1");
 * console.assert("route" in match && match.params.id === "exec-1");
 * console.assert(!("route" in router.match("POST", "/executions/exec-1")));
 * ```
 *
 * @module
 */
import type { Method, Route } from "./route.ts";

/** A route found for a request. */
export interface RouteMatch {
  /** The route. */
  route: Route;
  /** Path parameters, percent-decoded. */
  params: Record<string, string>;
}

/** No route for a request: unknown path (404) or other methods only (405). */
export interface RouteMiss {
  /** 404 or 405. */
  status: 404 | 405;
  /** Methods the path accepts (405). */
  allow: Method[];
}

/** Matches requests to routes. */
export class Router {
  readonly #routes: { route: Route; segments: string[] }[];

  /**
   * Creates a router.
   *
   * @param routes The routes, matched in order.
   * @throws {TypeError} When two routes have the same method and pattern.
   */
  constructor(routes: readonly Route[]) {
    const seen = new Set<string>();
    this.#routes = routes.map((route) => {
      const key = `${route.method} ${route.path.replace(/:[^/]+/g, ":")}`;
      if (seen.has(key)) throw new TypeError(`Duplicate route "${route.method} ${route.path}"`);
      seen.add(key);
      return { route, segments: _segments(route.path) };
    });
  }

  /** The routes, in order. */
  get routes(): readonly Route[] {
    return this.#routes.map((r) => r.route);
  }

  /**
   * Finds the route of a request.
   *
   * @param method The request method.
   * @param pathname The URL path (percent-encoded).
   * @returns The route and its parameters, or why there is none.
   * @throws {URIError} When a parameter is not valid percent-encoding.
   */
  match(method: string, pathname: string): RouteMatch | RouteMiss {
    const parts = _segments(pathname);
    const allow: Method[] = [];
    for (const { route, segments } of this.#routes) {
      if (segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < segments.length && ok; i++) {
        const segment = segments[i]!;
        const part = parts[i]!;
        if (segment.startsWith(":")) {
          if (part === "") ok = false;
          else params[segment.slice(1)] = decodeURIComponent(part);
        } else if (segment !== part) ok = false;
      }
      if (!ok) continue;
      if (route.method === method || (method === "HEAD" && route.method === "GET")) {
        return { route, params };
      }
      allow.push(route.method);
    }
    return allow.length ? { status: 405, allow } : { status: 404, allow };
  }
}

function _segments(path: string): string[] {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed === "" ? [] : trimmed.split("/").slice(1);
}
