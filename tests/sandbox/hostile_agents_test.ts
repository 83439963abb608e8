// The hostile agent suite: agents that attack the host through the worker
// protocol, their capabilities, the accounting, the size of what they send,
// the log format, the CPU and their own worker. Each attack runs while a
// normal "victim" execution of the same host is running; every attack must
// be refused or contained, the victim must complete untouched, and secrets
// of the process environment must appear in nothing captured. The same
// attacks (a subset) run against `oao start` as a real process over HTTP.
import assert from "node:assert/strict";
import type { StoredEvent } from "../../src/events/event_store.ts";
import { DEFAULT_LIMITS } from "../../src/limits.ts";
import { MALFORMED, UNPRINTABLE } from "../fixtures/hostile/attack_malformed_message.ts";
import { FORGED_TOKENS } from "../fixtures/hostile/attack_forged_tokens.ts";
import { forgedLine, VECTORS } from "../fixtures/hostile/attack_log_injection.ts";
import { CONSOLE_VECTORS, REFUSED_VECTORS } from "../fixtures/hostile/attack_console_forgery.ts";
import {
  assertAccessDenied,
  assertNoSecrets,
  assertProtocolViolation,
  assertSaneTotals,
  clip,
  HostileOrchestrator,
  HostileServer,
  ofType,
  SECRETS,
} from "./_hostile_harness.ts";

const MB = 1024 * 1024;
// Bounded waits for attacks that fail on every step: restarts and retries included.
const FAILS_WITHIN_MS = 30_000;
// A 50 MB error crosses from the worker on each of the step's attempts and is
// bounded each time: 22–35 s on this 2-core machine, so it gets its own bound.
const HUGE_ERROR_FAILS_WITHIN_MS = 90_000;
// Attacks that break the protocol never answer their step: should the host
// not react, the step times out instead (and the violation is missing).
const HANGS = { stepTimeoutMs: 5_000 };

/** The events (as JSON) that carry the attacker's `marker`, whatever their type. */
function carrying(events: StoredEvent[], marker: string): string[] {
  return events.map((e) => JSON.stringify(e)).filter((json) => json.includes(marker));
}

// ---- Malformed control messages --------------------------------------------

Deno.test("a worker posting null fails only its own actor with a protocol violation; the host and a concurrent execution carry on", async () => {
  await using h = await HostileOrchestrator.open();
  const { attacks: [attack] } = await h.underAttack([
    { agent: "attack_post_null", policy: HANGS },
  ], { attackMs: FAILS_WITHIN_MS });
  assert.equal(attack!.report.status, "FAILED");
  assertProtocolViolation(attack!.events, attack!.path);
  assertNoSecrets(h.captured());
});

Deno.test("every malformed control message fails only the actor that posted it, with a protocol violation", async (t) => {
  await malformed(t, Object.keys(MALFORMED));
});

async function malformed(t: Deno.TestContext, variants: string[]): Promise<void> {
  await using h = await HostileOrchestrator.open();
  const { attacks } = await h.underAttack(
    variants.map((variant) => ({
      agent: "attack_malformed_message" as const,
      task: { variant },
      policy: HANGS,
    })),
    { attackMs: FAILS_WITHIN_MS },
  );
  for (const [i, variant] of variants.entries()) {
    const attack = attacks[i]!;
    await t.step(`${variant}: ACTOR_FAILED protocol_violation, execution FAILED`, () => {
      assert.equal(attack.report.status, "FAILED", clip(JSON.stringify(attack.report.error)));
      assertProtocolViolation(attack.events, attack.path);
    });
  }
  assertNoSecrets(h.captured());
}

// ---- Capabilities ----------------------------------------------------------

Deno.test("a forged stop request for another execution's agent is refused with ACCESS_DENIED and the victim completes untouched", async (t) => {
  await using h = await HostileOrchestrator.open();
  const { victim, attacks: [raw, context] } = await h.underAttack([
    { agent: "attack_forged_stop", task: { variant: "raw" } },
    { agent: "attack_forged_stop", task: { variant: "context" } },
  ]);
  await t.step(
    "a raw request with a forged id: ACCESS_DENIED recorded in the attacker's log",
    () => {
      assertAccessDenied(raw!.events, { actor: raw!.path, op: "stop", target: victim.path });
    },
  );
  await t.step("ctx.stop: the request fails with code ACCESS_DENIED", () => {
    assert.deepEqual(context!.report.output, { stop: "ACCESS_DENIED" });
    assertAccessDenied(context!.events, { actor: context!.path, op: "stop", target: victim.path });
  });
  assertNoSecrets(h.captured());
});

