// The tool gate of an execution: every tool call an agent makes passes
// here. It is checked against the agent's tools and the policy (a tool that
// needs a person's approval waits for it: _approval_gate.ts), written
// ahead to the log, answered from the ledger (or, after a resume, the log)
// when it was made before, joined when a previous run of the step started it
// and it still runs, and otherwise run under its timeout and the execution's
// abort signal. Internal: each ExecutionRun has one.
import type { TimerId } from "../clock.ts";
import { type ErrorInfo, FencedError, fromErrorInfo, OaoError } from "../errors.ts";
import type { Totals } from "../events/event_store.ts";
import type { OaoEvent } from "../observability/events.ts";
import type { Span } from "../tracing/tracer.ts";
import type { ToolCallRequest } from "./agent.ts";
import { canonicalJson } from "./canonical_json.ts";
import type { StrictPolicy, Violation } from "./policy.ts";
import { callHash, callKey, type ToolDefinition } from "./tool.ts";
import type { Outcome, ToolLedger } from "./_tool_ledger.ts";
import type { HostWaits } from "./_host_waits.ts";
import type { ResolvedAgent, RunHost } from "./_run_host.ts";
import { assertJsonWithin } from "./_boundary.ts";
import type { PendingDecision } from "./execution_report.ts";
import { decidedFailure, decisionRequiredError, findDecision } from "./_decisions.ts";
import { awaitApproval } from "./_approval_gate.ts";
import { ApprovalDeniedError, ApprovalTimeoutError } from "./approvals.ts";

/** What the gate needs from its execution's run. */
export interface GateRun {
  readonly executionId: string;
  readonly host: RunHost;
  readonly agent: ResolvedAgent;
  readonly policy: StrictPolicy;
  readonly ledger: ToolLedger;
  /** Where a call's run is noted as a wait on the host (passivation). */
  readonly waits: HostWaits;
  /** The run's totals: the gate adds tokens and tool calls. */
  readonly totals: Totals;
  /** The step running now. */
  readonly step: number;
  readonly stepSpan: Span | undefined;
  /** Aborts what runs when the execution must stop (cancel, deadline, violation). */
  readonly signal: AbortSignal;
  /** The step runs again after an activation: its calls so far are answered, not counted. */
  replaying: boolean;
  elapsed(): number;
  throwIfFatal(): void;
  /** Ends the execution with `error`, unless it is ending already. */
  fail(error: Error): void;
  /** Stops the execution until an operator decides on a call (status NEEDS_DECISION). */
  park(pending: PendingDecision, error: Error): void;
  violation(violation: Violation): Promise<never>;
  record(
    type: string,
    data: Record<string, unknown>,
    extra?: { step?: number; key?: string },
  ): Promise<OaoEvent>;
  /**
   * Records without waiting: the next {@linkcode GateRun.record}, which
   * comes before any effect, or the step's end waits for it.
   */
  recordAhead(
    type: string,
    data: Record<string, unknown>,
    extra?: { step?: number; key?: string },
  ): OaoEvent;
  errorInfo(error: unknown): ErrorInfo;
}

export class ToolGate {
  readonly #run: GateRun;

  constructor(run: GateRun) {
    this.#run = run;
  }

