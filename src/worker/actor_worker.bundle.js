// src/actor/behavior.ts
function behaviorFromModule(module) {
  const candidate = module.default ?? module.behavior;
  if (candidate === void 0) {
    throw new TypeError(`the module exports neither "default" nor "behavior" (exports: ${Object.keys(module).map((k) => `"${k}"`).join(", ") || "none"})`);
  }
  if (typeof candidate !== "object" || candidate === null) {
    throw new TypeError(`the exported behaviour is a ${typeof candidate}, expected an object`);
  }
  const b = candidate;
  if (typeof b.receive !== "function") {
    throw new TypeError(`the exported behaviour has no "receive" function`);
  }
  if (!("initialState" in b)) {
    throw new TypeError(`the exported behaviour has no "initialState"`);
  }
  for (const hook of [
    "snapshot",
    "restore"
  ]) {
    if (b[hook] !== void 0 && typeof b[hook] !== "function") {
      throw new TypeError(`the exported behaviour's "${hook}" is a ${typeof b[hook]}, expected a function`);
    }
  }
  return candidate;
}

// src/errors.ts
var OaoError = class _OaoError extends Error {
  /** Stable machine-readable code, e.g. `"ASK_TIMEOUT"`. */
  code;
  /**
   * Creates an error with a code and a message.
   *
   * @param code Stable machine-readable code.
   * @param message Sentence-case message saying what failed and why.
   * @param options Standard error options (`cause`).
   */
  constructor(code, message, options) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
  /**
   * `instanceof` by prototype, or by code: an OAO error made by another copy
   * of this module (the bundled worker runtime, another version of the
   * library) is still an instance of the class of its code.
   *
   * @param value Anything.
   * @returns Whether `value` is an error of this class.
   */
  static [Symbol.hasInstance](value) {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (!(value instanceof Error)) return false;
    const code = value.code;
    if (typeof code !== "string") return false;
    if (this === _OaoError) return Object.hasOwn(ERROR_CLASSES, code);
    return Object.hasOwn(ERROR_CLASSES, code) && ERROR_CLASSES[code] === this;
  }
};
var ActorNotFoundError = class extends OaoError {
  /** The path that was looked up. */
  path;
  /**
   * @param path The path that was looked up.
   * @param options Standard error options.
   */
  constructor(path, options) {
    super("ACTOR_NOT_FOUND", `No actor is registered under "${path}"`, options);
    this.path = path;
  }
};
var ActorExistsError = class extends OaoError {
  /** The path that is taken. */
  path;
  /**
   * @param path The path that is taken.
   */
  constructor(path) {
    super("ACTOR_EXISTS", `Cannot spawn "${path}": an actor with this path is already running`);
    this.path = path;
  }
};
var AskTimeoutError = class extends OaoError {
  /** The actor that was asked. */
  path;
  /** The timeout that elapsed, in milliseconds. */
  timeoutMs;
  /**
   * @param path The actor that was asked.
   * @param timeoutMs The timeout that elapsed.
   */
  constructor(path, timeoutMs) {
    super("ASK_TIMEOUT", `Ask to "${path}" got no reply within ${timeoutMs} ms`);
    this.path = path;
    this.timeoutMs = timeoutMs;
  }
};
var MailboxFullError = class extends OaoError {
  /** The actor whose mailbox is full. */
  path;
  /** The mailbox capacity. */
  capacity;
  /**
   * @param path The actor whose mailbox is full.
   * @param capacity The mailbox capacity.
   */
  constructor(path, capacity) {
    super("MAILBOX_FULL", `Mailbox of "${path}" is full (capacity ${capacity})`);
    this.path = path;
    this.capacity = capacity;
  }
};
var MessageNotCloneableError = class extends OaoError {
  /** The actor the message was addressed to. */
  path;
  /**
   * @param path The actor the message was addressed to.
   * @param options Standard error options; `cause` is the `DataCloneError`.
   */
  constructor(path, options) {
    const reason = options?.cause instanceof Error ? options.cause.message : String(options?.cause);
    super("MESSAGE_NOT_CLONEABLE", `Cannot send message to "${path}": it cannot be structured-cloned (${reason})`, options);
    this.path = path;
  }
};
var ActorSpawnError = class extends OaoError {
  /** The module that was loaded. */
  module;
  /**
   * @param module The module URL or path.
   * @param reason Why the spawn failed.
   * @param options Standard error options.
   */
  constructor(module, reason, options) {
    super("ACTOR_SPAWN_FAILED", `Cannot spawn actor from "${module}": ${reason}`, options);
    this.module = module;
  }
};
var ActorStoppedError = class extends OaoError {
  /** The actor that stopped. */
  path;
  /**
   * @param path The actor that stopped.
   * @param reason Why it stopped.
   */
  constructor(path, reason) {
    super("ACTOR_STOPPED", `Actor "${path}" stopped: ${reason}`);
    this.path = path;
  }
};
var ActorFailedError = class extends OaoError {
  /** The actor that failed. */
  path;
  /**
   * @param path The actor that failed.
   * @param reason What went wrong.
   * @param options Standard error options.
   */
  constructor(path, reason, options) {
    super("ACTOR_FAILED", `Actor "${path}" failed: ${reason}`, options);
    this.path = path;
  }
};
var StaleVersionError = class extends OaoError {
  /** The key that was written. */
  key;
  /** The version the writer expected or wrote. */
  expected;
  /** The version found in the store. */
  actual;
  /**
   * @param key The key that was written.
   * @param expected The version the writer expected.
   * @param actual The version found in the store.
   */
  constructor(key, expected, actual) {
    super("STALE_VERSION", `Cannot save "${key}": expected version ${expected} but the store holds version ${actual}`);
    this.key = key;
    this.expected = expected;
    this.actual = actual;
  }
};
var FencedError = class extends OaoError {
  /** What was written (a snapshot key or an execution id). */
  target;
  /** The token the writer presented. */
  token;
  /** The current token. */
  current;
  /**
   * @param target What was written.
   * @param token The token the writer presented.
   * @param current The current token.
   */
  constructor(target, token, current) {
    super("FENCED", `Write to "${target}" rejected: fencing token ${token} is older than the current owner's ${current}`);
    this.target = target;
    this.token = token;
    this.current = current;
  }
};
var StoreUnavailableError = class extends OaoError {
  /**
   * @param operation What was attempted, e.g. `appendEvent("exec-1")`.
   * @param options Standard error options; `cause` is the last error.
   */
  constructor(operation, options) {
    const reason = options?.cause instanceof Error ? `: ${options.cause.message}` : "";
    super("STORE_UNAVAILABLE", `Store unavailable for ${operation}${reason}`, options);
  }
};
var CorruptDataError = class extends OaoError {
  /** The key (or execution id and sequence) concerned. */
  key;
  /**
   * @param key The key concerned.
   * @param reason Why the data is unusable.
   * @param options Standard error options.
   */
  constructor(key, reason, options) {
    super("CORRUPT_DATA", `Data at "${key}" is unusable: ${reason}`, options);
    this.key = key;
  }
};
var SupervisorEscalationError = class extends OaoError {
  /** The supervisor that escalated. */
  supervisor;
  /**
   * @param supervisor The supervisor that escalated.
   * @param reason Why it escalated.
   * @param options Standard error options.
   */
  constructor(supervisor, reason, options) {
    super("SUPERVISOR_ESCALATED", `Supervisor "${supervisor}" escalated: ${reason}`, options);
    this.supervisor = supervisor;
  }
};
var PolicyViolationError = class extends OaoError {
  /** Which limit: `"maxSteps"`, `"maxTokens"`, `"maxToolCalls"` or `"timeoutMs"`. */
  limit;
  /** The value that reached the limit. */
  value;
  /** The configured maximum. */
  max;
  /**
   * @param limit Which limit.
   * @param value The value that reached it.
   * @param max The configured maximum.
   */
  constructor(limit, value, max) {
    super("POLICY_VIOLATION", `Policy limit "${limit}" reached: ${value} exceeds the maximum ${max}`);
    this.limit = limit;
    this.value = value;
    this.max = max;
  }
};
var ExecutionHashMismatchError = class extends OaoError {
  /** The execution concerned. */
  executionId;
  /**
   * @param executionId The execution concerned.
   * @param expected The hash recorded when the execution started.
   * @param actual The hash of the specification given now.
   */
  constructor(executionId, expected, actual) {
    super("EXECUTION_HASH_MISMATCH", `Cannot resume execution "${executionId}": its specification hash "${actual}" differs from the recorded "${expected}"`);
    this.executionId = executionId;
  }
};
var ExecutionNotFoundError = class extends OaoError {
  /** The id that was looked up. */
  executionId;
  /**
   * @param executionId The id that was looked up.
   */
  constructor(executionId) {
    super("EXECUTION_NOT_FOUND", `No execution "${executionId}" is recorded`);
    this.executionId = executionId;
  }
};
var UnknownAgentError = class extends OaoError {
  /** The agent name. */
  agent;
  /**
   * @param agent The agent name.
   * @param known The registered names, listed in the message.
   */
  constructor(agent, known) {
    super("UNKNOWN_AGENT", `No agent is registered as "${agent}" (registered: ${known.length ? known.map((k) => `"${k}"`).join(", ") : "none"})`);
    this.agent = agent;
  }
};
var ToolOutcomeUnknownError = class extends OaoError {
  /** The tool name. */
  tool;
  /** The tool call key. */
  key;
  /**
   * @param tool The tool name.
   * @param key The tool call key.
   */
  constructor(tool, key) {
    super("TOOL_OUTCOME_UNKNOWN", `Tool "${tool}" (call ${key.slice(0, 12)}) was started before a crash and its outcome is unknown; it is not declared idempotent, so an operator must decide whether to re-run it`);
    this.tool = tool;
    this.key = key;
  }
};
var ExecutionCancelledError = class extends OaoError {
  /**
   * @param executionId The execution that was cancelled.
   * @param reason The reason given.
   */
  constructor(executionId, reason = "cancelled on request") {
    super("EXECUTION_CANCELLED", `Execution "${executionId}" was cancelled: ${reason}`);
  }
};
var LeaseLostError = class extends OaoError {
  /** The job concerned. */
  jobId;
  /**
   * @param jobId The job concerned.
   * @param reason Why the lease is lost.
   */
  constructor(jobId, reason) {
    super("LEASE_LOST", `Lease on job "${jobId}" lost: ${reason}`);
    this.jobId = jobId;
  }
};
var ProtocolViolationError = class extends OaoError {
  /** The actor whose worker sent it. */
  actor;
  /**
   * @param actor The actor whose worker sent the message.
   * @param detail What is wrong with the message.
   */
  constructor(actor, detail) {
    super("PROTOCOL_VIOLATION", `Actor "${actor}" broke the worker protocol: ${detail}`);
    this.actor = actor;
  }
};
var AccessDeniedError = class extends OaoError {
  /** The actor that asked. */
  actor;
  /**
   * @param actor The actor that asked.
   * @param action What it asked for, e.g. `stop "exec-1/planner"`.
   * @param reason Why it is refused.
   */
  constructor(actor, action, reason) {
    super("ACCESS_DENIED", `Actor "${actor}" may not ${action}: ${reason}`);
    this.actor = actor;
  }
};
var ValueTooLargeError = class extends OaoError {
  /** Size of the value, in the limit's unit. */
  size;
  /** The limit. */
  limit;
  /**
   * @param what Which value, e.g. `the result of step 3`.
   * @param size Its size.
   * @param limit The limit.
   * @param unit The unit of both. @default {"bytes"}
   */
  constructor(what, size, limit, unit = "bytes") {
    super("VALUE_TOO_LARGE", `${what} is ${size} ${unit}, over the limit of ${limit} ${unit}`);
    this.size = size;
    this.limit = limit;
  }
};
var ModuleRefusedError = class extends OaoError {
  /** The actor module. */
  module;
  /** The refused import specifier. */
  specifier;
  /**
   * @param module The actor module.
   * @param specifier The refused import.
   * @param reason Why it is refused.
   */
  constructor(module, specifier, reason) {
    super("MODULE_REFUSED", `Cannot load "${module}": import "${specifier}" is refused: ${reason}`);
    this.module = module;
    this.specifier = specifier;
  }
};
function toErrorInfo(error) {
  if (error instanceof Error) {
    const info = {
      name: error.name,
      message: error.message
    };
    const code = error.code;
    if (typeof code === "string") info.code = code;
    if (error.stack) info.stack = error.stack;
    return info;
  }
  return {
    name: "Error",
    message: typeof error === "string" ? error : safeString(error)
  };
}
function safeString(value) {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
function fromErrorInfo(info) {
  const ctor = info.code && Object.hasOwn(ERROR_CLASSES, info.code) ? ERROR_CLASSES[info.code] : void 0;
  const error = ctor ? Object.create(ctor.prototype) : new OaoError(info.code ?? "REMOTE_ERROR", info.message);
  Object.defineProperties(error, {
    message: {
      value: info.message,
      writable: true,
      configurable: true
    },
    name: {
      value: info.name,
      writable: true,
      configurable: true
    },
    code: {
      value: info.code ?? "REMOTE_ERROR",
      writable: true,
      configurable: true
    },
    stack: {
      value: info.stack ?? `${info.name}: ${info.message}`,
      writable: true,
      configurable: true
    }
  });
  return error;
}
var ERROR_CLASSES = {
  ACTOR_NOT_FOUND: ActorNotFoundError,
  ACTOR_EXISTS: ActorExistsError,
  ASK_TIMEOUT: AskTimeoutError,
  MAILBOX_FULL: MailboxFullError,
  MESSAGE_NOT_CLONEABLE: MessageNotCloneableError,
  ACTOR_SPAWN_FAILED: ActorSpawnError,
  ACTOR_STOPPED: ActorStoppedError,
  ACTOR_FAILED: ActorFailedError,
  STALE_VERSION: StaleVersionError,
  FENCED: FencedError,
  STORE_UNAVAILABLE: StoreUnavailableError,
  CORRUPT_DATA: CorruptDataError,
  SUPERVISOR_ESCALATED: SupervisorEscalationError,
  POLICY_VIOLATION: PolicyViolationError,
  EXECUTION_HASH_MISMATCH: ExecutionHashMismatchError,
  EXECUTION_NOT_FOUND: ExecutionNotFoundError,
  UNKNOWN_AGENT: UnknownAgentError,
  TOOL_OUTCOME_UNKNOWN: ToolOutcomeUnknownError,
  EXECUTION_CANCELLED: ExecutionCancelledError,
  LEASE_LOST: LeaseLostError,
  PROTOCOL_VIOLATION: ProtocolViolationError,
  ACCESS_DENIED: AccessDeniedError,
  VALUE_TOO_LARGE: ValueTooLargeError,
  MODULE_REFUSED: ModuleRefusedError
};

// src/tracing/_random.ts
var state = new Uint32Array(4);
crypto.getRandomValues(state);
state[0] = state[0] | 1;
state[3] = state[3] | 1;
function randomU32() {
  const s = state;
  const t = s[0] ^ s[0] << 11;
  s[0] = s[1];
  s[1] = s[2];
  s[2] = s[3];
  const s3 = s[3];
  s[3] = s3 ^ s3 >>> 19 ^ (t ^ t >>> 8);
  return s[3];
}
function hex8(word) {
  return (word >>> 0).toString(16).padStart(8, "0");
}

// src/tracing/trace_context.ts
var TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
var TRACEPARENT_FUTURE = /^([0-9a-e][0-9a-f]|f[0-9a-e])-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;
function newSpanId() {
  const hi = randomU32(), lo = randomU32();
  return hi === 0 && lo === 0 ? newSpanId() : hex8(hi) + hex8(lo);
}
function newTraceId() {
  const id = hex8(randomU32()) + hex8(randomU32()) + hex8(randomU32()) + hex8(randomU32());
  return id === "00000000000000000000000000000000" ? newTraceId() : id;
}
function newTraceContext(sampled) {
  return {
    traceId: newTraceId(),
    spanId: newSpanId(),
    sampled
  };
}
function formatTraceparent(ctx) {
  return `00-${ctx.traceId}-${ctx.spanId}-${ctx.sampled ? "01" : "00"}`;
}
function parseTraceparent(header, tracestate) {
  if (!header) return void 0;
  const value = header.trim();
  const m = TRACEPARENT.exec(value) ?? TRACEPARENT_FUTURE.exec(value);
  if (!m || m[1] === "ff" || m[1] === "00" && value.length !== 55) return void 0;
  const traceId = m[2], spanId = m[3];
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return void 0;
  const ctx = {
    traceId,
    spanId,
    sampled: (parseInt(m[4], 16) & 1) === 1
  };
  if (tracestate) ctx.tracestate = tracestate;
  return ctx;
}

// src/actor/_protocol_guard.ts
function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
function isCount(value) {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
function isErrorLike(value) {
  return isObject(value) && typeof value.name === "string" && typeof value.message === "string" && (value.code === void 0 || typeof value.code === "string") && (value.stack === void 0 || typeof value.stack === "string");
}
function invalidLinkReply(reply, sent) {
  if (!isObject(reply)) return `link reply is ${reply === null ? "null" : typeof reply}`;
  const r = reply;
  const upTo = r.upTo;
  if (upTo !== void 0 && (!isCount(upTo) || upTo > sent)) {
    return "acknowledgement of messages that were never sent";
  }
  switch (r.k) {
    case "a":
      return upTo === void 0 ? "acknowledgement without upTo" : void 0;
    case "r":
      if (!isCount(r.a)) return "reply without a valid ask id";
      if (r.ok === true) return void 0;
      if (r.ok !== false) return "reply ok is not a boolean";
      return isErrorLike(r.e) ? void 0 : "reply error is invalid";
    case "x":
      if (!Array.isArray(r.seqs) || !r.seqs.every(isCount)) return "refused seqs are invalid";
      if (!Array.isArray(r.asks) || !r.asks.every(isCount)) return "refused asks are invalid";
      return isErrorLike(r.e) ? void 0 : "refusal error is invalid";
    case "z":
      return isErrorLike(r.e) ? void 0 : "last word error is invalid";
    default:
      return "unknown link reply kind";
  }
}

// src/actor/_outbound_link.ts
var MAX_BATCH = 1e3;
var OutboundLink = class {
  target;
  /** Identity of this link's sequence space; the receiver keys its cursor by it. */
  space;
  #hooks;
  #port;
  #acks;
  #nextSeq;
  #acked;
  #frames;
  #open;
  #scheduled = false;
  #receiverClosed = false;
  #flushTask = () => {
    this.#scheduled = false;
    this.flush();
  };
  constructor(target, hooks, restored) {
    this.target = target;
    this.space = restored?.space ?? newSpanId();
    this.#hooks = hooks;
    this.#nextSeq = restored?.nextSeq ?? 1;
    this.#acked = restored?.acked ?? 0;
    this.#frames = restored ? restored.frames.map((f) => ({
      ...f,
      r: 1
    })) : [];
  }
  /** Whether the receiver said its last word: it stopped gracefully, every reply has arrived. */
  get receiverClosed() {
    return this.#receiverClosed;
  }
  /** Whether a port is attached. */
  get attached() {
    return this.#port !== void 0;
  }
  /** Sequence number of the last message sent (0 for none). */
  get lastSeq() {
    return this.#nextSeq - 1;
  }
  /** Messages sent and not yet acknowledged. */
  get unacked() {
    let n = this.#open?.m.length ?? 0;
    for (const f of this.#frames) n += f.s + f.m.length - 1 - Math.max(this.#acked, f.s - 1);
    return n;
  }
  /** Queues one message; returns its sequence number. */
  send(body, traceparent, tracestate, askId) {
    const seq = this.#nextSeq++;
    let frame = this.#open;
    if (!frame) {
      frame = this.#open = {
        k: "b",
        s: seq,
        m: [],
        tp: traceparent
      };
      if (tracestate) frame.ts = tracestate;
      if (!this.#scheduled) {
        this.#scheduled = true;
        queueMicrotask(this.#flushTask);
      }
    }
    const index = frame.m.length;
    frame.m.push(body);
    if (askId !== void 0 || traceparent !== frame.tp || tracestate !== frame.ts) {
      const extra = {};
      if (askId !== void 0) extra.a = askId;
      if (traceparent !== frame.tp) extra.tp = traceparent;
      if (tracestate !== frame.ts && tracestate) extra.ts = tracestate;
      (frame.x ??= {})[index] = extra;
    }
    if (frame.m.length >= MAX_BATCH) this.flush();
    return seq;
  }
  /** Posts the open batch now. */
  flush() {
    const frame = this.#open;
    if (!frame) return;
    this.#open = void 0;
    if (this.#acks) this.#readSharedAck(this.#acks);
    this.#frames.push(frame);
    if (this.#port) this.#post(frame, this.#frames.length - 1);
  }
  /** Attaches a (new) port and retransmits every unacknowledged frame on it. */
  attach(port) {
    this.#port?.close();
    this.#port = port;
    this.#receiverClosed = false;
    port.onmessage = this.#hooks.onViolation ? (event) => this.#onUntrustedReply(event.data) : (event) => this.#onReply(event.data);
    this.#acks = new Int32Array(new SharedArrayBuffer(4));
    this.#acks[0] = this.#acked | 0;
    port.postMessage({
      k: "h",
      acks: this.#acks.buffer
    });
    for (let i = 0; i < this.#frames.length; i++) {
      const frame = this.#frames[i];
      if (frame.s + frame.m.length - 1 <= this.#acked) continue;
      frame.r = 1;
      i += this.#post(frame, i) - 1;
    }
  }
  /** Detaches the port (receiver restarting); frames are kept for retransmission. */
  detach() {
    this.#port?.close();
    this.#port = void 0;
    this.#acks = void 0;
  }
  /** Closes the link for good. */
  close() {
    this.detach();
    this.#frames = [];
    this.#open = void 0;
  }
  /** Durable state for the sender's snapshot. */
  state() {
    this.flush();
    return {
      space: this.space,
      nextSeq: this.#nextSeq,
      acked: this.#acked,
      frames: this.#frames.map((f) => ({
        ...f
      }))
    };
  }
  #onUntrustedReply(reply) {
    const bad = invalidLinkReply(reply, this.#nextSeq - 1);
    if (bad) return this.#hooks.onViolation(bad);
    this.#onReply(reply);
  }
  #onReply(reply) {
    switch (reply.k) {
      case "a":
        this.#ack(reply.upTo);
        this.#hooks.onAck?.();
        break;
      case "r":
        if (reply.upTo !== void 0) this.#ack(reply.upTo);
        this.#hooks.onReply(reply.a, reply.ok ? {
          ok: true,
          value: reply.v
        } : {
          ok: false,
          error: reply.e
        });
        if (reply.upTo !== void 0) this.#hooks.onAck?.();
        break;
      case "x":
        this.#gapOut(reply.seqs);
        this.#hooks.onRefused(reply.seqs, reply.asks, reply.e);
        break;
      case "z":
        this.#receiverClosed = true;
        this.#hooks.onClosed?.(reply.e);
        break;
    }
  }
  // Acknowledgements published in shared memory: the low 32 bits of the
  // receiver's cursor, widened against what is outstanding.
  #readSharedAck(acks) {
    const delta = Atomics.load(acks, 0) - (this.#acked | 0) >>> 0;
    if (delta > 0 && delta < this.#nextSeq - this.#acked) this.#ack(this.#acked + delta);
  }
  #ack(upTo) {
    if (upTo <= this.#acked) return;
    this.#acked = upTo;
    let drop = 0;
    while (drop < this.#frames.length) {
      const f = this.#frames[drop];
      if (f.s + f.m.length - 1 > upTo) break;
      drop++;
    }
    if (drop > 0) this.#frames.splice(0, drop);
  }
  // Replaces refused messages by gaps so that a retransmission cannot deliver them later.
  #gapOut(seqs) {
    for (const seq of seqs) {
      const frame = this.#frames.find((f) => seq >= f.s && seq < f.s + f.m.length);
      if (!frame) continue;
      const index = seq - frame.s;
      frame.m[index] = null;
      (frame.x ??= {})[index] = {
        g: 1
      };
    }
  }
  // Posts a frame; on a clone failure, posts its messages one by one and
  // replaces the ones that cannot be cloned by gaps. Returns how many frames
  // now stand at `index` in place of the original.
  #post(frame, index) {
    try {
      this.#port.postMessage(frame);
      return 1;
    } catch (error) {
      if (!(error instanceof DOMException) || error.name !== "DataCloneError") throw error;
      const singles = frame.m.map((body, i) => {
        const extra = frame.x?.[i];
        const single = {
          k: "b",
          s: frame.s + i,
          m: [
            body
          ]
        };
        const tp = extra?.tp ?? frame.tp;
        if (tp) single.tp = tp;
        const ts = extra?.ts ?? frame.ts;
        if (ts) single.ts = ts;
        if (extra) single.x = {
          0: {
            ...extra
          }
        };
        if (frame.r) single.r = 1;
        return single;
      });
      for (const single of singles) {
        try {
          this.#port.postMessage(single);
        } catch (cloneError) {
          const askId = single.x?.[0]?.a;
          single.m = [
            null
          ];
          single.x = {
            0: {
              g: 1
            }
          };
          this.#port.postMessage(single);
          this.#hooks.onCloneFailure(single.s, askId, cloneError);
        }
      }
      this.#frames.splice(index, 1, ...singles);
      return singles.length;
    }
  }
};