Deno.test("spawning a child into another execution (its snapshot key or its execution id) is refused with ACCESS_DENIED", async (t) => {
  await using h = await HostileOrchestrator.open();
  const { victim, attacks } = await h.underAttack([
    { agent: "attack_forged_spawn", task: { variant: "snapshotKey" } },
    { agent: "attack_forged_spawn", task: { variant: "executionId" } },
  ]);
  for (const [i, variant] of ["snapshotKey", "executionId"].entries()) {
    const attack = attacks[i]!;
    await t.step(`options.${variant} of the victim: refused`, () => {
      assert.deepEqual(attack.report.output, { spawn: "ACCESS_DENIED" });
      assertAccessDenied(attack.events, { actor: attack.path, op: "spawn" });
    });
  }
  await t.step(
    "nothing was written under the victim's snapshot key, and its state is its own",
    async () => {
      assert.equal(await h.orchestrator.persistence.load(`${victim.id}/state`), undefined);
      const events = await h.orchestrator.eventStore.readRange(victim.id);
      const last = events.filter((e) => e.type === "STEP_COMPLETED").at(-1);
      assert.equal(last?.data?.state, "TERMINATE");
      assert.deepEqual(last?.data?.agentState, { gated: true });
    },
  );
  assertNoSecrets(h.captured());
});

Deno.test("asking, telling or linking to another execution's agent is refused with ACCESS_DENIED and never reaches it", async () => {
  await using h = await HostileOrchestrator.open();
  const { victim, attacks: [attack] } = await h.underAttack([
    { agent: "attack_cross_execution_message" },
  ]);
  assert.equal((attack!.report.output as { ask?: string }).ask, "ACCESS_DENIED");
  assertAccessDenied(attack!.events, { actor: attack!.path, target: victim.path });
  // assertVictimUntouched (in underAttack) checked that the victim received nothing.
  assertNoSecrets(h.captured());
});

// ---- Accounting ------------------------------------------------------------

Deno.test("tool calls declaring negative, non-numeric or non-finite tokens are refused and the totals stay finite and >= 0", async () => {
  await using h = await HostileOrchestrator.open();
  const { attacks: [attack] } = await h.underAttack([
    { agent: "attack_forged_tokens", task: { variant: "tool-call" } },
  ]);
  const outcomes = attack!.report.output as Record<string, string>;
  assert.deepEqual(Object.keys(outcomes ?? {}).sort(), Object.keys(FORGED_TOKENS).sort());
  for (const [name, outcome] of Object.entries(outcomes)) {
    assert.notEqual(outcome, "resolved", `the tool call with ${name} tokens was accepted`);
  }
  assert.deepEqual(ofType(attack!.events, "TOOL_CALL"), [], "no forged call reached a tool");
  assertSaneTotals(attack!.events, attack!.report);
  assertNoSecrets(h.captured());
});

Deno.test("step answers declaring negative, non-numeric or non-finite tokens leave the totals finite and >= 0", async (t) => {
  await using h = await HostileOrchestrator.open();
  // As text in the task (a task is JSON); the agent turns the numeric ones into numbers.
  const forged = [
    { tokens: "-1000000", as: "number" },
    { tokens: "abc", as: "string" },
    { tokens: "Infinity", as: "number" },
    { tokens: "NaN", as: "number" },
  ];
  const { attacks } = await h.underAttack(
    forged.map((task) => ({
      agent: "attack_forged_tokens" as const,
      task: { variant: "step-result", ...task },
    })),
  );
  for (const [i, { tokens, as }] of forged.entries()) {
    await t.step(`tokens: the ${as} ${tokens}`, () => {
      assertSaneTotals(attacks[i]!.events, attacks[i]!.report);
    });
  }
  assertNoSecrets(h.captured());
});

