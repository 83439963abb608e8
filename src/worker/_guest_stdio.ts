// What an actor's code writes to stdout and stderr, and reads from stdin,
// inside an actor worker. Internal: `hardenGuest` installs it.
//
// A worker thread shares its process's stdio. In the orchestrator's process
// (sandbox "thread") an agent's `console.error` reached the orchestrator's
// stderr byte for byte: it could forge the orchestrator's log lines (another
// execution's EXECUTION_COMPLETED, ANSI codes, `\r`), flood it, and read the
// orchestrator's stdin. Now every line an actor writes — `console.*`,
// `Deno.stdout`/`Deno.stderr`, `process.stdout`/`process.stderr` — goes out
// as one line starting with `[agent] `, control and bidirectional characters
// escaped, at most 8,192 characters, within 1 MiB a second (what is over is
// dropped, and said once a second); stdin is at its end.
import { guestConsole } from "./_guest_console.ts";

const PREFIX = "[agent] ";
const MAX_LINE = 8_192;
const BYTES_PER_SECOND = 1_048_576;
const encoder = new TextEncoder();
// C0 and C1 controls but tab, DEL, and the bidirectional overrides that reorder what a terminal shows.
// deno-lint-ignore no-control-regex
const UNSAFE = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Where an actor's lines go: one of the process's own streams, written in full. */
type RawWrite = (bytes: Uint8Array) => void;

/** Cuts text into safe lines on one of the process's streams, within the shared budget. */
class LineSink {
  readonly #write: RawWrite;
  readonly #budget: Budget;
  readonly #decoder = new TextDecoder();

  constructor(write: RawWrite, budget: Budget) {
    this.#write = write;
    this.#budget = budget;
  }

  text(chunk: string): void {
    if (chunk.length === 0) return;
    const lines = chunk.split("\n");
    if (lines.at(-1) === "") lines.pop();
    let out = "";
    for (const line of lines) {
      const cut = line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}…` : line;
      out += `${PREFIX}${cut.replace(UNSAFE, escape)}\n`;
    }
    const bytes = encoder.encode(out);
    const { fits, note } = this.#budget.take(bytes.byteLength);
    if (fits) this.#write(bytes);
    else if (note) this.#write(encoder.encode(note));
  }

  bytes(chunk: Uint8Array): void {
    this.text(this.#decoder.decode(chunk, { stream: true }));
  }
}

/** 1 MiB a second for all of a worker's lines; what is over is dropped, and said once a second. */
class Budget {
  #second = -1;
  #used = 0;
  #said = false;

  /** Whether `bytes` more fit in this second, and the line to write when they first do not. */
  take(bytes: number): { fits: boolean; note?: string } {
    const second = Math.floor(performance.now() / 1_000);
    if (second !== this.#second) {
      this.#second = second;
      this.#used = 0;
      this.#said = false;
    }
    if (this.#used + bytes <= BYTES_PER_SECOND) {
      this.#used += bytes;
      return { fits: true };
    }
    if (this.#said) return { fits: false };
    this.#said = true;
    return {
      fits: false,
      note:
        `${PREFIX}… output dropped: this worker's actors wrote over ${BYTES_PER_SECOND} bytes in a second\n`,
    };
  }
}

