// Shared set-up of the hostile agent suite: the attack agents (one module
// each, tests/fixtures/hostile/attack_*.ts) and a victim, run against a live
// Orchestrator in this process or against `oao start` as a real process
// over HTTP. Every attack runs while a normal "victim" execution is provably
// running (it holds on a file gate), so the suite can check that the victim
// is untouched and completes, and that a secret in the process environment
// never shows up in anything captured: events, reports, logs, HTTP answers,
// the process's output.
import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import type { StoredEvent } from "../../src/events/event_store.ts";
import { configureLogging, createLogFormatter, resetLogging } from "../../src/logging/mod.ts";
import type { ExecutionReport } from "../../src/orchestrator/execution_report.ts";
import {
  type AgentRegistration,
  Orchestrator,
  type RunOptions,
} from "../../src/orchestrator/orchestrator.ts";
import { echo, gate } from "../fixtures/hostile/gate_tools.ts";
import { oaoServer, type ServerProcess } from "../cli/_cli.ts";

/** The attack agents, by registered name (= module basename). */
export const ATTACKS = [
  "attack_post_null",
  "attack_malformed_message",
  "attack_forged_stop",
  "attack_forged_spawn",
  "attack_cross_execution_message",
  "attack_forged_tokens",
  "attack_forged_undeliverable",
  "attack_forged_dead_letter",
  "attack_huge_error",
  "attack_log_injection",
  "attack_runaway_loop",
  "attack_watchdog_evasion",
  "attack_deno_exit",
  "attack_self_close",
  "attack_env_exfiltration",
  "attack_prototype_keys",
  "attack_process_escape",
  "attack_console_forgery",
] as const;

/** A registered attack agent. */
export type Attack = typeof ATTACKS[number];

const HOSTILE = new URL("../fixtures/hostile/", import.meta.url);

/** Secrets of the process environment: they must never leave it. */
export const SECRETS = {
  OAO_TEST_SECRET: `oao-test-secret-${crypto.randomUUID()}`,
  OAO_API_TOKEN: `oao-api-token-${crypto.randomUUID()}`,
} as const;

/** Event types a well-behaved execution writes before it completes. */
const ORDINARY = new Set([
  "EXECUTION_STARTED",
  "ACTOR_STARTED",
  "STATE_ENTER",
  "STEP_COMPLETED",
  "TOOL_CALL",
  "TOOL_CALL_SUCCESS",
  "EXECUTION_PASSIVATED", // the victim waits on its gate long enough to give its worker back
  "EXECUTION_ACTIVATED",
  "EXECUTION_COMPLETED",
]);

/** The victim and every attack, as agent registrations. */
// The attacks post raw control messages, as the code of an actor with a
// worker of its own can: each attack agent gets one (`isolation:
// "execution"`), so the suite checks the host's guard per actor. An attack
// from a pooled worker reaches only that pool (tests/sandbox/pooled_hostile_test.ts).
export function hostileAgents(): AgentRegistration[] {
  return [
    { name: "victim", module: new URL("victim_agent.ts", HOSTILE), version: "1.0.0" },
    ...ATTACKS.map((name) => ({
      name,
      module: new URL(`${name}.ts`, HOSTILE),
      version: "1.0.0",
      isolation: "execution" as const,
    })),
  ];
}

/** Resolves `promise`, or rejects naming `what` after `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until it returns a value other than `undefined` (or `ms` pass). */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  ms: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + ms;
  while (true) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A file the `gate` tool waits for. */
export class Gate {
  readonly path: string;
  constructor(dir: string) {
    this.path = `${dir}/gate-${crypto.randomUUID()}`;
  }
  async open(): Promise<void> {
    await Deno.writeTextFile(this.path, "open");
  }
}

/** Runtime events of one type, their data typed loosely. */
export function ofType(events: StoredEvent[], type: string): Record<string, unknown>[] {
  return events.filter((e) => e.type === type).map((e) =>
    (e.data ?? {}) as Record<string, unknown>
  );
}