// src/actor/_cloneable.ts
var CLONEABLE_CTORS = /* @__PURE__ */ new Set([
  Date,
  RegExp,
  Map,
  Set,
  ArrayBuffer,
  DataView,
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
  Boolean,
  Number,
  String,
  BigInt
]);
var TypedArray = Object.getPrototypeOf(Uint8Array);
var MAX_PLAIN_DEPTH = 8;
function findUncloneable(value, path = "message", seen) {
  if (seen === void 0 && isPlainData(value, 0)) return void 0;
  switch (typeof value) {
    case "function":
      return `${path} is a function`;
    case "symbol":
      return `${path} is a symbol`;
    case "object":
      break;
    default:
      return void 0;
  }
  if (value === null) return void 0;
  const proto = Object.getPrototypeOf(value);
  if (Array.isArray(value)) {
    seen ??= /* @__PURE__ */ new Set();
    if (seen.has(value)) return void 0;
    seen.add(value);
    for (let i = 0; i < value.length; i++) {
      const bad = findUncloneable(value[i], `${path}[${i}]`, seen);
      if (bad) return bad;
    }
    return void 0;
  }
  if (proto !== Object.prototype && proto !== null) {
    const ctor = proto?.constructor;
    if (CLONEABLE_CTORS.has(ctor) || value instanceof TypedArray || value instanceof Error) {
      if (value instanceof Map) return checkEntries([
        ...value.entries()
      ].flat(), path, seen);
      if (value instanceof Set) return checkEntries([
        ...value
      ], path, seen);
      return void 0;
    }
    if (value instanceof Promise) return `${path} is a Promise`;
    if (value instanceof WeakMap || value instanceof WeakSet || value instanceof WeakRef) {
      return `${path} is a ${ctor?.name}`;
    }
    if (typeof Blob !== "undefined" && value instanceof Blob) return void 0;
    if (typeof MessagePort !== "undefined" && value instanceof MessagePort) {
      return `${path} is a MessagePort`;
    }
  }
  seen ??= /* @__PURE__ */ new Set();
  if (seen.has(value)) return void 0;
  seen.add(value);
  for (const key in value) {
    const bad = findUncloneable(value[key], `${path}.${key}`, seen);
    if (bad) return bad;
  }
  return void 0;
}
function isPlainData(value, depth) {
  if (typeof value !== "object") return typeof value !== "function" && typeof value !== "symbol";
  if (value === null) return true;
  if (depth > MAX_PLAIN_DEPTH) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!isPlainData(value[i], depth + 1)) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const key in value) {
    if (!isPlainData(value[key], depth + 1)) return false;
  }
  return true;
}
function checkEntries(items, path, seen) {
  for (const item of items) {
    const bad = findUncloneable(item, `${path} entry`, seen);
    if (bad) return bad;
  }
  return void 0;
}