function escape(char: string): string {
  return `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

function writeAll(stream: { writeSync(p: Uint8Array): number }): RawWrite {
  return (bytes) => {
    try {
      for (let at = 0; at < bytes.byteLength;) at += stream.writeSync(bytes.subarray(at));
    } catch {
      // A closed or broken stream: what an actor writes is not worth failing it.
    }
  };
}

/**
 * An `Deno.stdout`-like stream whose writes go to `sink`. Not frozen: Deno's
 * `node:process` decorates the streams it finds when it is first loaded.
 */
function denoWriter(sink: LineSink): object {
  let writable: WritableStream<Uint8Array> | undefined;
  return ({
    write: (p: Uint8Array) => Promise.resolve((sink.bytes(p), p.byteLength)),
    writeSync: (p: Uint8Array) => (sink.bytes(p), p.byteLength),
    get writable() {
      return writable ??= new WritableStream({ write: (chunk) => sink.bytes(chunk) });
    },
    close() {},
    isTerminal: () => false,
    [Symbol.dispose]() {},
  });
}

/** A `Deno.stdin`-like stream at its end. */
function denoReader(): object {
  return ({
    read: () => Promise.resolve(null),
    readSync: () => null,
    get readable() {
      return new ReadableStream({ start: (controller) => controller.close() });
    },
    setRaw() {
      throw new Deno.errors.NotCapable("An actor may not set the terminal's mode");
    },
    close() {},
    isTerminal: () => false,
    [Symbol.dispose]() {},
  });
}

/**
 * Gives `node:process`'s object confined `stdout`, `stderr` and `stdin`:
 * small stand-ins for Node's streams (writes go to the sinks, stdin is at
 * its end). Deno's own are made from its node streams, which a worker does
 * not load unless it must.
 */
function confineNodeStreams(
  process: object,
  sinks: { out: LineSink; err: LineSink },
  lock: (target: object, key: string, value: unknown) => void,
): void {
  lock(process, "stdout", nodeWriter(sinks.out, 1));
  lock(process, "stderr", nodeWriter(sinks.err, 2));
  lock(process, "stdin", nodeReader());
}

// What piping and event code calls on a stream, doing nothing.
function quietEmitter<T extends object>(target: T): T {
  const self = () => target;
  return Object.assign(target, {
    on: self,
    once: self,
    off: self,
    addListener: self,
    prependListener: self,
    prependOnceListener: self,
    removeListener: self,
    removeAllListeners: self,
    setMaxListeners: self,
    emit: () => false,
    listenerCount: () => 0,
  });
}

function nodeWriter(sink: LineSink, fd: number): object {
  const writer = quietEmitter({
    fd,
    isTTY: false,
    writable: true,
    write(chunk: unknown, encoding?: unknown, done?: unknown): boolean {
      if (typeof chunk === "string") sink.text(chunk);
      else if (chunk instanceof Uint8Array) sink.bytes(chunk);
      const callback = typeof encoding === "function" ? encoding : done;
      if (typeof callback === "function") queueMicrotask(() => callback());
      return true;
    },
    end(chunk?: unknown): object {
      if (chunk !== undefined && typeof chunk !== "function") writer.write(chunk);
      return writer;
    },
    cork() {},
    uncork() {},
    destroy: () => writer,
    setDefaultEncoding: () => writer,
  });
  return writer;
}

function nodeReader(): object {
  const reader: object = quietEmitter({
    fd: 0,
    isTTY: false,
    readable: false,
    readableEnded: true,
    read: () => null,
    pause: () => reader,
    resume: () => reader,
    setEncoding: () => reader,
    pipe: <T extends { end?: () => unknown }>(target: T) => (target.end?.(), target),
    unpipe: () => reader,
    destroy: () => reader,
    setRawMode() {
      throw new Deno.errors.NotCapable("An actor may not set the terminal's mode");
    },
    async *[Symbol.asyncIterator]() {},
  });
  return reader;
}

/**
 * Sends the worker's stdio through escaped, prefixed, bounded lines (see
 * the module comment). Call once, from `hardenGuest`. The confined console
 * and streams are made when the actor first reads them (most actors never
 * write a line, and a worker's start-up should not pay for them); the
 * process's own streams are taken now, before anything can replace them.
 *
 * @param scope The worker's global object.
 * @param lock Defines a property that cannot be changed again.
 * @returns What confines the streams of `node:process`'s object, once it is made.
 */
export function confineStdio(
  scope: typeof globalThis,
  lock: (target: object, key: string, value: unknown) => void,
): (process: object) => void {
  const stdout = writeAll(Deno.stdout);
  const stderr = writeAll(Deno.stderr);
  let made: { out: LineSink; err: LineSink } | undefined;
  const sinks = () => {
    if (made) return made;
    const budget = new Budget();
    return made = { out: new LineSink(stdout, budget), err: new LineSink(stderr, budget) };
  };
  lockLazily(
    scope,
    "console",
    () => guestConsole({ out: (t) => sinks().out.text(t), err: (t) => sinks().err.text(t) }),
  );
  lockLazily(Deno, "stdout", () => denoWriter(sinks().out));
  lockLazily(Deno, "stderr", () => denoWriter(sinks().err));
  lockLazily(Deno, "stdin", denoReader);
  return (process) => confineNodeStreams(process, sinks(), lock);
}

// A property that cannot be changed again, whose value is made on first read.
function lockLazily(target: object, key: string, make: () => unknown): void {
  let value: unknown;
  let done = false;
  Object.defineProperty(target, key, {
    get: () => {
      // No destructuring: it would run the actor's Array.prototype[Symbol.iterator].
      if (!done) {
        value = make();
        done = true;
      }
      return value;
    },
    enumerable: false,
    configurable: false,
  });
}
