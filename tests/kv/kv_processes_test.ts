import assert from "node:assert/strict";
import { KvEventStore } from "../../src/kv/kv_event_store.ts";
import { KvJobQueue } from "../../src/kv/kv_job_queue.ts";
import { tempKv } from "./_kv_harness.ts";

const CHILD = new URL("./_kv_child.ts", import.meta.url).pathname;

function child(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-kv", "--no-check", CHILD, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

async function output(process: Deno.ChildProcess): Promise<string> {
  const { code, stdout } = await process.output();
  assert.equal(code, 0, "the child process failed");
  return new TextDecoder().decode(stdout).trim();
}

Deno.test("KvEventStore: two processes appending to one execution on one file get distinct, gap-free seqs", async () => {
  const temp = await tempKv();
  try {
    const a = child(["append", temp.path, "exec-shared", "150", "A"]);
    const b = child(["append", temp.path, "exec-shared", "150", "B"]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await Deno.writeTextFile(`${temp.path}.go`, "");
    const [seqsA, seqsB] = (await Promise.all([output(a), output(b)])).map((out) =>
      JSON.parse(out) as number[]
    );
    const all = [...seqsA!, ...seqsB!].sort((x, y) => x - y);
    assert.deepEqual(all, Array.from({ length: 300 }, (_, i) => i + 1));
    const store = new KvEventStore({ path: temp.path });
    try {
      const log = await store.readRange("exec-shared");
      assert.deepEqual(log.map((e) => e.seq), all);
      for (const [tag, seqs] of [["A", seqsA!], ["B", seqsB!]] as const) {
        const mine = log.filter((e) => (e.data as { tag: string }).tag === tag);
        assert.deepEqual(mine.map((e) => e.seq), seqs, `process ${tag}'s events at its seqs`);
        assert.deepEqual(mine.map((e) => (e.data as { i: number }).i), seqs.map((_, i) => i));
      }
    } finally {
      await store.close();
    }
  } finally {
    await temp.remove();
  }
});

Deno.test("KvEventStore: a second process sees the first one's events and claim, and is refused naming the holder", async () => {
  const temp = await tempKv();
  try {
    const claim = JSON.parse(await output(child(["claim", temp.path, "exec-1", "process A"])));
    assert.equal(claim.acquired, true);
    const store = new KvEventStore({ path: temp.path });
    try {
      const [event] = await store.readRange("exec-1");
      assert.equal(event?.type, "STARTED");
      assert.deepEqual(await store.listExecutions(), ["exec-1"]);
      const refused = await store.claim("exec-1", { owner: "process B", ttlMs: 60_000 });
      assert.equal(refused.acquired, false);
      if (!refused.acquired) {
        assert.equal(refused.holder, "process A");
        assert.ok(refused.expiresInMs > 50_000, `${refused.expiresInMs}`);
      }
      await assert.rejects(
        store.appendEvent("exec-1", { type: "ZOMBIE" }, { fencingToken: claim.token - 1 }),
        /fencing token/,
      );
    } finally {
      await store.close();
    }
  } finally {
    await temp.remove();
  }
});

Deno.test("KvJobQueue: a worker process takes the job another process enqueued", async () => {
  const temp = await tempKv();
  const worker = child(["reserve", temp.path, "worker-1"]);
  const queue = new KvJobQueue({ path: temp.path });
  try {
    const reader = worker.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("ready\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the worker exited early");
      text += value;
    }
    const { jobId } = await queue.enqueue({ executionId: "exec-1", agent: "echo", task: 1 });
    while (!/\n\{.*\}\n/s.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    const lease = JSON.parse(text.slice(text.indexOf("{")));
    assert.equal(lease.jobId, jobId);
    assert.equal(lease.consumer, "worker-1");
    assert.equal((await worker.status).code, 0);
    assert.deepEqual(await queue.stats(), { waiting: 0, delayed: 0, inFlight: 0, dead: 0 });
  } finally {
    try {
      worker.kill();
    } catch { /* exited */ }
    await worker.status;
    await queue.close();
    await temp.remove();
  }
});