// src/actor/_protocol.ts
var SAB_BUSY = 0;
var SAB_LINK = 1;
var SAB_SEQ = 2;
var SAB_STARTED = 3;
var SAB_HEARTBEAT = 4;
var SAB_TICK = 5;

// src/tracing/tracer.ts
function _exceptionAttributes(info) {
  const attributes = {
    "exception.type": info.name,
    "exception.message": info.message
  };
  if (info.stack) attributes["exception.stacktrace"] = info.stack;
  return attributes;
}
function preciseNow() {
  return performance.timeOrigin + performance.now();
}
var RecordingSpan = class {
  context;
  recording = true;
  #data;
  #sink;
  #ended = false;
  constructor(name, context, parentSpanId, options, sink) {
    this.context = context;
    this.#sink = sink;
    this.#data = {
      name,
      traceId: context.traceId,
      spanId: context.spanId,
      kind: options.kind ?? "internal",
      startTime: options.startTime ?? preciseNow(),
      endTime: 0,
      attributes: {
        ...options.attributes
      },
      events: [],
      status: {
        code: "unset"
      }
    };
    if (parentSpanId) this.#data.parentSpanId = parentSpanId;
    if (context.tracestate) this.#data.tracestate = context.tracestate;
  }
  setAttribute(key, value) {
    if (!this.#ended) this.#data.attributes[key] = value;
  }
  addEvent(name, attributes) {
    if (this.#ended) return;
    if (attributes) attributes = {
      ...attributes
    };
    this.#data.events.push(attributes ? {
      name,
      time: preciseNow(),
      attributes
    } : {
      name,
      time: preciseNow()
    });
  }
  recordException(error) {
    const info = toErrorInfo(error);
    this.addEvent("exception", _exceptionAttributes(info));
    this.setStatus("error", info.message);
  }
  setStatus(code, message) {
    if (this.#ended) return;
    this.#data.status = message === void 0 ? {
      code
    } : {
      code,
      message
    };
  }
  end(endTime) {
    if (this.#ended) return;
    this.#ended = true;
    this.#data.endTime = endTime ?? preciseNow();
    this.#sink.export([
      this.#data
    ]);
  }
};
var NonRecordingSpan = class {
  context;
  recording;
  constructor(context) {
    this.context = context;
    this.recording = false;
  }
  setAttribute() {
  }
  addEvent() {
  }
  recordException() {
  }
  setStatus() {
  }
  end() {
  }
};
var Tracer = class {
  #sink;
  #activeContext;
  #runInContext;
  /**
   * @param sink Where finished spans go; omit to disable recording.
   * @param options Hooks into another tracing API's current context.
   */
  constructor(sink, options = {}) {
    this.#sink = sink;
    this.#activeContext = options.activeContext;
    this.#runInContext = options.runInContext;
  }
  /** Whether spans are recorded and exported. */
  get enabled() {
    return this.#sink !== void 0;
  }
  /** The sink, when enabled. */
  get sink() {
    return this.#sink;
  }
  /**
   * The caller's current context, from the `activeContext` hook.
   *
   * @returns The context, or `undefined` without a hook or an active span.
   *
   * @example
   * ```ts
   * import { Tracer } from "./tracer.ts";
   * console.assert(new Tracer().activeContext() === undefined);
   * ```
   */
  activeContext() {
    return this.#activeContext?.();
  }
  /**
   * Calls `fn` with `context` as the current context of the `runInContext`
   * hook's tracing API; just calls it without a hook.
   *
   * @param context The span context to make current.
   * @param fn The code to run.
   * @returns What `fn` returns.
   * @throws What `fn` throws.
   *
   * @example
   * ```ts
   * import { Tracer } from "./tracer.ts";
   * const tracer = new Tracer();
   * const span = tracer.startSpan("oao.tool.search");
   * console.assert(tracer.runInContext(span.context, () => 42) === 42);
   * ```
   */
  runInContext(context, fn) {
    return this.#runInContext ? this.#runInContext(context, fn) : fn();
  }
  /**
   * Starts a span as a child of `options.parent` (or of a new trace).
   *
   * @param name Span name.
   * @param options Parent, attributes, kind, start time.
   * @returns The span; call `end()` when done.
   */
  startSpan(name, options = {}) {
    const parent = options.parent;
    if (!this.#sink || parent && !parent.sampled) {
      const context2 = parent ? {
        traceId: parent.traceId,
        spanId: newSpanId(),
        sampled: parent.sampled
      } : newTraceContext(this.#sink !== void 0);
      if (parent?.tracestate) context2.tracestate = parent.tracestate;
      return new NonRecordingSpan(context2);
    }
    const context = parent ? {
      traceId: parent.traceId,
      spanId: newSpanId(),
      sampled: true
    } : newTraceContext(true);
    if (parent?.tracestate) context.tracestate = parent.tracestate;
    return new RecordingSpan(name, context, parent?.spanId, options, this.#sink);
  }
};

// src/tracing/_receive_span_recorder.ts
var CAPACITY = 2048;
function receiveSpanName(path) {
  return `oao.actor.receive ${path.slice(path.lastIndexOf("/") + 1)}`;
}
var MAX_STRIDE = 32;
var QUICK_MS = 0.05;
var ReceiveSpanRecorder = class {
  recording = true;
  #name;
  #actor;
  #incarnation;
  #onRich;
  #sealed = [];
  #chunk;
  #origins = [];
  #originIndex = /* @__PURE__ */ new Map();
  // Cache of the last origin: messages of one batch share it.
  #lastTp;
  #lastTs;
  #lastFrom;
  #lastRedelivered = false;
  #lastOrigin = -1;
  // The current span.
  #open = false;
  #index = 0;
  #context;
  #suspendedAt = NaN;
  #rich;
  // Spans of the current run whose times are not set yet: the last `#pending` of the chunk.
  #pending = 0;
  #runStart = 0;
  #cold = true;
  #stride = 1;
  #untilRead = 1;
  /**
   * @param actor The actor's path.
   * @param incarnation The worker's incarnation.
   * @param onRich Receives spans that got events or an error, as SpanData.
   */
  constructor(actor, incarnation, onRich) {
    this.#name = receiveSpanName(actor);
    this.#actor = actor;
    this.#incarnation = incarnation;
    this.#onRich = onRich;
  }
  /** Spans held (sealed chunks and the open one). */
  get size() {
    return this.#sealed.length * CAPACITY + (this.#chunk?.count ?? 0);
  }
  /** Sealed chunks waiting to be taken. */
  get sealedChunks() {
    return this.#sealed.length;
  }
  /**
   * Starts the span of a message. Returns false (and records nothing) when
   * the message's trace context is invalid or not sampled: the caller then
   * falls back to the general tracer.
   */
  begin(tp, ts, from, seq, redelivered) {
    if (tp !== this.#lastTp || from !== this.#lastFrom || ts !== this.#lastTs || redelivered !== this.#lastRedelivered) {
      this.#lastTp = tp;
      this.#lastTs = ts;
      this.#lastFrom = from;
      this.#lastRedelivered = redelivered;
      this.#lastOrigin = this.#lookup(tp, ts, from, redelivered);
    }
    if (this.#lastOrigin < 0) return false;
    let chunk = this.#chunk;
    if (chunk === void 0 || chunk.count === CAPACITY) chunk = this.#newChunk();
    const i = this.#index = chunk.count++;
    let hi = randomU32(), lo = randomU32();
    while (hi === 0 && lo === 0) hi = randomU32(), lo = randomU32();
    chunk.ids[2 * i] = hi;
    chunk.ids[2 * i + 1] = lo;
    chunk.seqs[i] = seq;
    chunk.origin[i] = this.#lastOrigin;
    if (this.#cold) {
      this.#cold = false;
      this.#runStart = preciseNow();
      this.#stride = this.#untilRead = 1;
    }
    this.#open = true;
    if (this.#context !== void 0) this.#context = void 0;
    this.#suspendedAt = NaN;
    return true;
  }
  /** The current span's context (for messages it sends and for logs). */
  get context() {
    if (this.#context) return this.#context;
    const chunk = this.#chunk;
    const origin = this.#origins[chunk.origin[this.#index]];
    const i = this.#index;
    const context = {
      traceId: origin.traceId,
      spanId: hex8(chunk.ids[2 * i]) + hex8(chunk.ids[2 * i + 1]),
      sampled: true
    };
    if (origin.tracestate) context.tracestate = origin.tracestate;
    return this.#context = context;
  }
  /** The handler went asynchronous: its span gets exact times. */
  suspend() {
    if (!this.#open || this.#rich || !Number.isNaN(this.#suspendedAt)) return;
    this.#suspendedAt = this.#closeRun(false);
  }
  setAttribute(key, value) {
    const rich = this.#toRich();
    if (rich) rich.attributes[key] = value;
  }
  addEvent(name, attributes) {
    const rich = this.#toRich();
    if (!rich) return;
    const time = preciseNow();
    rich.events.push(attributes ? {
      name,
      time,
      attributes: {
        ...attributes
      }
    } : {
      name,
      time
    });
  }
  recordException(error) {
    if (!this.#open) return;
    const info = toErrorInfo(error);
    this.addEvent("exception", _exceptionAttributes(info));
    this.setStatus("error", info.message);
  }
  setStatus(code, message) {
    const rich = this.#toRich();
    if (rich) rich.status = message === void 0 ? {
      code
    } : {
      code,
      message
    };
  }
  /** Ends the current span (no-op when none is open). */
  end() {
    if (!this.#open) return;
    this.#open = false;
    const rich = this.#rich;
    if (rich) {
      this.#rich = void 0;
      rich.endTime = this.#runStart = preciseNow();
      this.#stride = this.#untilRead = 1;
      return this.#onRich(rich);
    }
    this.#pending++;
    if (!Number.isNaN(this.#suspendedAt)) {
      const now = this.#runStart = preciseNow();
      const times = this.#chunk.times, i = this.#index;
      times[2 * i] = this.#suspendedAt;
      times[2 * i + 1] = now;
      this.#pending = 0;
      this.#stride = this.#untilRead = 1;
    } else if (--this.#untilRead === 0) {
      this.#closeRun(true);
    }
  }
  /**
   * The actor went idle: times the run's spans; the next message reads the
   * clock. Returns the number of spans held.
   */
  idle() {
    if (this.#open) return this.size;
    if (this.#pending > 0) this.#closeRun(false);
    this.#cold = true;
    return this.size;
  }
  /**
   * Takes every finished span (the current one, if open, stays): full
   * chunks as they are (their buffers can be transferred), the open chunk as
   * a trimmed copy, so that its buffers are used again.
   */
  take() {
    if (!this.#open) this.idle();
    else if (this.#pending > 0) this.#closeRun(false);
    const out = this.#sealed;
    this.#sealed = [];
    const chunk = this.#chunk;
    const n = chunk ? chunk.count - (this.#open ? 1 : 0) : 0;
    if (chunk && n > 0) {
      out.push({
        ...chunk,
        count: n,
        ids: chunk.ids.slice(0, 2 * n),
        times: chunk.times.slice(0, 2 * n),
        seqs: chunk.seqs.slice(0, n),
        origin: chunk.origin.slice(0, n)
      });
      this.#resetOrigins();
      chunk.origins = this.#origins;
      chunk.count = 0;
      if (this.#open) {
        chunk.ids[0] = chunk.ids[2 * n];
        chunk.ids[1] = chunk.ids[2 * n + 1];
        chunk.times[0] = chunk.times[2 * n];
        chunk.seqs[0] = chunk.seqs[n];
        chunk.origin[0] = this.#lastOrigin;
        chunk.count = 1;
        this.#index = 0;
      }
    }
    return out;
  }
  // Reads the clock and spreads the pending spans evenly up to now.
  #closeRun(adapt) {
    const now = preciseNow();
    const k = this.#pending;
    if (k > 0) {
      const times = this.#chunk.times;
      const start = this.#runStart;
      const step = (now - start) / k;
      const first = this.#chunk.count - k - (this.#open ? 1 : 0);
      for (let j = 0; j < k; j++) {
        const i = first + j;
        times[2 * i] = start + step * j;
        times[2 * i + 1] = j === k - 1 ? now : start + step * (j + 1);
      }
      if (adapt) this.#stride = step < QUICK_MS ? Math.min(this.#stride * 2, MAX_STRIDE) : 1;
    }
    this.#pending = 0;
    this.#untilRead = this.#stride;
    this.#runStart = now;
    return now;
  }
  // Turns the current span into SpanData (for events, attributes, errors).
  #toRich() {
    if (!this.#open) return void 0;
    if (this.#rich) return this.#rich;
    const startTime = Number.isNaN(this.#suspendedAt) ? this.#closeRun(false) : this.#suspendedAt;
    const chunk = this.#chunk;
    const context = this.context;
    const origin = this.#origins[chunk.origin[this.#index]];
    chunk.count--;
    this.#rich = {
      name: this.#name,
      traceId: context.traceId,
      spanId: context.spanId,
      parentSpanId: origin.parentSpanId,
      kind: "consumer",
      startTime,
      endTime: 0,
      attributes: {
        "oao.actor": this.#actor,
        "oao.message.from": origin.from,
        "oao.message.seq": chunk.seqs[this.#index],
        "oao.actor.incarnation": this.#incarnation,
        "oao.message.redelivered": origin.redelivered
      },
      events: [],
      status: {
        code: "unset"
      }
    };
    return this.#rich;
  }
  #lookup(tp, ts, from, redelivered) {
    const key = `${tp}
${ts ?? ""}
${redelivered ? 1 : 0}
${from}`;
    const known = this.#originIndex.get(key);
    if (known !== void 0) return known;
    const parent = parseTraceparent(tp, ts);
    if (!parent || !parent.sampled) return -1;
    const origin = {
      tp,
      from,
      redelivered,
      traceId: parent.traceId,
      parentSpanId: parent.spanId,
      tracestate: ts
    };
    if (ts !== void 0) origin.ts = ts;
    const index = this.#origins.push(origin) - 1;
    this.#originIndex.set(key, index);
    return index;
  }
  // A new chunk starts a new origin table (chunks are self-contained); the
  // last origin is carried over, since `begin` has just looked it up.
  #resetOrigins() {
    const last = this.#lastOrigin >= 0 ? this.#origins[this.#lastOrigin] : void 0;
    this.#origins = [];
    this.#originIndex.clear();
    this.#lastOrigin = -1;
    this.#lastTp = void 0;
    if (last) {
      this.#lastTp = last.tp;
      this.#lastTs = last.ts;
      this.#lastFrom = last.from;
      this.#lastRedelivered = last.redelivered;
      this.#lastOrigin = this.#lookup(last.tp, last.ts, last.from, last.redelivered);
    }
  }
  #newChunk() {
    const full = this.#chunk;
    if (full) {
      if (this.#pending > 0) this.#closeRun(false);
      this.#sealed.push(full);
    }
    if (full || this.#origins.length > 0) this.#resetOrigins();
    this.#chunk = {
      name: this.#name,
      actor: this.#actor,
      incarnation: this.#incarnation,
      count: 0,
      ids: new Uint32Array(2 * CAPACITY),
      times: new Float64Array(2 * CAPACITY),
      seqs: new Float64Array(CAPACITY),
      origin: new Uint32Array(CAPACITY),
      origins: this.#origins
    };
    return this.#chunk;
  }
};

// src/actor/mailbox.ts
var Mailbox = class {
  #items = new Array(16);
  #head = 0;
  #size = 0;
  capacity;
  overflow;
  /**
   * @param options Capacity and overflow policy.
   * @throws {RangeError} When `capacity` is not a positive integer or Infinity.
   */
  constructor(options = {}) {
    const capacity = options.capacity ?? Infinity;
    if (capacity !== Infinity && (!Number.isInteger(capacity) || capacity < 1)) {
      throw new RangeError(`Invalid mailbox capacity ${capacity}: expected a positive integer`);
    }
    this.capacity = capacity;
    this.overflow = options.overflow ?? "reject";
  }
  /** Queued messages. */
  get length() {
    return this.#size;
  }
  /**
   * Queues an item, applying the overflow policy when full.
   *
   * @param item The item.
   * @returns Whether it was accepted and what was dropped.
   */
  offer(item) {
    if (this.#size >= this.capacity) {
      if (this.overflow === "drop-oldest") {
        const dropped = this.shift();
        this.#push(item);
        return {
          accepted: true,
          dropped
        };
      }
      return {
        accepted: false,
        dropped: item
      };
    }
    this.#push(item);
    return {
      accepted: true
    };
  }
  /** Removes and returns the oldest item. */
  shift() {
    if (this.#size === 0) return void 0;
    const item = this.#items[this.#head];
    this.#items[this.#head] = void 0;
    this.#head = this.#head + 1 & this.#items.length - 1;
    this.#size--;
    return item;
  }
  /** Returns the oldest item without removing it. */
  peek() {
    return this.#size === 0 ? void 0 : this.#items[this.#head];
  }
  /** Removes every item and returns them in order. */
  drain() {
    const out = [];
    while (this.#size > 0) out.push(this.shift());
    return out;
  }
  #push(item) {
    if (this.#size === this.#items.length) this.#grow();
    this.#items[this.#head + this.#size & this.#items.length - 1] = item;
    this.#size++;
  }
  #grow() {
    const next = new Array(this.#items.length * 2);
    for (let i = 0; i < this.#size; i++) {
      next[i] = this.#items[this.#head + i & this.#items.length - 1];
    }
    this.#items = next;
    this.#head = 0;
  }
};

// src/worker/_inbox.ts
var Inbox = class {
  capacity;
  overflow;
  #runs = new Mailbox();
  #length = 0;
  constructor(options) {
    this.capacity = options.capacity;
    this.overflow = options.overflow;
  }
  /** Queued messages. */
  get length() {
    return this.#length;
  }
  /**
   * Queues messages `from` to `to - 1` of `frame`. When that exceeds the
   * capacity, returns the messages the overflow policy removed, in order:
   * the oldest queued ones (drop-oldest) or the newest offered ones.
   */
  offer(link, frame, from, to) {
    const room = this.capacity - this.#length;
    if (to - from <= room) {
      this.#push(link, frame, from, to);
      return void 0;
    }
    const removed = [];
    if (this.overflow === "drop-oldest") {
      this.#push(link, frame, from, to);
      while (this.#length > this.capacity) {
        const run = this.#runs.peek();
        removed.push({
          link: run.link,
          frame: run.frame,
          index: this.take(run)
        });
      }
      return removed;
    }
    if (room > 0) this.#push(link, frame, from, from + room);
    for (let index = from + Math.max(room, 0); index < to; index++) {
      removed.push({
        link,
        frame,
        index
      });
    }
    return removed;
  }
  /** The run holding the oldest message, if any. */
  peek() {
    return this.#runs.peek();
  }
  /** Removes the oldest message, which `run` (from `peek`) holds; returns its frame index. */
  take(run) {
    const index = run.next++;
    this.#length--;
    if (run.next === run.end) this.#runs.shift();
    return index;
  }
  #push(link, frame, from, to) {
    if (to <= from) return;
    this.#runs.offer({
      link,
      frame,
      next: from,
      end: to
    });
    this.#length += to - from;
  }
};

// src/worker/_worker_runtime.ts
var SPANS_PER_POST = 5e3;
var LOGS_PER_POST = 500;
var YIELD_AFTER_MS = 20;
var MAX_SEALED_CHUNKS = 16;
var EAGER_SPANS = 64;
var QUICK_MESSAGE_MS = 0.05;
var MAX_STRIDE2 = 32;
var SHARED_ACK_EVERY = 128;
var LAST_WORD_WAIT_MS = 1e3;
var WorkerRuntime = class {
  #post;
  #behavior;
  #init;
  #sab;
  #state;
  #processed = 0;
  #started = 0;
  #inbox;
  #inbound = /* @__PURE__ */ new Map();
  #cursors = /* @__PURE__ */ new Map();
  #outbound = /* @__PURE__ */ new Map();
  // Links to receivers that stopped gracefully, waiting for their last word.
  #closing = /* @__PURE__ */ new Map();
  #asks = /* @__PURE__ */ new Map();
  #requests = /* @__PURE__ */ new Map();
  #poison = /* @__PURE__ */ new Map();
  #nextId = 1;
  #processing = false;
  #failed = false;
  #stopping = false;
  #stopReason = "stopped";
  #stopExpect = {};
  #stopSent = false;
  #current;
  #item = {
    link: void 0,
    seq: 0,
    body: void 0,
    tp: "",
    ts: void 0,
    ask: void 0,
    redelivered: false
  };
  #replyValue;
  #sinceSnapshot = 0;
  #snapshotInFlight;
  #snapshotCursors = /* @__PURE__ */ new Map();
  #tracer = new Tracer();
  // The handled message's span context; undefined while it is the recorder's (built on demand).
  #currentTrace = newTraceContext(false);
  #currentTp;
  #receive;
  #spans = [];
  #span;
  #logs = [];
  #telemetryScheduled = false;
  #ticking = true;
  #yieldChannel;
  #yieldResolve;
  #ctx;
  #ownHeartbeat;
  /**
   * @param behavior The actor's behaviour.
   * @param post Sends a message to the host.
   * @param ownHeartbeat Beat the heartbeat word on a timer of its own; a pooled
   *   worker beats every runtime it hosts from one timer instead (`beat`).
   */
  constructor(behavior, post, ownHeartbeat = true) {
    this.#behavior = behavior;
    this.#post = post;
    this.#ownHeartbeat = ownHeartbeat;
    this.#ctx = this.#makeContext();
  }
  /** Handles one control message from the host. */
  onControl(message) {
    if (this.#sab) Atomics.add(this.#sab, SAB_HEARTBEAT, 1);
    switch (message.k) {
      case "init":
        return this.#start(message);
      case "link-in":
        return this.#linkIn(message.key, message.from, message.linkId, message.port);
      case "link-out":
        return this.#linkOut(message.target).attach(message.port);
      case "link-error":
        return this.#linkError(message.target, message.error, message.drained === true);
      case "link-close":
        return this.#linkClose(message.key);
      case "snapshot-ack":
        return this.#snapshotAcked(message.version);
      case "reply": {
        const pending = this.#requests.get(message.id);
        if (!pending) return;
        this.#requests.delete(message.id);
        if (message.ok) pending.resolve(message.value);
        else pending.reject(fromErrorInfo(message.error));
        return;
      }
      case "stop":
        this.#stopping = true;
        this.#stopReason = message.reason;
        this.#stopExpect = message.expect;
        if (!this.#processing) void this.#finishStop();
        return;
    }
  }
  /** Tells the host's watchdog this worker is alive. */
  beat() {
    if (this.#sab && this.#ticking) Atomics.add(this.#sab, SAB_HEARTBEAT, 1);
  }
  /** The heartbeat period the host asked for (0 before `init`). */
  get heartbeatMs() {
    return this.#init?.heartbeatMs ?? 0;
  }
  /**
   * Discards this runtime while its worker goes on hosting other actors (a
   * pooled worker): its links close, its timers stop, and nothing it still
   * does (a handler that goes on awaiting) reaches the host any more.
   */
  dispose() {
    this.#failed = true;
    this.#stopping = true;
    this.#ticking = false;
    this.#post = () => {
    };
    this.#yieldChannel?.port1.close();
    this.#yieldChannel?.port2.close();
    for (const link of this.#inbound.values()) link.port.close();
    this.#inbound.clear();
    for (const link of this.#outbound.values()) link.close();
    this.#outbound.clear();
    for (const { timer } of this.#closing.values()) clearTimeout(timer);
    this.#closing.clear();
    for (const pending of [
      ...this.#asks.values(),
      ...this.#requests.values()
    ]) {
      if (pending.timer !== void 0) clearTimeout(pending.timer);
    }
    this.#asks.clear();
    this.#requests.clear();
    this.#spans = [];
    this.#logs = [];
  }
  /** Reports a failure that escaped every handler (uncaught error, unhandled rejection). */
  fail(reason, error) {
    if (this.#failed) return;
    this.#failed = true;
    const message = {
      k: "failed",
      reason,
      error: toErrorInfo(error)
    };
    if (this.#current) {
      message.key = this.#current.link.key;
      message.seq = this.#current.seq;
    }
    this.#span?.recordException(error);
    this.#span?.end();
    this.#flushTelemetry();
    this.#post(message);
  }
  #start(init) {
    this.#init = init;
    this.#sab = new Int32Array(init.sab);
    this.#inbox = new Inbox(init.options.mailbox);
    for (const entry of init.poison) this.#poison.set(`${entry.key}:${entry.seq}`, entry);
    if (init.tracing) {
      this.#tracer = new Tracer(this.#spanSink());
      this.#receive = new ReceiveSpanRecorder(init.path, init.incarnation, (span) => {
        this.#spans.push(span);
        this.#scheduleTelemetry();
      });
    }
    try {
      const snap = init.snapshot?.data;
      if (snap) {
        this.#state = this.#behavior.restore ? this.#behavior.restore(snap.state) : snap.state;
        this.#processed = snap.processed;
        for (const [key, seq] of Object.entries(snap.cursors)) this.#cursors.set(key, seq);
        for (const [target, outbox] of Object.entries(snap.outbox)) {
          this.#outbound.set(target, this.#newOutbound(target, outbox));
        }
      } else {
        const initial = this.#behavior.initialState;
        this.#state = typeof initial === "function" ? initial(init.args) : initial;
      }
    } catch (error) {
      this.#failed = true;
      this.#post({
        k: "init-failed",
        error: toErrorInfo(error)
      });
      return;
    }
    if (this.#ownHeartbeat) this.#every(init.heartbeatMs, () => this.beat());
    const policy = init.options.snapshot;
    if (policy.mode === "interval") this.#every(policy.ms, () => this.#maybeSnapshot(true));
    this.#post({
      k: "ready",
      restoredSeq: this.#processed
    });
    for (const [target, link] of this.#outbound) {
      this.#post({
        k: "connect",
        target,
        space: link.space
      });
    }
  }
  // Periodic work without platform timers: the first timer of a fresh worker
  // costs milliseconds of start-up, Atomics.waitAsync on a quiet word does not.
  #every(ms, fn) {
    const loop = () => {
      if (!this.#ticking) return;
      const wait = Atomics.waitAsync(this.#sab, SAB_TICK, 0, ms);
      if (wait.async) {
        void wait.value.then(() => {
          if (!this.#ticking) return;
          fn();
          loop();
        });
      }
    };
    loop();
  }
  // Lets queued events (incoming frames, host control messages) run.
  #yield() {
    if (!this.#yieldChannel) {
      this.#yieldChannel = new MessageChannel();
      this.#yieldChannel.port1.onmessage = () => this.#yieldResolve?.();
    }
    return new Promise((resolve) => {
      this.#yieldResolve = resolve;
      this.#yieldChannel.port2.postMessage(null);
    });
  }
  // ---- inbound -------------------------------------------------------------
  #linkIn(key, from, linkId, port) {
    const previous = this.#inbound.get(key);
    if (previous) {
      this.#saveCursor(previous);
      previous.port.close();
    }
    const link = {
      key,
      from,
      linkId,
      port,
      done: this.#cursors.get(key),
      ahead: /* @__PURE__ */ new Set(),
      received: 0,
      ackSent: 0,
      acks: void 0
    };
    link.ackSent = link.done ?? 0;
    this.#inbound.set(key, link);
    for (const other of this.#cursors.keys()) {
      if (other !== key && other.startsWith(`${from}#`) && !this.#inbound.has(other)) {
        this.#cursors.delete(other);
      }
    }
    port.onmessage = (event) => {
      const frame = event.data;
      if (frame.k === "b") this.#onBatch(link, frame);
      else link.acks = new Int32Array(frame.acks);
    };
    if (this.#stopSent) this.#sayLastWord(port);
  }
  #linkClose(key) {
    const link = this.#inbound.get(key);
    if (!link) return;
    this.#saveCursor(link);
    link.port.close();
    this.#inbound.delete(key);
  }
  // A link's `done` is its live cursor; `#cursors` catches up on demand.
  #saveCursor(link) {
    if (link.done !== void 0) this.#cursors.set(link.key, link.done);
  }
  #onBatch(link, frame) {
    if (this.#failed || this.#inbound.get(link.key) !== link) return;
    Atomics.add(this.#sab, SAB_HEARTBEAT, 1);
    if (link.done === void 0 || link.received === 0 && frame.s > link.done + 1) {
      link.done = Math.max(link.done ?? 0, frame.s - 1);
    }
    const count = frame.m.length;
    const from = Math.max(0, Math.max(link.done, link.received) + 1 - frame.s);
    if (from >= count) return this.#afterBatch();
    if (frame.x === void 0 && link.ahead.size === 0) {
      link.received = frame.s + count - 1;
      this.#enqueue(link, frame, from, count);
      return this.#afterBatch();
    }
    let start = from;
    for (let i = from; i < count; i++) {
      const seq = frame.s + i;
      const gap = frame.x?.[i]?.g === 1;
      if (!gap && !link.ahead.has(seq) && seq > link.done) continue;
      this.#enqueue(link, frame, start, i);
      start = i + 1;
      if (seq > link.received) link.received = seq;
      if (gap && seq > link.done) this.#complete(link, seq);
    }
    link.received = Math.max(link.received, frame.s + count - 1);
    this.#enqueue(link, frame, start, count);
    this.#afterBatch();
  }
  #enqueue(link, frame, from, to) {
    if (to <= from) return;
    const removed = this.#inbox.offer(link, frame, from, to);
    if (!removed) return;
    const inbox = this.#inbox;
    const error = toErrorInfo(new MailboxFullError(this.#init.path, inbox.capacity));
    if (inbox.overflow === "reject") {
      const seqs = [];
      const asks = [];
      for (const { index } of removed) {
        const seq = frame.s + index;
        this.#complete(link, seq);
        seqs.push(seq);
        const ask = frame.x?.[index]?.a;
        if (ask !== void 0) asks.push(ask);
      }
      link.port.postMessage({
        k: "x",
        seqs,
        asks,
        e: error
      });
      this.#post({
        k: "dropped",
        key: link.key,
        from: link.from,
        seq: seqs[0],
        policy: `reject:${seqs.length}`
      });
      return;
    }
    for (const slot of removed) {
      const seq = slot.frame.s + slot.index;
      this.#complete(slot.link, seq);
      this.#post({
        k: "dropped",
        key: slot.link.key,
        from: slot.link.from,
        seq,
        policy: inbox.overflow
      });
      const ask = slot.frame.x?.[slot.index]?.a;
      if (ask !== void 0) this.#sendReply(slot.link, ask, false, error);
    }
  }
  #afterBatch() {
    if (this.#processing) return;
    if (this.#inbox.length > 0) void this.#drain();
    else this.#afterDrain();
  }
  #complete(link, seq) {
    if (link.done === void 0) link.done = seq - 1;
    if (seq === link.done + 1) {
      link.done = seq;
      if (link.ahead.size > 0) {
        while (link.ahead.delete(link.done + 1)) link.done++;
      }
    } else if (seq > link.done) {
      link.ahead.add(seq);
    }
  }
  // ---- processing ----------------------------------------------------------
  async #drain() {
    this.#processing = true;
    let sliceStart = performance.now();
    let lastCheck = sliceStart;
    let stride = 1;
    let untilCheck = 1;
    let sinceAck = 0;
    const sab = this.#sab;
    const behavior = this.#behavior;
    const inbox = this.#inbox;
    const tracing = this.#tracer.enabled;
    const stateless = this.#init.options.snapshot.mode === "never";
    while (!this.#failed) {
      const run = inbox.peek();
      if (!run) break;
      const index = inbox.take(run);
      const { link, frame } = run;
      const extra = frame.x === void 0 ? void 0 : frame.x[index];
      const item = this.#item;
      item.link = link;
      item.seq = frame.s + index;
      item.body = frame.m[index];
      item.tp = extra?.tp ?? frame.tp ?? "";
      item.ts = extra?.ts ?? frame.ts;
      item.ask = extra?.a;
      item.redelivered = frame.r === 1;
      if (this.#poison.size > 0) {
        const poison = this.#poison.get(`${link.key}:${item.seq}`);
        if (poison) {
          this.#deadLetter(item, poison);
          continue;
        }
      }
      this.#current = item;
      this.#replyValue = void 0;
      const span = tracing ? this.#startMessageSpan(item) : void 0;
      sab[SAB_LINK] = link.linkId;
      sab[SAB_SEQ] = item.seq;
      sab[SAB_STARTED] = this.#started = this.#started + 1 | 0;
      Atomics.store(sab, SAB_BUSY, 1);
      try {
        let next = behavior.receive(this.#state, item.body, this.#ctx);
        if (next instanceof Promise) {
          span?.suspend?.();
          next = await next;
        }
        this.#state = next;
      } catch (error) {
        span?.recordException(error);
        span?.end();
        this.#failed = true;
        this.#flushTelemetry();
        this.#post({
          k: "failed",
          reason: "exception",
          error: toErrorInfo(error),
          key: link.key,
          seq: item.seq
        });
        return;
      }
      sab[SAB_BUSY] = 0;
      span?.end();
      this.#current = void 0;
      this.#complete(link, item.seq);
      this.#processed++;
      if (stateless) {
        if (item.ask !== void 0) {
          this.#sendReply(link, item.ask, true, this.#replyValue, link.done);
          if (link.done > link.ackSent) this.#acked(link, link.done);
        } else if (++sinceAck >= SHARED_ACK_EVERY && link.acks) {
          sinceAck = 0;
          Atomics.store(link.acks, 0, link.done | 0);
        }
      } else {
        if (item.ask !== void 0) this.#sendReply(link, item.ask, true, this.#replyValue);
        this.#sinceSnapshot++;
        this.#maybeSnapshot(false);
      }
      if (--untilCheck === 0) {
        const now = performance.now();
        if (now - sliceStart > YIELD_AFTER_MS) {
          await this.#yield();
          sliceStart = lastCheck = performance.now();
          stride = 1;
        } else {
          stride = now - lastCheck < stride * QUICK_MESSAGE_MS ? Math.min(stride * 2, MAX_STRIDE2) : 1;
          lastCheck = now;
        }
        untilCheck = stride;
      }
    }
    this.#processing = false;
    this.#afterDrain();
  }
  #afterDrain() {
    if (this.#failed) return;
    const held = this.#receive?.idle() ?? 0;
    if (this.#logs.length > 0 || this.#spans.length > 0 || held > 0 && held <= EAGER_SPANS) {
      this.#flushTelemetry();
    }
    for (const link of this.#outbound.values()) link.flush();
    this.#ackStateless();
    this.#maybeSnapshot(true);
    if (this.#stopping) void this.#finishStop();
  }
  #deadLetter(item, entry) {
    const { link, seq } = item;
    try {
      this.#post({
        k: "dead-letter",
        key: link.key,
        from: link.from,
        seq,
        body: item.body,
        error: entry.error,
        attempts: entry.attempts
      });
    } catch {
      this.#post({
        k: "dead-letter",
        key: link.key,
        from: link.from,
        seq,
        body: null,
        error: entry.error,
        attempts: entry.attempts
      });
    }
    if (item.ask !== void 0) {
      const error = new ActorFailedError(this.#init.path, `message dead-lettered after ${entry.attempts} failed deliveries: ${entry.error.message}`);
      this.#sendReply(link, item.ask, false, toErrorInfo(error));
    }
    this.#poison.delete(`${link.key}:${seq}`);
    this.#complete(link, seq);
    this.#processed++;
    this.#sinceSnapshot++;
  }
  #sendReply(link, ask, ok, value, upTo) {
    const reply = ok ? {
      k: "r",
      a: ask,
      ok: true,
      v: value
    } : {
      k: "r",
      a: ask,
      ok: false,
      e: value
    };
    if (upTo !== void 0 && upTo > link.ackSent) reply.upTo = upTo;
    try {
      link.port.postMessage(reply);
    } catch (error) {
      const info = toErrorInfo(new MessageNotCloneableError(link.from, {
        cause: error
      }));
      const failure = {
        k: "r",
        a: ask,
        ok: false,
        e: info
      };
      if (reply.upTo !== void 0) failure.upTo = reply.upTo;
      link.port.postMessage(failure);
    }
  }
  // ---- snapshots and acknowledgements -------------------------------------
  #ackStateless() {
    if (this.#init.options.snapshot.mode !== "never") return;
    for (const link of this.#inbound.values()) {
      if (link.done !== void 0 && link.done > link.ackSent) {
        this.#acked(link, link.done);
        link.port.postMessage({
          k: "a",
          upTo: link.done
        });
      }
    }
  }
  // Records an acknowledgement and publishes it in the link's shared word.
  #acked(link, upTo) {
    link.ackSent = upTo;
    if (link.acks) Atomics.store(link.acks, 0, upTo | 0);
  }
  #maybeSnapshot(endOfDrain) {
    const policy = this.#init.options.snapshot;
    if (policy.mode === "never" || this.#snapshotInFlight !== void 0 || this.#sinceSnapshot === 0) return;
    if (policy.mode === "messages" && this.#sinceSnapshot < policy.every) return;
    if (policy.mode === "interval" && !endOfDrain) return;
    if (policy.mode === "interval" && this.#processing) return;
    this.#takeSnapshot();
  }
  #takeSnapshot() {
    const outbox = {};
    for (const [target, link] of this.#outbound) {
      const state3 = link.state();
      if (state3.frames.length > 0 || state3.nextSeq > 1) outbox[target] = state3;
    }
    let state2;
    try {
      state2 = this.#behavior.snapshot ? this.#behavior.snapshot(this.#state) : this.#state;
    } catch (error) {
      this.#failed = true;
      this.#post({
        k: "failed",
        reason: "exception",
        error: toErrorInfo(error)
      });
      return;
    }
    const version = this.#processed;
    for (const link of this.#inbound.values()) this.#saveCursor(link);
    this.#snapshotCursors.set(version, new Map(this.#cursors));
    this.#snapshotInFlight = version;
    this.#sinceSnapshot = 0;
    const data = {
      state: state2,
      cursors: Object.fromEntries(this.#cursors),
      outbox,
      processed: version
    };
    try {
      this.#post({
        k: "snapshot",
        incarnation: this.#init.incarnation,
        version,
        data
      });
    } catch (error) {
      this.#failed = true;
      this.#post({
        k: "failed",
        reason: "exception",
        error: toErrorInfo(error)
      });
    }
  }
  #snapshotAcked(version) {
    const cursors = this.#snapshotCursors.get(version);
    for (const v of this.#snapshotCursors.keys()) if (v <= version) this.#snapshotCursors.delete(v);
    if (this.#snapshotInFlight !== void 0 && this.#snapshotInFlight <= version) {
      this.#snapshotInFlight = void 0;
    }
    if (cursors) {
      for (const [key, upTo] of cursors) {
        const link = this.#inbound.get(key);
        if (link && upTo > link.ackSent) {
          this.#acked(link, upTo);
          link.port.postMessage({
            k: "a",
            upTo
          });
        }
      }
    }
    if (this.#failed) return;
    if (!this.#processing) this.#maybeSnapshot(true);
    else this.#maybeSnapshot(false);
    if (this.#stopping && !this.#processing) void this.#finishStop();
  }
  async #finishStop() {
    if (this.#processing || this.#failed) return;
    if (this.#inbox.length > 0) return void this.#drain();
    if (!this.#expectedArrived()) return;
    for (const link of this.#outbound.values()) link.flush();
    if (this.#init.options.snapshot.mode !== "never") {
      if (this.#sinceSnapshot > 0 && this.#snapshotInFlight === void 0) this.#takeSnapshot();
      if (this.#snapshotInFlight !== void 0) return;
    }
    this.#flushTelemetry();
    this.#ticking = false;
    this.#yieldChannel?.port1.close();
    await Promise.resolve();
    if (this.#stopSent) return;
    this.#stopSent = true;
    for (const link of this.#inbound.values()) this.#sayLastWord(link.port);
    this.#post({
      k: "stopped"
    });
  }
  // Whether every message sent before the stop (as the host saw it) arrived.
  #expectedArrived() {
    for (const [key, seq] of Object.entries(this.#stopExpect)) {
      const link = this.#inbound.get(key);
      if (link && link.received < seq && (link.done ?? 0) < seq) return false;
    }
    return true;
  }
  #sayLastWord(port) {
    const error = toErrorInfo(new ActorStoppedError(this.#init.path, this.#stopReason));
    port.postMessage({
      k: "z",
      e: error
    });
  }
  // ---- outbound ------------------------------------------------------------
  #linkOut(target) {
    let link = this.#outbound.get(target);
    if (!link) {
      link = this.#newOutbound(target);
      this.#outbound.set(target, link);
    }
    return link;
  }
  #newOutbound(target, restored) {
    const link = new OutboundLink(target, {
      onReply: (askId, reply) => {
        const pending = this.#asks.get(askId);
        if (!pending) return;
        this.#asks.delete(askId);
        if (pending.timer !== void 0) clearTimeout(pending.timer);
        if (reply.ok) pending.resolve(reply.value);
        else pending.reject(fromErrorInfo(reply.error));
      },
      onRefused: (_seqs, asks, error) => {
        for (const id of asks) this.#rejectAsk(id, fromErrorInfo(error));
        this.#post({
          k: "undeliverable",
          target,
          error
        });
      },
      onCloneFailure: (_seq, askId, error) => {
        const failure = new MessageNotCloneableError(target, {
          cause: error
        });
        if (askId !== void 0) this.#rejectAsk(askId, failure);
        this.#post({
          k: "undeliverable",
          target,
          error: toErrorInfo(failure)
        });
      },
      onClosed: () => {
        const parked = this.#closing.get(link);
        if (!parked) return;
        clearTimeout(parked.timer);
        this.#closeOutbound(link, parked.error);
      }
    }, restored);
    return link;
  }
  #connected(target) {
    let link = this.#outbound.get(target);
    if (!link) {
      link = this.#linkOut(target);
      this.#post({
        k: "connect",
        target,
        space: link.space
      });
    }
    return link;
  }
  #linkError(target, error, drained) {
    const link = this.#outbound.get(target);
    if (!link) return;
    this.#outbound.delete(target);
    if (drained && link.attached && !link.receiverClosed) {
      const timer = setTimeout(() => this.#closeOutbound(link, error), LAST_WORD_WAIT_MS);
      this.#closing.set(link, {
        error,
        timer
      });
      return;
    }
    this.#closeOutbound(link, error);
  }
  // Fails the asks the link's receiver will never answer, and closes the link.
  #closeOutbound(link, error) {
    this.#closing.delete(link);
    const failure = fromErrorInfo(error);
    for (const [id, pending] of this.#asks) {
      if (pending.link === link) this.#rejectAsk(id, failure);
    }
    link.close();
  }
  #rejectAsk(id, error) {
    const pending = this.#asks.get(id);
    if (!pending) return;
    this.#asks.delete(id);
    if (pending.timer !== void 0) clearTimeout(pending.timer);
    pending.reject(error);
  }
  #send(target, body, askId) {
    if (typeof target !== "string" || target.length === 0) {
      throw new TypeError(`Invalid target ${JSON.stringify(target)}: expected an actor path`);
    }
    const bad = findUncloneable(body);
    if (bad) throw new MessageNotCloneableError(target, {
      cause: new TypeError(bad)
    });
    const link = this.#connected(target);
    link.send(body, this.#currentTraceparent(), this.#trace().tracestate, askId);
    return link;
  }
  #currentTraceparent() {
    const item = this.#current;
    if (!this.#tracer.enabled && item?.tp) return item.tp;
    return this.#currentTp ??= formatTraceparent(this.#trace());
  }
  #trace() {
    return this.#currentTrace ??= this.#receive.context;
  }
  #request(request) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#requests.set(id, {
        resolve,
        reject
      });
      this.#post({
        k: "request",
        id,
        request
      });
    });
  }
  // ---- tracing and logs ----------------------------------------------------
  #startMessageSpan(item) {
    const receive = this.#receive;
    if (receive.begin(item.tp, item.ts, item.link.from, item.seq, item.redelivered)) {
      if (this.#currentTrace !== void 0) this.#currentTrace = this.#currentTp = void 0;
      if (this.#span !== receive) this.#span = receive;
      if (receive.sealedChunks >= MAX_SEALED_CHUNKS) this.#flushTelemetry();
      else if (!this.#telemetryScheduled) this.#scheduleTelemetry();
      return receive;
    }
    const parent = parseTraceparent(item.tp, item.ts);
    const span = this.#tracer.startSpan(receiveSpanName(this.#init.path), {
      parent,
      kind: "consumer",
      attributes: {
        "oao.actor": this.#init.path,
        "oao.message.from": item.link.from,
        "oao.message.seq": item.seq,
        "oao.actor.incarnation": this.#init.incarnation,
        "oao.message.redelivered": item.redelivered
      }
    });
    this.#currentTrace = span.context;
    this.#currentTp = void 0;
    this.#span = span;
    return span;
  }
  #spanSink() {
    return {
      export: (spans) => {
        for (const span of spans) this.#spans.push(span);
        this.#scheduleTelemetry();
      },
      flush: () => Promise.resolve(this.#flushTelemetry()),
      shutdown: () => Promise.resolve(this.#flushTelemetry())
    };
  }
  #scheduleTelemetry() {
    if (this.#telemetryScheduled) return;
    this.#telemetryScheduled = true;
    setTimeout(() => this.#flushTelemetry(), 20);
  }
  #flushTelemetry() {
    this.#telemetryScheduled = false;
    const packed = this.#receive?.take();
    while (this.#spans.length > SPANS_PER_POST) {
      this.#post({
        k: "spans",
        spans: this.#spans.splice(0, SPANS_PER_POST)
      });
    }
    if (this.#spans.length > 0 || packed && packed.length > 0) {
      const spans = this.#spans;
      this.#spans = [];
      const message = {
        k: "spans",
        spans
      };
      const transfer = [];
      if (packed && packed.length > 0) {
        message.packed = packed;
        for (const c of packed) {
          for (const column of [
            c.ids,
            c.times,
            c.seqs,
            c.origin
          ]) {
            transfer.push(column.buffer);
          }
        }
      }
      this.#post(message, transfer);
    }
    while (this.#logs.length > 0) {
      this.#post({
        k: "logs",
        records: this.#logs.splice(0, LOGS_PER_POST)
      });
    }
  }
  #log(level, message, properties) {
    const props = {
      ...properties,
      actor: this.#init.path
    };
    if (this.#current) props.traceId = this.#ctx.trace.traceId;
    let record = {
      level,
      message: String(message),
      properties: props
    };
    if (findUncloneable(props)) {
      record = {
        level,
        message: String(message),
        properties: {
          actor: this.#init.path,
          note: "properties were not cloneable"
        }
      };
    }
    this.#logs.push(record);
    this.#scheduleTelemetry();
  }
  // ---- context -------------------------------------------------------------
  #makeContext() {
    const rt = this;
    const logger = {
      debug: (m, p) => rt.#log("debug", m, p),
      info: (m, p) => rt.#log("info", m, p),
      warn: (m, p) => rt.#log("warning", m, p),
      error: (m, p) => rt.#log("error", m, p)
    };
    return {
      get self() {
        return rt.#init.path;
      },
      get args() {
        return rt.#init.args;
      },
      get incarnation() {
        return rt.#init.incarnation;
      },
      get message() {
        const item = rt.#current;
        if (!item) throw new Error(`No message is being handled by "${rt.#init.path}"`);
        const meta = {
          id: `${item.link.key}:${item.seq}`,
          from: item.link.from,
          seq: item.seq,
          traceparent: item.tp,
          redelivered: item.redelivered,
          isAsk: item.ask !== void 0
        };
        if (item.ts) meta.tracestate = item.ts;
        return meta;
      },
      get trace() {
        const item = rt.#current;
        if (!rt.#tracer.enabled && item) {
          return parseTraceparent(item.tp, item.ts) ?? rt.#trace();
        }
        return rt.#trace();
      },
      log: logger,
      tell(target, message) {
        rt.#send(target, message);
      },
      ask(target, message, options = {}) {
        const timeoutMs = options.timeoutMs ?? 5e3;
        const id = rt.#nextId++;
        return new Promise((resolve, reject) => {
          const pending = {
            resolve,
            reject
          };
          if (Number.isFinite(timeoutMs)) {
            pending.timer = setTimeout(() => rt.#rejectAsk(id, new AskTimeoutError(target, timeoutMs)), timeoutMs);
          }
          rt.#asks.set(id, pending);
          try {
            pending.link = rt.#send(target, message, id);
          } catch (error) {
            rt.#rejectAsk(id, error);
          }
        });
      },
      reply(value) {
        if (!rt.#current) {
          throw new Error(`reply() called outside a message handler of "${rt.#init.path}"`);
        }
        rt.#replyValue = value;
      },
      async spawn(module, options = {}) {
        const url = new URL(module, rt.#init.module).href;
        const bad = findUncloneable(options);
        if (bad) throw new TypeError(`Invalid spawn options: ${bad}`);
        return await rt.#request({
          op: "spawn",
          module: url,
          options
        });
      },
      async stop(target, options = {}) {
        await rt.#request({
          op: "stop",
          target,
          mode: options.mode ?? "graceful"
        });
      },
      async call(service, payload) {
        const bad = findUncloneable(payload);
        if (bad) {
          throw new MessageNotCloneableError(`service:${service}`, {
            cause: new TypeError(bad)
          });
        }
        return await rt.#request({
          op: "call",
          service,
          payload
        });
      }
    };
  }
};

