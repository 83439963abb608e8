// The `console` of an actor's code: Deno's console methods, formatted as
// Deno does (`%s %d %i %f %j %o %O %c` and `Deno.inspect`), written to the
// worker's confined stdio (`_guest_stdio.ts`). Internal.
//
// Written here rather than taken from `node:console`: loading `node:console`
// and `node:stream` in every worker made an actor's start 20 ms slower
// (actor.spawn_p50 26 → 47 ms, against a raw worker's 21–27 ms).

/** Where the console writes text: the worker's stdout or stderr, confined. */
export interface ConsoleSinks {
  out(text: string): void;
  err(text: string): void;
}

const inspect = (value: unknown): string =>
  typeof value === "string" ? value : Deno.inspect(value, { colors: false, depth: 4 });

/**
 * Formats console arguments as `console.log` does.
 *
 * @param args The arguments.
 * @returns One text.
 */
export function formatArgs(args: unknown[]): string {
  const [first] = args;
  if (typeof first !== "string" || !first.includes("%")) return args.map(inspect).join(" ");
  let next = 1;
  const head = first.replace(/%[sdifjoOc%]/g, (spec) => {
    if (spec === "%%") return "%";
    if (next >= args.length) return spec;
    const value = args[next++];
    switch (spec) {
      case "%s":
        return typeof value === "string" ? value : inspect(value);
      case "%d":
        return String(typeof value === "bigint" ? value : Number(value));
      case "%i":
        return String(typeof value === "bigint" ? value : parseInt(String(value)));
      case "%f":
        return String(parseFloat(String(value)));
      case "%j":
        try {
          return JSON.stringify(value) ?? "undefined";
        } catch {
          return "[Circular]";
        }
      case "%c":
        return "";
      default:
        return inspect(value);
    }
  });
  return [head, ...args.slice(next).map(inspect)].join(" ");
}

/**
 * A console whose every method writes through `sinks`.
 *
 * @param sinks The confined stdout and stderr.
 * @returns The console.
 */
export function guestConsole(sinks: ConsoleSinks): Console {
  let indent = "";
  const counts = new Map<string, number>();
  const timers = new Map<string, number>();
  const line = (text: string) =>
    indent ? text.split("\n").map((l) => indent + l).join("\n") + "\n" : `${text}\n`;
  const out = (...args: unknown[]) => sinks.out(line(formatArgs(args)));
  const err = (...args: unknown[]) => sinks.err(line(formatArgs(args)));
  const elapsed = (label: string) => {
    const started = timers.get(label);
    return started === undefined ? undefined : `${label}: ${performance.now() - started}ms`;
  };
  const methods = {
    log: out,
    info: out,
    debug: out,
    dirxml: out,
    warn: err,
    error: err,
    trace: (...args: unknown[]) => {
      const stack = (new Error().stack ?? "").split("\n").slice(2).join("\n");
      err(`Trace${args.length ? `: ${formatArgs(args)}` : ""}\n${stack}`);
    },
    dir: (value: unknown) => out(inspect(value)),
    table: (value: unknown) => out(inspect(value)),
    assert: (condition?: unknown, ...args: unknown[]) => {
      if (!condition) {
        err(args.length ? `Assertion failed: ${formatArgs(args)}` : "Assertion failed");
      }
    },
    count: (label = "default") => {
      const n = (counts.get(label) ?? 0) + 1;
      counts.set(label, n);
      out(`${label}: ${n}`);
    },
    countReset: (label = "default") => void counts.delete(label),
    group: (...args: unknown[]) => {
      if (args.length) out(...args);
      indent += "  ";
    },
    groupCollapsed: (...args: unknown[]) => methods.group(...args),
    groupEnd: () => void (indent = indent.slice(2)),
    time: (label = "default") => void timers.set(label, performance.now()),
    timeLog: (label = "default", ...args: unknown[]) => {
      const text = elapsed(label);
      if (text) out(text, ...args);
    },
    timeEnd: (label = "default") => {
      const text = elapsed(label);
      timers.delete(label);
      if (text) out(text);
    },
    clear: () => {},
    profile: () => {},
    profileEnd: () => {},
    timeStamp: () => {},
  };
  // Not frozen: Deno's `node:process` gives the console `_stdout` and `_stderr` when it loads.
  return methods as unknown as Console;
}
