// A TCP proxy in front of a server whose connections a test can cut: a
// network drop as the browser sees it (its open streams fail at once).

/** The proxy. */
export interface CuttableProxy extends AsyncDisposable {
  /** `http://127.0.0.1:<port>` of the proxy. */
  url: string;
  /** Closes every connection open now; new ones go through. */
  cut(): void;
}

/** Starts a proxy to `target` (`host:port`). */
export function cuttableProxy(target: { hostname: string; port: number }): CuttableProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const close = (conn: Deno.Conn) => {
    open.delete(conn);
    try {
      conn.close();
    } catch {
      // closed already
    }
  };
  const accepting = (async () => {
    for await (const client of listener) {
      let server: Deno.Conn;
      try {
        server = await Deno.connect(target);
      } catch {
        close(client);
        continue;
      }
      open.add(client);
      open.add(server);
      const pipe = (from: Deno.Conn, to: Deno.Conn) =>
        from.readable.pipeTo(to.writable).catch(() => {}).finally(() => {
          close(from);
          close(to);
        });
      pipe(client, server);
      pipe(server, client);
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    cut() {
      for (const conn of [...open]) close(conn);
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of [...open]) close(conn);
      await accepting;
    },
  };
}
