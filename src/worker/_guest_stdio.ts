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
import { Console } from "node:console";
import { Readable, Writable } from "node:stream";

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

/** An `Deno.stdout`-like stream whose writes go to `sink`. */
function denoWriter(sink: LineSink): object {
  let writable: WritableStream<Uint8Array> | undefined;
  return Object.freeze({
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
  return Object.freeze({
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

function nodeWriter(sink: LineSink): Writable {
  return new Writable({
    write(chunk: Uint8Array | string, _encoding, done) {
      if (typeof chunk === "string") sink.text(chunk);
      else sink.bytes(chunk);
      done();
    },
  });
}

/**
 * Sends the worker's stdio through escaped, prefixed, bounded lines (see
 * the module comment). Call once, from `hardenGuest`.
 *
 * @param scope The worker's global object.
 * @param lock Defines a property that cannot be changed again.
 */
export function confineStdio(
  scope: typeof globalThis,
  lock: (target: object, key: string, value: unknown) => void,
): void {
  const budget = new Budget();
  const out = new LineSink(writeAll(Deno.stdout), budget);
  const err = new LineSink(writeAll(Deno.stderr), budget);
  const stdout = nodeWriter(out);
  const stderr = nodeWriter(err);
  lock(scope, "console", new Console({ stdout, stderr }));
  lock(Deno, "stdout", denoWriter(out));
  lock(Deno, "stderr", denoWriter(err));
  lock(Deno, "stdin", denoReader());
  const process = (scope as unknown as { process?: object }).process;
  if (process) {
    lock(process, "stdout", stdout);
    lock(process, "stderr", stderr);
    lock(
      process,
      "stdin",
      new Readable({
        read() {
          this.push(null);
        },
      }),
    );
  }
}
