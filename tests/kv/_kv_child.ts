/**
 * A second process on a Deno KV file, for the tests that need real
 * processes. Run: `deno run -A --unstable-kv _kv_child.ts <command> <path> …`,
 * where command is
 *
 * - `append <path> <executionId> <count> <tag>`: appends `count` events
 *   (sequentially) and prints their seqs as one JSON array;
 * - `claim <path> <executionId> <owner>`: appends an event, claims the
 *   execution for `owner` for a minute, prints the claim as JSON;
 * - `reserve <path> <consumer>`: prints `ready`, waits up to 20 s for a job,
 *   prints its lease as JSON and completes it;
 * - `open <path>`: opens the file with `openKv` and prints `ok` or the
 *   error's message and its cause's (to run without `--unstable-kv` or
 *   without a permission).
 *
 * @module
 */
import { KvEventStore } from "../../src/kv/kv_event_store.ts";
import { KvJobQueue } from "../../src/kv/kv_job_queue.ts";
import { openKv } from "../../src/kv/open_kv.ts";

const [command, path, ...rest] = Deno.args;
if (!path) throw new Error("Usage: _kv_child.ts <command> <path> …");

if (command === "append") {
  const [executionId, count, tag] = rest;
  const store = new KvEventStore({ path });
  const seqs: number[] = [];
  // Start together with the other process: wait for the go file.
  while (!(await Deno.stat(`${path}.go`).then(() => true, () => false))) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  for (let i = 0; i < Number(count); i++) {
    const event = await store.appendEvent(executionId!, { type: "E", data: { tag, i } });
    seqs.push(event.seq);
  }
  await store.close();
  console.log(JSON.stringify(seqs));
} else if (command === "claim") {
  const [executionId, owner] = rest;
  const store = new KvEventStore({ path });
  await store.appendEvent(executionId!, { type: "STARTED", data: { owner } });
  const claim = await store.claim(executionId!, { owner: owner!, ttlMs: 60_000 });
  await store.close();
  console.log(JSON.stringify(claim));
} else if (command === "reserve") {
  const [consumer] = rest;
  const queue = new KvJobQueue({ path, pollIntervalMs: 50 });
  await queue.stats(); // the file is open: the parent may enqueue
  console.log("ready");
  const [lease] = await queue.reserve(consumer!, { blockMs: 20_000 });
  if (lease) await queue.complete(lease);
  await queue.close();
  console.log(JSON.stringify(lease ?? null));
} else if (command === "open") {
  try {
    (await openKv(path)).release();
    console.log("ok");
  } catch (error) {
    const cause = (error as Error).cause;
    console.log(`${(error as Error).message}\n${cause instanceof Error ? cause.message : ""}`);
  }
} else {
  throw new Error(`Unknown command "${command}"`);
}
