// `node:` built-ins an actor's bundle never imports as they are: each
// becomes a module made here, which the bundle holds instead. Internal: the
// bundler resolves these specifiers to `shimSource(specifier)`.
//
// Why: each one reaches the process's own stdio or signals past what the
// worker's hardening guards (_guest_hardening.ts, _guest_stdio.ts), with no
// permission needed:
// - `node:process` exports `kill` as a function of its own, which signalled
//   the worker's own process (that ended the orchestrator): the actor gets
//   the guarded global `process` instead;
// - `node:console` exports Deno's original console, which wrote raw lines to
//   the orchestrator's stdout and stderr (forged log lines): the actor gets
//   its confined global `console`;
// - `node:fs` writes to, reads from and truncates file descriptors 0–2 (the
//   process's stdio), and `node:tty` opens streams on them: those refuse
//   descriptors 0–2; `isatty` says no terminal, as the confined streams do.
import * as nodeConsole from "node:console";
import * as nodeFs from "node:fs";
import * as nodeProcess from "node:process";

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function exportNames(namespace: object): string[] {
  return Object.keys(namespace).filter((name) => name !== "default" && IDENTIFIER.test(name));
}

// Functions of node:fs whose first argument may be a file descriptor (or,
// for the file functions, a descriptor instead of a path).
const FS_BY_DESCRIPTOR = [
  "appendFile",
  "appendFileSync",
  "close",
  "closeSync",
  "fchmod",
  "fchmodSync",
  "fchown",
  "fchownSync",
  "fdatasync",
  "fdatasyncSync",
  "fstat",
  "fstatSync",
  "fsync",
  "fsyncSync",
  "ftruncate",
  "ftruncateSync",
  "futimes",
  "futimesSync",
  "read",
  "readFile",
  "readFileSync",
  "readSync",
  "readv",
  "readvSync",
  "write",
  "writeFile",
  "writeFileSync",
  "writeSync",
  "writev",
  "writevSync",
];
// Streams of node:fs that take a descriptor as an option (or, `SyncWriteStream`, first).
const FS_STREAMS = [
  "createReadStream",
  "createWriteStream",
  "ReadStream",
  "WriteStream",
  "SyncWriteStream",
  "Utf8Stream",
];

const REFUSE = `const refused = (what, fd) => new Deno.errors.NotCapable(
  \`\${what} refused: an actor may not use the process's standard streams (file descriptor \${fd}); write with console or process.stdout\`);
const stdio = (fd) => fd === 0 || fd === 1 || fd === 2;
`;

const SHIMS: Readonly<Record<string, () => string>> = {
  "node:process": () =>
    `const p = globalThis.process;\nexport default p;\n${
      exportNames(nodeProcess).map((name) =>
        `export const ${name} = typeof p.${name} === "function" ? p.${name}.bind(p) : p.${name};`
      ).join("\n")
    }\n`,
  "node:console": () =>
    `const c = globalThis.console;\nexport default c;\n` +
    "export function Console() { return c; }\n" +
    exportNames(nodeConsole).filter((name) => name !== "Console").map((name) =>
      `export const ${name} = typeof c.${name} === "function" ? c.${name}.bind(c) : () => {};`
    ).join("\n") + "\n",
  "node:tty": () =>
    `import real from "node:tty";\n${REFUSE}` +
    "export const isatty = (fd) => stdio(fd) ? false : real.isatty(fd);\n" +
    ["ReadStream", "WriteStream"].map((name) =>
      `export const ${name} = new Proxy(real.${name}, { construct(target, args, newTarget) {\n` +
      `  if (stdio(args[0])) throw refused("tty.${name}", args[0]);\n` +
      "  return Reflect.construct(target, args, newTarget);\n} });"
    ).join("\n") +
    "\nexport default { ...real, isatty, ReadStream, WriteStream };\n",
  "node:fs": () => {
    const guarded = [...FS_BY_DESCRIPTOR, ...FS_STREAMS].filter((name) => name in nodeFs);
    const guard = (name: string) =>
      FS_STREAMS.includes(name)
        ? `guardStream(ns.${name}, "fs.${name}")`
        : `guardCall(ns.${name}, "fs.${name}")`;
    return `import real, * as ns from "node:fs";\n${REFUSE}` +
      "const guardCall = (f, what) => new Proxy(f, { apply(target, self, args) {\n" +
      "  if (stdio(args[0])) {\n" +
      "    const error = refused(what, args[0]);\n" +
      '    const callback = args.findLast?.((a) => typeof a === "function");\n' +
      '    if (callback && !what.endsWith("Sync")) return void queueMicrotask(() => callback(error));\n' +
      "    throw error;\n  }\n  return Reflect.apply(target, self, args);\n} });\n" +
      "const streamFd = (args) => typeof args[0] === 'number' ? args[0] : args[1]?.fd ?? args[0]?.fd;\n" +
      "const guardStream = (f, what) => new Proxy(f, {\n" +
      "  apply(target, self, args) { if (stdio(streamFd(args))) throw refused(what, streamFd(args)); return Reflect.apply(target, self, args); },\n" +
      "  construct(target, args, newTarget) { if (stdio(streamFd(args))) throw refused(what, streamFd(args)); return Reflect.construct(target, args, newTarget); },\n" +
      "});\n" +
      guarded.map((name) => `const guarded_${name} = ${guard(name)};`).join("\n") + "\n" +
      exportNames(nodeFs).map((name) =>
        `export const ${name} = ${guarded.includes(name) ? `guarded_${name}` : `ns.${name}`};`
      ).join("\n") +
      `\nexport default { ...real, ${
        guarded.map((name) => `${name}: guarded_${name}`).join(", ")
      } };\n`;
  },
};

/** The built-ins an actor's bundle gets a module of ours for. */
export const SHIMMED_BUILTINS: ReadonlySet<string> = new Set(Object.keys(SHIMS));

/**
 * The built-ins a bundle never imports at all: their shims use the worker's
 * guarded globals, not the real module.
 */
export const NEVER_IMPORTED: ReadonlySet<string> = new Set(["node:process", "node:console"]);

/**
 * The source of the module that stands for a shimmed built-in. It imports
 * the real built-in itself (`node:fs`, `node:tty`), which stays an import of
 * the bundle.
 *
 * @param specifier One of {@linkcode SHIMMED_BUILTINS}.
 * @returns ES module source.
 */
export function shimSource(specifier: string): string {
  return SHIMS[specifier]!();
}
