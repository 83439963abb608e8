/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// Raw-platform baseline: counts messages arriving on a port (single or in
// arrays) and reports the count to the parent at "end".
self.onmessage = (event: MessageEvent<{ port: MessagePort }>) => {
  let count = 0;
  let sum = 0;
  event.data.port.onmessage = (e: MessageEvent) => {
    const data = e.data;
    if (data === "end") return self.postMessage(count);
    if (Array.isArray(data)) {
      for (const m of data) sum += m.n;
      count += data.length;
    } else {
      sum += data.n;
      count++;
    }
  };
};