/** Asserts the events record that `actor` failed with a protocol violation. */
export function assertProtocolViolation(events: StoredEvent[], actor: string): void {
  const failures = ofType(events, "ACTOR_FAILED");
  const violation = failures.find((f) =>
    f.actor === actor && f.reason === "protocol_violation" &&
    (f.error as { code?: string } | undefined)?.code === "PROTOCOL_VIOLATION"
  );
  assert.ok(
    violation,
    `ACTOR_FAILED of "${actor}" with reason "protocol_violation" and code PROTOCOL_VIOLATION; got ${
      clip(JSON.stringify(failures.map((f) => ({ reason: f.reason, error: f.error }))))
    }`,
  );
}

/** Asserts the events record an ACCESS_DENIED of `actor` (for `op`, on `target`). */
export function assertAccessDenied(
  events: StoredEvent[],
  expected: { actor: string; op?: string; target?: string },
): void {
  const denials = ofType(events, "ACCESS_DENIED");
  const match = denials.find((d) =>
    d.actor === expected.actor && (expected.op === undefined || d.op === expected.op) &&
    (expected.target === undefined || d.target === expected.target) &&
    typeof d.reason === "string" && d.reason.length > 0
  );
  assert.ok(
    match,
    `an ACCESS_DENIED event ${JSON.stringify(expected)} with a reason; got ${
      clip(JSON.stringify(denials))
    } among ${events.map((e) => e.type).join(", ")}`,
  );
}

/**
 * Asserts that a victim execution succeeded and that its log holds only
 * what a normal execution writes: no failure, stop, restart, retry, refused
 * or undeliverable message before it completed, no actor but its own, and
 * nothing that names the attacker's execution.
 */
export function assertVictimUntouched(
  victim: { id: string; report: ExecutionReport; events: StoredEvent[] },
  attackerIds: string[],
): void {
  assert.equal(
    victim.report.status,
    "SUCCESS",
    `the victim failed: ${victim.report.error?.message}`,
  );
  const end = victim.events.findIndex((e) => e.type === "EXECUTION_COMPLETED");
  assert.ok(end >= 0, "the victim's log ends with EXECUTION_COMPLETED");
  // Passivation stops the victim's actor, next to EXECUTION_PASSIVATED:
  // that stop is ordinary; any other is not.
  const unusual = victim.events.slice(0, end + 1).filter((e, i, all) =>
    !ORDINARY.has(e.type) &&
    !(e.type === "ACTOR_STOPPED" &&
      (e.data as { reason?: unknown }).reason === "stopped by its supervisor" &&
      all.slice(Math.max(0, i - 3), i + 4).some((near) => near.type === "EXECUTION_PASSIVATED"))
  );
  assert.deepEqual(
    unusual.map((e) => `${e.type} ${clip(JSON.stringify(e.data), 300)}`),
    [],
    "the victim's log holds only a normal execution's events",
  );
  for (const event of victim.events) {
    const actor = (event.data as { actor?: unknown } | undefined)?.actor;
    if (typeof actor === "string") {
      assert.ok(
        actor.startsWith(`${victim.id}/`),
        `an actor of another execution in the victim's log: ${actor}`,
      );
    }
    const json = JSON.stringify(event);
    for (const id of attackerIds) {
      assert.ok(
        !json.includes(id),
        `the victim's log names the attacker ${id}: ${clip(json, 300)}`,
      );
    }
  }
  assert.deepEqual(
    (victim.report.output as { received?: unknown[] }).received,
    [],
    "the victim received no message from another execution",
  );
}

/** Asserts no secret of the process environment occurs in any captured text. */
export function assertNoSecrets(captured: Iterable<[string, string]>): void {
  let count = 0;
  for (const [what, text] of captured) {
    count++;
    for (const [name, secret] of Object.entries(SECRETS)) {
      assert.ok(!text.includes(secret), `${name} leaked into ${what}`);
    }
  }
  assert.ok(count > 0, "something was captured");
}