// src/worker/_guest_hardening.ts
function hardenGuest(scope = globalThis) {
  const post = scope.postMessage.bind(scope);
  const exiting = (what) => function exit() {
    const message = `The actor called ${what}: an actor may not end its worker`;
    try {
      post({
        k: "failed",
        reason: "worker_exited",
        error: {
          name: "Error",
          message
        }
      });
    } catch {
    }
    throw new Error(message);
  };
  lock(Deno, "exit", exiting("Deno.exit()"));
  lock(scope, "close", exiting("self.close()"));
  const refuse = (what) => function refused() {
    throw new EvalError(`${what} is disabled inside an actor: code made from strings could import modules that were not verified`);
  };
  const intrinsic = [
    Function,
    Object.getPrototypeOf(async function() {
    }).constructor,
    Object.getPrototypeOf(function* () {
    }).constructor,
    Object.getPrototypeOf(async function* () {
    }).constructor
  ];
  for (const constructor of intrinsic) {
    const replacement = refuse(constructor.name);
    Object.defineProperty(replacement, "prototype", {
      value: constructor.prototype
    });
    Object.defineProperty(replacement, "name", {
      value: constructor.name
    });
    lock(constructor.prototype, "constructor", replacement);
    if (constructor === Function) lock(scope, "Function", replacement);
  }
  lock(scope, "eval", refuse("eval"));
  const internal = Deno.internal;
  if (typeof internal === "symbol") delete Deno[internal];
  delete scope.Worker;
}
function lock(target, key, value) {
  Object.defineProperty(target, key, {
    value,
    writable: false,
    enumerable: false,
    configurable: false
  });
}

