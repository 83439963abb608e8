// The monolithic node's backend, as a library: what its submit refuses.
import assert from "node:assert/strict";
import { LocalBackend } from "../../src/orchestrator/local_backend.ts";
import { testOrchestrator } from "./_helpers.ts";
import { InMemoryEventStore } from "../../src/events/in_memory_event_store.ts";
import type { AppendOptions, EventInput } from "../../src/events/event_store.ts";
import { InMemoryPersistenceAdapter } from "../../src/persistence/in_memory_persistence_adapter.ts";
import { StoreUnavailableError } from "../../src/persistence/store_errors.ts";

Deno.test("LocalBackend.submit refuses an idempotency key under a prefix of the runtime's own jobs, naming the key and the prefix, and starts nothing", async () => {
  await using orchestrator = testOrchestrator();
  const backend = new LocalBackend(orchestrator);
  const reserved: [key: string, prefix: string][] = [
    ["oao-continue:exec-1@3", "oao-continue:"],
    ["migrated:job-1", "migrated:"],
  ];
  for (const [key, prefix] of reserved) {
    await assert.rejects(
      backend.submit({ agent: "tester", task: { calls: [] }, idempotencyKey: key }),
      (error: unknown) =>
        error instanceof TypeError &&
        error.message ===
          `Cannot submit with idempotency key "${key}": the prefix "${prefix}" is reserved for the runtime's own jobs; use another key`,
    );
  }
  assert.deepEqual(await orchestrator.eventStore.listExecutions(), []);
});

/**
 * An in-memory event store down for the first execution that starts: every
 * append of its log fails, as while the store is unreachable.
 */
class DownForFirst extends InMemoryEventStore {
  #down: string | undefined;
  override appendEvent(executionId: string, event: EventInput, options?: AppendOptions) {
    if (event.type === "EXECUTION_STARTED") this.#down ??= executionId;
    if (executionId !== this.#down) return super.appendEvent(executionId, event, options);
    return Promise.reject(new StoreUnavailableError(`appendEvent("${executionId}")`));
  }
}

/** An in-memory snapshot store whose deletes fail as if the store were down. */
class NoDeletes extends InMemoryPersistenceAdapter {
  override delete(key: string): Promise<boolean> {
    return Promise.reject(new StoreUnavailableError(`delete("${key}")`));
  }
}

Deno.test("a keyed submit refused while the store was down, its key not given back, is taken over by the next submit of the key instead of answered as a duplicate of nothing", async () => {
  await using orchestrator = testOrchestrator({
    eventStore: new DownForFirst(),
    persistence: new NoDeletes(),
    retry: { attempts: 1 },
  });
  const backend = new LocalBackend(orchestrator);
  const request = { agent: "tester", task: { calls: [] }, idempotencyKey: "order-9" };
  await assert.rejects(backend.submit(request), StoreUnavailableError);
  const again = await backend.submit(request);
  assert.equal(again.duplicate, false, "the abandoned reservation is taken over");
  let view = await orchestrator.status(again.executionId);
  for (let i = 0; i < 200 && view.status === "RUNNING"; i++) {
    await new Promise((r) => setTimeout(r, 10));
    view = await orchestrator.status(again.executionId);
  }
  assert.equal(view.status, "SUCCESS");
  const third = await backend.submit(request);
  assert.deepEqual(third, { executionId: again.executionId, duplicate: true });
});

/**
 * An in-memory event store unreachable for `ms` from the first step of the
 * first execution: its appends and reads fail meanwhile.
 */
class DownAfterStart extends InMemoryEventStore {
  #ms: number;
  #until = 0;
  constructor(ms: number) {
    super();
    this.#ms = ms;
  }
  #down(executionId: string): Error | undefined {
    if (Date.now() >= this.#until) return undefined;
    return new StoreUnavailableError(`the log of "${executionId}"`);
  }
  override appendEvent(executionId: string, event: EventInput, options?: AppendOptions) {
    if (event.type === "STEP_COMPLETED" && this.#until === 0) this.#until = Date.now() + this.#ms;
    const down = this.#down(executionId);
    return down ? Promise.reject(down) : super.appendEvent(executionId, event, options);
  }
  override readRange(
    executionId: string,
    options?: Parameters<InMemoryEventStore["readRange"]>[1],
  ) {
    const down = this.#down(executionId);
    return down ? Promise.reject(down) : super.readRange(executionId, options);
  }
}

Deno.test("an execution that failed while the store was unreachable, its failure not stored, is taken back once the store answers, and ends SUCCESS", async () => {
  const store = new DownAfterStart(7_000);
  await using orchestrator = testOrchestrator({ eventStore: store, retry: { attempts: 1 } });
  const backend = new LocalBackend(orchestrator);
  const { executionId } = await backend.submit({
    agent: "tester",
    task: { calls: [{ tool: "effect", args: { n: 1 } }, { tool: "effect", args: { n: 2 } }] },
  });
  let view = await orchestrator.status(executionId).catch(() => undefined);
  const deadline = Date.now() + 30_000;
  while (view?.status !== "SUCCESS" && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    view = await orchestrator.status(executionId).catch(() => undefined);
  }
  assert.equal(view?.status, "SUCCESS", "taken back and completed");
  const types = (await store.readRange(executionId)).map((e) => e.type);
  assert.ok(types.includes("EXECUTION_RESUMED"), types.join(" "));
  assert.ok(!types.includes("EXECUTION_FAILED"), "its failure was never stored");
  await backend.close();
});
