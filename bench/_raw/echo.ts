/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// Raw-platform baseline: replies with every message.
self.onmessage = (event: MessageEvent) => self.postMessage(event.data);