// src/worker/actor_worker.ts
function startActorWorker(module) {
  const scope = globalThis;
  const post = (message, transfer) => transfer ? scope.postMessage(message, transfer) : scope.postMessage(message);
  let runtime;
  let invalid;
  try {
    runtime = new WorkerRuntime(behaviorFromModule(module), post);
  } catch (error) {
    invalid = error;
  }
  scope.onmessage = (event) => {
    if (runtime) return runtime.onControl(event.data);
    if (event.data.k === "init") post({
      k: "init-failed",
      error: toErrorInfo(invalid)
    });
  };
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    runtime?.fail("unhandled_rejection", event.reason);
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    runtime?.fail("worker_error", event.error ?? new Error(event.message));
  });
}
function startPooledActorWorker(module) {
  const scope = globalThis;
  let behavior;
  let invalid;
  try {
    behavior = behaviorFromModule(module);
  } catch (error) {
    invalid = error;
  }
  const runtimes = /* @__PURE__ */ new Map();
  let retired = false;
  scope.onmessage = (event) => {
    const data = event.data;
    if ("ping" in data) return scope.postMessage({
      pong: data.ping
    });
    if ("drop" in data) {
      runtimes.get(data.s)?.dispose();
      runtimes.delete(data.s);
      return;
    }
    const s = data.s;
    let runtime = runtimes.get(s);
    if (!runtime) {
      if (data.m.k !== "init" || retired) return;
      const post = (message, transfer) => transfer ? scope.postMessage({
        s,
        m: message
      }, transfer) : scope.postMessage({
        s,
        m: message
      });
      if (!behavior) return post({
        k: "init-failed",
        error: toErrorInfo(invalid)
      });
      runtime = new WorkerRuntime(behavior, post, false);
      runtimes.set(s, runtime);
    }
    runtime.onControl(data.m);
    if (heartbeat === void 0 && runtime.heartbeatMs > 0) beatEvery(runtime.heartbeatMs);
  };
  let heartbeat;
  const beatEvery = (ms) => {
    heartbeat = setInterval(() => {
      for (const runtime of runtimes.values()) runtime.beat();
    }, ms);
  };
  const crash = (reason, error) => {
    if (retired) return;
    retired = true;
    for (const runtime of runtimes.values()) runtime.fail(reason, error);
    scope.postMessage({
      k: "retire",
      error: toErrorInfo(error)
    });
  };
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    crash("unhandled_rejection", event.reason);
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    crash("worker_error", event.error ?? new Error(event.message));
  });
}
export {
  hardenGuest,
  startActorWorker,
  startPooledActorWorker
};