  /**
   * Handles a tool call from the agent: governed, audited, idempotent.
   *
   * @param request The agent's call.
   * @returns The tool's result, from its run, the ledger or the log.
   * @throws {PolicyViolationError | ToolOutcomeUnknownError | TypeError} As the run decides.
   */
  async call(request: ToolCallRequest): Promise<unknown> {
    const run = this.#run;
    // A step run again after an activation reports again the tokens it
    // reported before its calls answered from the ledger: counted once.
    const replaying = run.replaying;
    if (!replaying) run.totals.tokens += request.tokens;
    run.throwIfFatal();
    const step = run.step;
    if (request.step !== step) {
      throw new OaoError(
        "STALE_STEP",
        `Tool call from step ${request.step} refused: the execution is at step ${step}`,
      );
    }
    const { name } = request;
    const tool = run.host.tool(name);
    const allowed = run.agent.tools;
    if (!tool || (allowed && !allowed.includes(name))) {
      const names = allowed ?? run.host.toolNames();
      throw new TypeError(
        `Agent "${run.agent.name}" cannot call tool "${name}": ${
          tool ? "not allowed for this agent" : "no such tool"
        } (available: ${names.map((n) => `"${n}"`).join(", ") || "none"})`,
      );
    }
    const hash = await callHash(name, request.args);
    // Checked again: the step may have ended while the hash was computed.
    if (request.step !== run.step) {
      throw new OaoError(
        "STALE_STEP",
        `Tool call from step ${request.step} refused: the execution is at step ${run.step}`,
      );
    }
    run.ledger.enterRun(String(request.run));
    const occurrence = run.ledger.nextOccurrence(hash);
    const key = callKey(hash, occurrence);
    if (replaying) {
      const answered = run.ledger.outcome(key) ?? run.ledger.running(key);
      if (!answered) {
        run.replaying = false;
        run.totals.tokens += request.tokens;
      }
    }
    // Still running (a run of the step before a restart or a passivation
    // started it): joined, never started twice.
    const running = run.ledger.running(key);
    if (running) {
      const joined = await running;
      if (joined.ok) return joined.result;
      throw fromErrorInfo(joined.error ?? { name: "Error", message: `Tool "${name}" failed` });
    }
    // Claimed before anything is awaited; what a joining run gets once it is known.
    let settle!: (outcome: Outcome) => void;
    run.ledger.start(key, new Promise<Outcome>((resolve) => (settle = resolve)));
    let settled: Outcome = {
      ok: false,
      error: { name: "Error", message: `The outcome of tool "${name}" could not be recorded` },
    };
    try {
      return await this.#gated(request, tool, step, hash, occurrence, key, replaying, (o) => {
        settled = o;
      });
    } finally {
      settle(settled);
    }
  }

  // The rest of a tool call, once its key is claimed: the answer from the
  // ledger or the log, or the admitted, recorded and timed run of the tool.
  async #gated(
    request: ToolCallRequest,
    tool: ToolDefinition<unknown, unknown>,
    step: number,
    hash: string,
    occurrence: number,
    key: string,
    replaying: boolean,
    known: (outcome: Outcome) => void,
  ): Promise<unknown> {
    const run = this.#run;
    const { name } = request;
    const span = run.host.tracer.startSpan(`oao.tool.${name}`, {
      parent: run.stepSpan?.context,
      kind: "client",
      attributes: {
        "oao.execution.id": run.executionId,
        "oao.step": step,
        "oao.tool.name": name,
        "oao.tool.key_hash": hash,
        "oao.tool.occurrence": occurrence,
        "oao.tool.idempotent_skipped": false,
      },
    });
    try {
      let outcome = run.ledger.outcome(key);
      // A call that failed because the environment did (a missing permission)
      // runs again once the execution is retried, and is not counted again.
      let rerun = false;
      if (!outcome && run.ledger.resumed) {
        const stored = await run.host.eventStore.findByKey(run.executionId, `outcome:${key}`);
        const data = stored?.data as { result?: unknown; environment?: boolean } | undefined;
        if (stored?.type === "TOOL_CALL_SUCCESS") outcome = { ok: true, result: data?.result };
        else if (data?.environment === true) rerun = true;
        else if (stored) outcome = { ok: false };
      }
      if (outcome?.ok) {
        known(outcome);
        span.setAttribute("oao.tool.idempotent_skipped", true);
        // An activation's replay is not a skip: the log holds the call once.
        if (!replaying) {
          await run.record("IDEMPOTENT_TOOL_SKIPPED", { tool: name, key }, { step });
        }
        span.setStatus("ok");
        return outcome.result;
      }
      // Earlier in this attempt, the call failed: the step run again sees the same failure.
      const failed = run.ledger.failedInAttempt(key);
      if (failed) {
        known({ ok: false, error: failed });
        throw fromErrorInfo(failed);
      }
      // A call whose intent was recorded before a crash, without an outcome:
      // re-run if the tool is idempotent, else as an operator decides; it was
      // already counted and admitted.
      if (!outcome && !rerun && run.ledger.resumed && !run.ledger.hasIntent(key)) {
        const intent = await run.host.eventStore.findByKey(run.executionId, `intent:${key}`);
        if (intent && !tool.idempotent) {
          const decision = await findDecision(run.host.eventStore, run.executionId, key);
          if (!decision) {
            const pending = { callId: key, tool: name, args: request.args ?? null, step };
            const error = decisionRequiredError(run.executionId, pending);
            await run.record("DECISION_REQUIRED", {
              tool: name,
              key,
              args: pending.args,
              error: run.errorInfo(error),
            }, { step });
            run.park(pending, error);
            throw error;
          }
          if (decision.decision !== "rerun") {
            const ok = decision.decision === "succeeded";
            const error = ok ? undefined : decidedFailure(decision);
            await run.record(ok ? "TOOL_CALL_SUCCESS" : "TOOL_CALL_FAILED", {
              tool: name,
              key,
              ...(ok ? { result: decision.result ?? null } : { error: run.errorInfo(error) }),
              decidedBy: decision.by,
              durationMs: 0,
            }, { step, key: `outcome:${key}` });
            const decided: Outcome = ok
              ? { ok: true, result: decision.result ?? null }
              : { ok: false, error: run.errorInfo(error) };
            run.ledger.record(key, decided);
            known(decided);
            if (error) throw error;
            span.setStatus("ok");
            return decision.result ?? null;
          }
        }
        rerun = intent !== undefined;
      }
      // A tool that needs a person's approval waits for it (passivated), once per call.
      let approvedBy: string | undefined;
      if (tool.requireApproval === true || run.policy.requiresApproval(name)) {
        try {
          approvedBy = (await awaitApproval(run, { tool: name, key, args: request.args, step })).by;
        } catch (error) {
          if (error instanceof ApprovalDeniedError || error instanceof ApprovalTimeoutError) {
            const denied: Outcome = { ok: false, error: run.errorInfo(error) };
            run.ledger.record(key, denied);
            known(denied);
          }
          throw error;
        }
      }
      if (!rerun) {
        const violation = run.policy.checkToolCall(run.totals, run.elapsed());
        if (violation) await run.violation(violation);
        run.totals.toolCalls++;
      }
      run.ledger.intent(key);
      await run.record("TOOL_CALL", {
        tool: name,
        key,
        occurrence,
        args: request.args ?? null,
        rerun,
        ...(approvedBy === undefined ? {} : { approvedBy }),
      }, {
        step,
        key: `intent:${key}`,
      });
      const started = run.host.clock.now();
      const endWait = run.waits.begin(`tool "${name}"`);
      try {
        // Tools run under their span's context (OpenTelemetry's, when the tracer joins it).
        const result = await run.host.tracer.runInContext(
          span.context,
          () => this.#invoke(tool, request.args, key, step),
        );
        // The result is recorded and sent to the agent: it must be JSON, and bounded.
        canonicalJson(result ?? null);
        assertJsonWithin(
          result ?? null,
          `The result of tool "${name}"`,
          run.host.limits.maxValueBytes,
        );
        // Known to the ledger (and to a run of the step that asks again) once in the log.
        await run.record("TOOL_CALL_SUCCESS", {
          tool: name,
          key,
          result: result ?? null,
          durationMs: run.host.clock.now() - started,
        }, { step, key: `outcome:${key}` });
        run.ledger.record(key, { ok: true, result });
        known({ ok: true, result });
        span.setStatus("ok");
        return result;
      } catch (error) {
        if (error instanceof FencedError) throw error;
        const info = run.errorInfo(error);
        // A tool this process lacks a permission for fails the execution,
        // retryably: it is the environment's failure, not the agent's.
        const environment = error instanceof Deno.errors.NotCapable ||
          error instanceof Deno.errors.PermissionDenied;
        await run.record("TOOL_CALL_FAILED", {
          tool: name,
          key,
          error: info,
          durationMs: run.host.clock.now() - started,
          ...(environment ? { environment: true } : {}),
        }, { step, key: `outcome:${key}` });
        run.ledger.record(key, { ok: false, error: info });
        known({ ok: false, error: info });
        if (environment) run.fail(error as Error);
        throw error;
      } finally {
        endWait();
      }
    } catch (error) {
      span.recordException(error);
      throw error;
    } finally {
      span.end();
    }
  }

  async #invoke(
    tool: ToolDefinition<unknown, unknown>,
    args: unknown,
    key: string,
    step: number,
  ): Promise<unknown> {
    const run = this.#run;
    const timeoutMs = tool.timeoutMs ?? 60_000;
    const controller = new AbortController();
    const onAbort = () => controller.abort(run.signal.reason);
    run.signal.addEventListener("abort", onAbort, { once: true });
    let timer: TimerId | undefined;
    try {
      return await Promise.race([
        Promise.resolve().then(() =>
          tool.run(args as never, {
            executionId: run.executionId,
            agent: run.agent.name,
            step,
            key,
            signal: controller.signal,
          })
        ),
        new Promise<never>((_, reject) => {
          timer = run.host.clock.setTimeout(() => {
            const error = new OaoError(
              "TOOL_TIMEOUT",
              `Tool "${tool.name}" did not finish within ${timeoutMs} ms`,
            );
            controller.abort(error);
            reject(error);
          }, timeoutMs);
          controller.signal.addEventListener("abort", () => reject(controller.signal.reason), {
            once: true,
          });
        }),
      ]);
    } finally {
      if (timer !== undefined) run.host.clock.clearTimeout(timer);
      run.signal.removeEventListener("abort", onAbort);
    }
  }
}