Deno.test("a forged undeliverable report is a protocol violation and writes no MESSAGE_UNDELIVERABLE event", async () => {
  await using h = await HostileOrchestrator.open();
  const { victim, attacks: [attack] } = await h.underAttack([
    { agent: "attack_forged_undeliverable", policy: HANGS },
  ], { attackMs: FAILS_WITHIN_MS });
  assertProtocolViolation(attack!.events, attack!.path);
  assert.equal(attack!.report.status, "FAILED");
  for (const events of [attack!.events, victim.events]) {
    assert.deepEqual(carrying(events, "FORGED-UNDELIVERABLE"), []);
  }
  assertNoSecrets(h.captured());
});

Deno.test("a forged dead letter for a link the actor does not have is a protocol violation and writes no MESSAGE_DEAD_LETTERED event", async (t) => {
  await using h = await HostileOrchestrator.open();
  const variants = ["mismatched", "unknown-link"];
  const { victim, attacks } = await h.underAttack(
    variants.map((variant) => ({
      agent: "attack_forged_dead_letter" as const,
      task: { variant },
      policy: HANGS,
    })),
    { attackMs: FAILS_WITHIN_MS },
  );
  for (const [i, variant] of variants.entries()) {
    const attack = attacks[i]!;
    await t.step(`${variant} link key: no forged event, no forged dead letter`, () => {
      // The step message itself may be dead-lettered: it failed the actor on every delivery.
      for (const events of [attack.events, victim.events]) {
        assert.deepEqual(carrying(events, "FORGED-DEAD-LETTER"), []);
      }
      const forged = h.orchestrator.system.deadLetters.filter((d) =>
        JSON.stringify(d).includes("FORGED-DEAD-LETTER")
      );
      assert.deepEqual(forged, []);
    });
    await t.step(`${variant} link key: protocol violation`, () => {
      assertProtocolViolation(attack.events, attack.path);
      assert.equal(attack.report.status, "FAILED");
    });
  }
  assertNoSecrets(h.captured());
});

// ---- Bounded values --------------------------------------------------------

Deno.test("an agent failing with a 50 MB error message fails its execution with a bounded error; status, report, events and log lines stay small", async (t) => {
  await using h = await HostileOrchestrator.open();
  const variants = ["answered", "thrown"];
  const { attacks } = await h.underAttack(
    variants.map((variant) => ({ agent: "attack_huge_error" as const, task: { variant } })),
    { attackMs: HUGE_ERROR_FAILS_WITHIN_MS },
  );
  for (const [i, variant] of variants.entries()) {
    const attack = attacks[i]!;
    await t.step(`${variant}: FAILED, everything under 1 MB`, async () => {
      assert.equal(attack.report.status, "FAILED");
      assert.ok(JSON.stringify(attack.report).length < MB, "the report is under 1 MB");
      const status = await h.orchestrator.status(attack.id);
      assert.ok(JSON.stringify(status).length < MB, "the status view is under 1 MB");
      for (const event of attack.events) {
        const size = new TextEncoder().encode(JSON.stringify(event.data ?? null)).length;
        assert.ok(size <= DEFAULT_LIMITS.maxEventBytes, `${event.type} data is ${size} bytes`);
      }
    });
  }
  const longest = Math.max(...h.lines.map((l) => l.length));
  assert.ok(longest < MB, `a log line of ${longest} characters`);
  assert.ok(h.lines.some((l) => l.includes("HUGE-ERROR")), "the failure was logged");
  assertNoSecrets(h.captured());
});

Deno.test("line breaks in an agent's log message, property keys or values never forge a log line in text format", async (t) => {
  await using h = await HostileOrchestrator.open();
  const marker = `FORGED-${crypto.randomUUID().slice(0, 8)}`;
  await h.underAttack([{ agent: "attack_log_injection", task: { marker } }]);
  const lines = h.lines.join("\n").split(/\r\n|\r|\n/);
  assert.ok(
    lines.filter((l) => l.includes("LOG-INJECTION-ATTEMPT")).length >= VECTORS.length,
    "the agent's records were logged",
  );
  for (const vector of VECTORS) {
    await t.step(vector, () => {
      const forged = forgedLine(`${marker}-${vector}`);
      const at = lines.find((l) =>
        l.startsWith(forged.slice(0, 40)) && l.includes(`${marker}-${vector}`)
      );
      assert.equal(at, undefined, "a line that starts as the forged one");
    });
  }
  assertNoSecrets(h.captured());
});