/** Asserts every running total recorded is a finite number >= 0. */
export function assertSaneTotals(events: StoredEvent[], report: ExecutionReport): void {
  const sane = (n: unknown) => typeof n === "number" && Number.isFinite(n) && n >= 0;
  for (const field of ["tokens", "toolCalls", "totalSteps"] as const) {
    assert.ok(sane(report[field]), `report.${field} is ${JSON.stringify(report[field])}`);
  }
  for (const event of events) {
    if (!event.totals) continue;
    for (const [field, value] of Object.entries(event.totals)) {
      assert.ok(sane(value), `${event.type} totals.${field} is ${JSON.stringify(value)}`);
    }
  }
}

/** Cuts long text for assertion messages. */
export function clip(text: string | undefined, max = 1000): string {
  if (text === undefined) return "undefined";
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more)`;
}

// ---- In this process: a live Orchestrator ---------------------------------

/** What one attack did, in this process. */
export interface AttackOutcome {
  id: string;
  path: string;
  report: ExecutionReport;
  events: StoredEvent[];
}

/** What `underAttack` returns. */
export interface Siege {
  victim: { id: string; path: string; report: ExecutionReport; events: StoredEvent[] };
  attacks: AttackOutcome[];
}

/** An orchestrator with the hostile agents, capturing its text log lines. */
export class HostileOrchestrator implements AsyncDisposable {
  readonly orchestrator: Orchestrator;
  /** Every log line written while it was open (text format, as `oao start` prints them). */
  readonly lines: string[] = [];
  readonly dir: string;
  readonly #captured: [string, string][] = [];
  readonly #saved = new Map<string, string | undefined>();

  private constructor(dir: string, sandbox: "thread" | "process") {
    this.dir = dir;
    this.orchestrator = new Orchestrator({
      sandbox,
      retry: { attempts: 2, initialDelayMs: 5, maxDelayMs: 20 },
      agents: hostileAgents(),
      tools: [gate as never, echo as never],
    });
  }

  /** Sets the secrets in the environment, captures logs, makes the orchestrator. */
  static async open(
    options: { sandbox?: "thread" | "process" } = {},
  ): Promise<HostileOrchestrator> {
    const dir = await Deno.makeTempDir({ prefix: "oao-hostile-" });
    const hostile = new HostileOrchestrator(dir, options.sandbox ?? "thread");
    for (const [name, value] of Object.entries(SECRETS)) {
      hostile.#saved.set(name, Deno.env.get(name));
      Deno.env.set(name, value);
    }
    const format = createLogFormatter("text");
    await configureLogging({
      level: "DEBUG",
      sink: (record: LogRecord) => void hostile.lines.push(...format(record).split("\n")),
    });
    return hostile;
  }

  /** Records a text to check for secrets at the end. */
  capture(what: string, text: string): void {
    this.#captured.push([what, text]);
  }

  /** Every text captured so far, the log lines included. */
  *captured(): Iterable<[string, string]> {
    yield* this.#captured;
    yield ["the log", this.lines.join("\n")];
  }

  /** Reads an execution's whole log (and captures it). */
  async events(id: string): Promise<StoredEvent[]> {
    const events = await this.orchestrator.eventStore.readRange(id);
    this.capture(`the events of ${id}`, JSON.stringify(events));
    return events;
  }

  /** Starts a victim and waits until its EXECUTE step holds on its gate. */
  async startVictim(): Promise<
    { id: string; path: string; gate: Gate; done: Promise<ExecutionReport> }
  > {
    const victimGate = new Gate(this.dir);
    const { executionId: id, done } = await this.orchestrator.start("victim", {
      gate: victimGate.path,
    });
    done.catch(() => {});
    await eventually(
      async () => {
        const events = await this.orchestrator.eventStore.readRange(id);
        return events.some((e) => e.type === "TOOL_CALL") ? true : undefined;
      },
      20_000,
      `victim ${id} reaching its gate`,
    );
    return { id, path: `${id}/victim`, gate: victimGate, done };
  }

  /**
   * Runs attacks while a victim execution is held running; each attack's
   * task gets the victim's id. Waits (at most `attackMs`) for every
   * attack to end, checks the victim was still running, then lets it
   * complete and returns what happened.
   */
  async underAttack(
    attacks: { agent: Attack; task?: Record<string, unknown>; policy?: RunOptions["policy"] }[],
    options: { attackMs?: number } = {},
  ): Promise<Siege> {
    const attackMs = options.attackMs ?? 30_000;
    const victim = await this.startVictim();
    const started = await Promise.all(
      attacks.map(({ agent, task, policy }) =>
        this.orchestrator.start(agent, { victim: victim.id, ...task }, policy ? { policy } : {})
      ),
    );
    for (const s of started) s.done.catch(() => {});
    const reports = await Promise.all(
      started.map((s, i) =>
        within(s.done, attackMs, `the execution ${s.executionId} of ${attacks[i]!.agent} ending`)
      ),
    );
    const during = await this.orchestrator.status(victim.id);
    assert.equal(during.status, "RUNNING", "the victim was running during the whole attack");
    await victim.gate.open();
    const victimReport = await within(victim.done, 20_000, "the victim completing");
    const outcomes: AttackOutcome[] = [];
    for (const [i, s] of started.entries()) {
      const report = reports[i]!;
      this.capture(`the report of ${attacks[i]!.agent}`, JSON.stringify(report));
      outcomes.push({
        id: s.executionId,
        path: `${s.executionId}/${attacks[i]!.agent}`,
        report,
        events: await this.events(s.executionId),
      });
    }
    this.capture("the victim's report", JSON.stringify(victimReport));
    const siege: Siege = {
      victim: { ...victim, report: victimReport, events: await this.events(victim.id) },
      attacks: outcomes,
    };
    assertVictimUntouched(siege.victim, outcomes.map((o) => o.id));
    return siege;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.orchestrator.close();
    } finally {
      await resetLogging();
      for (const [name, value] of this.#saved) {
        if (value === undefined) Deno.env.delete(name);
        else Deno.env.set(name, value);
      }
      await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    }
  }
}

// ---- Over HTTP: `oao start` as a real process -----------------------------

/** An HTTP answer, as text and parsed JSON. */
export interface Answer {
  status: number;
  text: string;
  // deno-lint-ignore no-explicit-any
  body: any;
}

/** `oao start` with the hostile agents and the secrets in its environment. */
export class HostileServer implements AsyncDisposable {
  readonly server: ServerProcess;
  readonly dir: string;
  readonly #captured: [string, string][] = [];
  #output: { stdout: string; stderr: string } | undefined;

  private constructor(server: ServerProcess, dir: string) {
    this.server = server;
    this.dir = dir;
  }

  /** Starts `oao start --config <the hostile agents>` on a free port. */
  static async start(): Promise<HostileServer> {
    const dir = await Deno.makeTempDir({ prefix: "oao-hostile-http-" });
    const config = `${dir}/oao.json`;
    await Deno.writeTextFile(
      config,
      JSON.stringify({
        agents: hostileAgents().map((a) => ({ ...a, module: String(a.module) })),
        tools: [new URL("gate_tools.ts", HOSTILE).href],
      }),
    );
    const server = await oaoServer(["start", "--port", "0", "--config", config], {
      env: { ...SECRETS, OAO_LOG_LEVEL: "DEBUG", OAO_LOG_FORMAT: "text" },
    });
    return new HostileServer(server, dir);
  }

  /** Sends a request with the API token; the answer is captured. */
  async call(
    method: string,
    path: string,
    body?: unknown,
    options: { timeoutMs?: number } = {},
  ): Promise<Answer> {
    const response = await fetch(`${this.server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${SECRETS.OAO_API_TOKEN}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? null : JSON.stringify(body),
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
    });
    const text = await response.text();
    this.#captured.push([`${method} ${path}`, text]);
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: response.status, text, body: parsed };
  }

  /** Submits an execution; returns its id. */
  async submit(agent: string, task: unknown, policy?: Record<string, unknown>): Promise<string> {
    const answer = await this.call("POST", "/executions", {
      agent,
      task,
      ...(policy ? { policy } : {}),
    });
    assert.equal(answer.status, 202, `POST /executions ${agent}: ${clip(answer.text)}`);
    return answer.body.executionId;
  }

  /** Every event of an execution, page by page. */
  async events(id: string): Promise<StoredEvent[]> {
    const events: StoredEvent[] = [];
    let after = 0;
    while (true) {
      const page = await this.call("GET", `/executions/${id}/events?after=${after}`);
      assert.equal(page.status, 200, `GET /executions/${id}/events: ${clip(page.text)}`);
      events.push(...page.body.events);
      if (page.body.events.length === 0 || page.body.nextAfter === after) return events;
      after = page.body.nextAfter;
    }
  }

  /**
   * Waits until the execution is no longer QUEUED or RUNNING; returns its
   * status answer. Every poll must be answered within `answerMs`: the
   * server stays responsive whatever the execution does.
   */
  async ended(id: string, ms: number, answerMs = 5_000): Promise<Answer> {
    return await eventually(
      async () => {
        const path = `/executions/${id}`;
        const answer = await this.call("GET", path, undefined, { timeoutMs: answerMs })
          .catch((error: Error) => {
            throw new Error(`The server did not answer GET ${path} within ${answerMs} ms`, {
              cause: error,
            });
          });
        assert.equal(answer.status, 200, clip(answer.text));
        return answer.body.status === "RUNNING" || answer.body.status === "QUEUED"
          ? undefined
          : answer;
      },
      ms,
      `execution ${id} ending`,
    );
  }

  /** Asserts the server answers a health check, quickly. */
  async assertAlive(): Promise<void> {
    const answer = await this.call("GET", "/healthz", undefined, { timeoutMs: 2_000 });
    assert.equal(answer.status, 200, `GET /healthz: ${clip(answer.text)}`);
  }

  /** Starts a victim and waits until it holds on its gate. */
  async startVictim(): Promise<{ id: string; path: string; gate: Gate }> {
    const victimGate = new Gate(this.dir);
    const id = await this.submit("victim", { gate: victimGate.path });
    await eventually(
      async () => {
        const events = await this.events(id);
        return events.some((e) => e.type === "TOOL_CALL") ? true : undefined;
      },
      20_000,
      `victim ${id} reaching its gate`,
    );
    return { id, path: `${id}/victim`, gate: victimGate };
  }

  /** Lets the victim complete and checks it is untouched; asserts the server is alive. */
  async finishVictim(
    victim: { id: string; gate: Gate },
    attackerIds: string[],
  ): Promise<void> {
    const during = await this.call("GET", `/executions/${victim.id}`);
    assert.equal(during.body.status, "RUNNING", "the victim was running during the whole attack");
    await victim.gate.open();
    const status = await this.ended(victim.id, 20_000);
    const events = await this.events(victim.id);
    assertVictimUntouched({
      id: victim.id,
      report: { ...status.body, ...(status.body.report ?? {}) } as ExecutionReport,
      events,
    }, attackerIds);
    await this.assertAlive();
  }

  /** Stops the server (SIGTERM) and returns its output; both are captured. */
  async stop(): Promise<{ code: number; stdout: string; stderr: string }> {
    const result = await this.server.stop("SIGTERM");
    this.#output = { stdout: result.stdout, stderr: result.stderr };
    return result;
  }

  /** Every text captured: HTTP answers and, once stopped, the process's output. */
  *captured(): Iterable<[string, string]> {
    yield* this.#captured;
    if (this.#output) {
      yield ["the server's stdout", this.#output.stdout];
      yield ["the server's stderr", this.#output.stderr];
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.server.stop("SIGKILL").catch(() => {});
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
