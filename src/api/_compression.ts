/**
 * Response compression: brotli when the client prefers it, else Hono's
 * `compress` middleware (gzip, deflate). Event streams, small bodies,
 * bodies already encoded and `Cache-Control: no-transform` are left alone.
 *
 * Why a brotli branch by hand: Hono's `compress` offers gzip and deflate
 * only (it is built on `CompressionStream`), and `Deno.serve` does not
 * compress. Brotli comes from `node:zlib`, on buffered bodies only (the
 * API's JSON and `/metrics`; streams go to gzip).
 *
 * @module
 */
import { promisify } from "node:util";
import { brotliCompress as brotliCallback, constants } from "node:zlib";
import type { MiddlewareHandler } from "hono";
import { compress } from "hono/compress";
import { COMPRESSIBLE_CONTENT_TYPE_REGEX } from "hono/utils/compress";
import { qualities } from "./_http.ts";

const brotli = promisify(brotliCallback);
const THRESHOLD = 1024;

/**
 * The middleware.
 *
 * @returns A middleware compressing answers the client accepts compressed.
 */
export function compression(): MiddlewareHandler {
  const gzip = compress({ threshold: THRESHOLD });
  return async (c, next) => {
    const choice = c.req.method === "HEAD" ? undefined : _choose(c.req.header("accept-encoding"));
    if (choice === "gzip") return await gzip(c, next);
    await next();
    if (choice === undefined) return; // identity: any cache may serve it to anyone
    const res = c.res;
    const type = res.headers.get("content-type") ?? "";
    if (!COMPRESSIBLE_CONTENT_TYPE_REGEX.test(type)) return;
    // Headers are set on the response itself: Hono's c.header() on a
    // finished response rebuilds it around a stream, off Deno's fast path.
    _vary(res.headers);
    if (
      choice !== "br" || !res.body || res.status === 204 || res.status === 304 ||
      res.headers.has("content-encoding") ||
      /no-transform/i.test(res.headers.get("cache-control") ?? "")
    ) return;
    const length = Number(res.headers.get("content-length") ?? NaN);
    if (!Number.isNaN(length) && length < THRESHOLD) return;
    const bytes = new Uint8Array(await res.arrayBuffer());
    const headers = new Headers(res.headers);
    if (bytes.byteLength < THRESHOLD) {
      c.res = new Response(bytes, { status: res.status, headers });
      return;
    }
    const body = await brotli(bytes, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 5,
        [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
      },
    });
    headers.set("content-encoding", "br");
    headers.delete("content-length");
    c.res = new Response(new Uint8Array(body), { status: res.status, headers });
  };
}

function _vary(headers: Headers): void {
  const vary = headers.get("vary");
  if (!vary) headers.set("vary", "accept-encoding");
  else if (!/accept-encoding|\*/i.test(vary)) headers.set("vary", `${vary}, accept-encoding`);
}

/** The encoding to use: `br` when it has the highest q-value, else `gzip` (or deflate, by Hono) when accepted. */
function _choose(header: string | undefined): "br" | "gzip" | undefined {
  if (!header) return undefined;
  const q = new Map(qualities(header).map(({ value, q }) => [value, q]));
  const of = (name: string) => q.get(name) ?? q.get("*") ?? 0;
  const br = of("br");
  const other = Math.max(of("gzip"), of("deflate"));
  if (br > 0 && br >= other) return "br";
  return other > 0 ? "gzip" : undefined;
}
