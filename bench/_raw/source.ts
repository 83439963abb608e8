/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// Raw-platform baseline: posts `{ type: "add", n }` messages to a port, in
// arrays of `batch` (1 = one postMessage per message), then "end".
self.onmessage = (event: MessageEvent<{ port: MessagePort; n: number; batch: number }>) => {
  const { port, n, batch } = event.data;
  if (batch === 1) {
    for (let i = 0; i < n; i++) port.postMessage({ type: "add", n: i });
  } else {
    for (let i = 0; i < n; i += batch) {
      const chunk = [];
      for (let j = i; j < Math.min(n, i + batch); j++) chunk.push({ type: "add", n: j });
      port.postMessage(chunk);
    }
  }
  port.postMessage("end");
};