// ---- Runaway code and worker exits -----------------------------------------

// Runaway code runs in sandbox processes here: in a thread, Deno could not
// stop it, and it would keep a core busy for the rest of the test run.
Deno.test("a busy loop in a step ends its execution FAILED at the policy's stepTimeoutMs", async () => {
  await using h = await HostileOrchestrator.open({ sandbox: "process" });
  const { attacks: [attack] } = await h.underAttack([
    { agent: "attack_runaway_loop", policy: { stepTimeoutMs: 1500 } },
  ], { attackMs: 20_000 });
  assert.equal(attack!.report.status, "FAILED");
  assertNoSecrets(h.captured());
});

Deno.test("a busy loop that fakes its busy flag and heartbeat still ends FAILED at stepTimeoutMs", async () => {
  await using h = await HostileOrchestrator.open({ sandbox: "process" });
  const { attacks: [attack] } = await h.underAttack([
    { agent: "attack_watchdog_evasion", policy: { stepTimeoutMs: 1500 } },
  ], { attackMs: 20_000 });
  assert.equal(attack!.report.status, "FAILED");
  assertNoSecrets(h.captured());
});

for (
  const [agent, how] of [["attack_deno_exit", "Deno.exit(3)"], [
    "attack_self_close",
    "self.close()",
  ]] as const
) {
  Deno.test(`${how} in a step fails the actor with reason "worker_exited" and ends the execution FAILED`, async () => {
    await using h = await HostileOrchestrator.open();
    const { attacks: [attack] } = await h.underAttack([{ agent }], { attackMs: FAILS_WITHIN_MS });
    assert.equal(attack!.report.status, "FAILED");
    const exits = ofType(attack!.events, "ACTOR_FAILED").filter((f) =>
      f.actor === attack!.path && f.reason === "worker_exited"
    );
    assert.ok(
      exits.length > 0,
      `ACTOR_FAILED worker_exited; got ${
        clip(JSON.stringify(ofType(attack!.events, "ACTOR_FAILED")))
      }`,
    );
    assertNoSecrets(h.captured());
  });
}

// ---- Secrets and prototypes ------------------------------------------------

Deno.test("an agent cannot read the host's environment: every attempt is refused and the secrets appear nowhere", async () => {
  await using h = await HostileOrchestrator.open();
  const { attacks: [attack] } = await h.underAttack([
    { agent: "attack_env_exfiltration", task: { names: Object.keys(SECRETS) } },
  ]);
  assert.equal(attack!.report.status, "SUCCESS", clip(JSON.stringify(attack!.report.error)));
  const attempts = attack!.report.output as Record<string, { got?: string; refused?: string }>;
  assert.ok(Object.keys(attempts).length >= 5);
  for (const [what, result] of Object.entries(attempts)) {
    assert.equal(result.got, undefined, `${what} got something`);
    assert.equal(result.refused, "NotCapable", what);
  }
  assertNoSecrets(h.captured());
});

for (const sandbox of ["thread", "process"] as const) {
  Deno.test(`an agent cannot signal its own process, its parent or its group, hold off SIGTERM, store what needs no permission, read stdin or learn the host's binary and memory (${sandbox})`, async () => {
    await using h = await HostileOrchestrator.open({ sandbox });
    const { attacks: [attack] } = await h.underAttack([{ agent: "attack_process_escape" }]);
    assert.equal(attack!.report.status, "SUCCESS", clip(JSON.stringify(attack!.report.error)));
    const attempts = attack!.report.output as Record<string, { got?: string; refused?: string }>;
    assert.equal(Object.keys(attempts).length, 24);
    for (const [what, result] of Object.entries(attempts)) {
      if (what === "Deno.stdin.read") assert.equal(result.got, '"end of input"', what);
      else if (what === "process.execPath and argv") {
        const named = JSON.parse(result.got ?? "null") as string[];
        assert.equal(named[0], "deno", what);
        for (const arg of named) assert.ok(!arg.includes(Deno.execPath()), `${what}: ${arg}`);
      } else if (what === "Deno.execPath") assert.equal(result.got, '"deno"', what);
      else if (what === "caches.open") {
        assert.deepEqual(result, { refused: "TypeError" }, "absent");
      } else if (what === "Deno.openKv()" && sandbox === "process") {
        assert.deepEqual(result, { refused: "TypeError" }, "absent: no --unstable-kv");
      } else assert.deepEqual(result, { refused: "NotCapable" }, what);
    }
  });
}

Deno.test("prototype keys in log properties, tool arguments, service payloads and agent state never reach Object.prototype", async () => {
  await using h = await HostileOrchestrator.open();
  const { attacks: [attack] } = await h.underAttack([{ agent: "attack_prototype_keys" }]);
  assert.notEqual(attack!.report.status, "RUNNING");
  assert.ok(h.lines.some((l) => l.includes("PROTOTYPE-KEYS")), "the records were logged");
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.ok(!Object.hasOwn(Object.prototype, "polluted"));
  assert.ok(!Object.hasOwn(Array.prototype, "polluted"));
  assertNoSecrets(h.captured());
});

// ---- Over HTTP: `oao start` as a real process -------------------------------

async function httpSiege(
  attack: string,
  task: Record<string, unknown>,
  check: (
    server: HostileServer,
    attackerId: string,
    victim: { id: string; path: string },
  ) => Promise<void>,
  options: { policy?: Record<string, unknown>; during?: (server: HostileServer) => Promise<void> } =
    {},
): Promise<void> {
  await using server = await HostileServer.start();
  const victim = await server.startVictim();
  const attackerId = await server.submit(attack, { victim: victim.id, ...task }, options.policy);
  await options.during?.(server);
  await server.ended(attackerId, FAILS_WITHIN_MS);
  await server.finishVictim(victim, [attackerId]);
  await check(server, attackerId, victim);
  const { code, stderr } = await server.stop();
  assert.equal(code, 0, `the server exits cleanly after SIGTERM: ${clip(stderr.slice(-2000))}`);
  assertNoSecrets(server.captured());
}

Deno.test("`oao start`: a worker posting null fails its execution with a protocol violation; the server keeps serving", async () => {
  await httpSiege("attack_post_null", {}, async (server, id) => {
    const status = await server.call("GET", `/executions/${id}`);
    assert.equal(status.body.status, "FAILED");
    assertProtocolViolation(await server.events(id), `${id}/attack_post_null`);
  });
});

Deno.test("`oao start`: a forged stop of another execution's agent is refused with ACCESS_DENIED; the victim completes", async () => {
  await httpSiege("attack_forged_stop", { variant: "raw" }, async (server, id, victim) => {
    assertAccessDenied(await server.events(id), {
      actor: `${id}/attack_forged_stop`,
      op: "stop",
      target: victim.path,
    });
  });
});

Deno.test("`oao start`: a 50 MB error message fails the execution; its status stays under 1 MB and its events answer 200", async () => {
  await httpSiege("attack_huge_error", { variant: "answered" }, async (server, id) => {
    const status = await server.call("GET", `/executions/${id}`);
    assert.equal(status.status, 200);
    assert.equal(status.body.status, "FAILED");
    assert.ok(status.text.length < MB, `GET /executions/:id is ${status.text.length} characters`);
    const events = await server.call("GET", `/executions/${id}/events`);
    assert.equal(events.status, 200, clip(events.text));
  });
});

Deno.test("`oao start`: a busy loop ends FAILED at stepTimeoutMs while the server keeps answering", async () => {
  await httpSiege("attack_runaway_loop", {}, async (server, id) => {
    const status = await server.call("GET", `/executions/${id}`);
    assert.equal(status.body.status, "FAILED");
  }, {
    policy: { stepTimeoutMs: 1500 },
    during: async (server) => {
      // While the loop spins, the API answers health checks within 2 s each.
      for (let i = 0; i < 5; i++) {
        await server.assertAlive();
        await new Promise((r) => setTimeout(r, 200));
      }
    },
  });
});

Deno.test("`oao start`: an agent cannot read OAO_API_TOKEN or another secret from the process environment", async () => {
  await httpSiege(
    "attack_env_exfiltration",
    { names: Object.keys(SECRETS) },
    async (server, id) => {
      const status = await server.call("GET", `/executions/${id}`);
      assert.equal(status.body.status, "SUCCESS", clip(status.text));
      for (const [what, result] of Object.entries(status.body.report.output)) {
        assert.equal((result as { refused?: string }).refused, "NotCapable", what);
      }
    },
  );
});

Deno.test("`oao start`: line breaks in an agent's log records never forge a line of the text log on stderr", async () => {
  const marker = `FORGED-${crypto.randomUUID().slice(0, 8)}`;
  await using server = await HostileServer.start();
  const victim = await server.startVictim();
  const id = await server.submit("attack_log_injection", { victim: victim.id, marker });
  await server.ended(id, FAILS_WITHIN_MS);
  await server.finishVictim(victim, [id]);
  const { stderr } = await server.stop();
  const lines = stderr.split(/\r\n|\r|\n/);
  assert.ok(lines.some((l) => l.includes("LOG-INJECTION-ATTEMPT")), "the records were logged");
  for (const vector of VECTORS) {
    const forged = forgedLine(`${marker}-${vector}`);
    assert.equal(
      lines.find((l) => l.startsWith(forged.slice(0, 40)) && l.includes(`${marker}-${vector}`)),
      undefined,
      `${vector}: a line of stderr starts as the forged one`,
    );
  }
  assertNoSecrets(server.captured());
});

Deno.test("`oao start`: what an agent writes to stdout and stderr past its logger never forges a line, and a flood is cut", async () => {
  const marker = `FORGED-${crypto.randomUUID().slice(0, 8)}`;
  await using server = await HostileServer.start();
  const id = await server.submit("attack_console_forgery", { marker });
  await server.ended(id, FAILS_WITHIN_MS);
  const { stderr } = await server.stop();
  const lines = stderr.split(/\r\n|\r|\n/);
  assert.ok(lines.some((l) => l.startsWith("[agent] ")), "the agent's lines are written");
  for (const vector of CONSOLE_VECTORS) {
    const forged = forgedLine(`${marker}-${vector}`);
    assert.equal(
      lines.find((l) => !l.startsWith("[agent] ") && l.includes(`${marker}-${vector}`)),
      undefined,
      `${vector}: a line of stderr carries the forged text without the agent's prefix`,
    );
    if (vector === "console-log") continue; // stdout: a sandbox process's is discarded
    assert.ok(lines.some((l) => l.includes(forged)), `${vector}: written, prefixed`);
  }
  for (const vector of REFUSED_VECTORS) {
    assert.equal(
      lines.find((l) => l.includes(`${marker}-${vector}`)),
      undefined,
      `${vector}: written past the agent's console`,
    );
  }
  assert.ok(
    lines.some((l) => l === "[agent] refused: NotCapable,NotCapable,NotCapable"),
    "each raw write refused",
  );
  assert.ok(!stderr.includes("\x1b[2K"), "the ANSI escape is escaped");
  assert.ok(stderr.length < 4 * MB, `20 MB written, ${stderr.length} bytes on stderr`);
  assert.ok(stderr.includes("output dropped"), "the cut is said");
});

// A host that throws while checking these dies, and takes the rest of this file with it: the
// test in this process comes last.

Deno.test("`oao start`: a message kind that String() cannot convert fails the execution; the server keeps serving", async () => {
  await httpSiege(
    "attack_malformed_message",
    { variant: "a message kind that cannot be turned into text" },
    async (server, id) => {
      const status = await server.call("GET", `/executions/${id}`);
      assert.equal(status.body.status, "FAILED");
      assertProtocolViolation(await server.events(id), `${id}/attack_malformed_message`);
    },
    { policy: { stepTimeoutMs: 5_000 } },
  );
});

Deno.test("a malformed field that String() cannot convert is a protocol violation, not an exception in the host", async (t) => {
  await malformed(t, Object.keys(UNPRINTABLE));
});
