/**
 * `deno task test` after the type check: runs the suite on a Redis of its
 * own, so that it needs nothing but `redis-server` and never touches the
 * developer's `REDIS_URL`.
 *
 * 1. The Redis: `OAO_TEST_REDIS_URL` when set, else a `redis-server` started
 *    here (a free port, a temporary directory, no persistence), stopped when
 *    this command ends, however it ends (see tests/_support/test_redis.ts).
 * 2. The documentation examples of `mod.ts` and `src/`, which read
 *    `REDIS_URL` as an application would: run with `REDIS_URL` set to that
 *    Redis. Without a Redis they are not run (they would wait 30 s each).
 * 3. The console's bundle (`deno task bundle:console`), which the console's
 *    browser tests open (built once here rather than by the first test).
 * 4. The tests of `tests/`, with `OAO_TEST_REDIS_URL` set to that Redis and
 *    `REDIS_URL` removed from their environment (and so from every process
 *    they start that does not set it on purpose).
 *
 * Arguments are passed to both `deno test` runs (e.g. `--filter`,
 * `--fail-fast`). Deno prints one summary line per run; the exit code is 0
 * only when both succeeded.
 *
 * ```sh
 * deno run --allow-all tests/_support/test_command.ts --filter Redis
 * ```
 *
 * @module
 */
import {
  checkRedis,
  startTestRedis,
  TEST_REDIS_ENV,
  TestRedisUnavailableError,
} from "./test_redis.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const TEST = [
  "test",
  "--no-check",
  "--doc",
  "--unstable-worker-options",
  "--unstable-kv",
  "--allow-all",
  // Test files run two at a time (DENO_JOBS, default: the machine's cores):
  // each file in a runtime of its own, most of their time spent in the
  // processes, servers and workers they start.
  "--parallel",
];

/**
 * What holds the documentation examples: `src/`'s entries one by one, but
 * the console's. (`deno test --doc src/` finds no file at all while `src/`
 * holds a workspace member, `src/console/`, with a config of its own.)
 *
 * @returns Paths relative to the repository root, sorted.
 */
export function docPaths(): string[] {
  return [...Deno.readDirSync(`${ROOT}src`)]
    .filter((entry) => entry.name !== "console")
    .map((entry) => `src/${entry.name}`)
    .sort();
}

/**
 * Runs the two `deno test` runs.
 *
 * @param args Further `deno test` flags.
 * @returns The exit code: 0 when both runs passed.
 */
export async function main(args: string[]): Promise<number> {
  let url = Deno.env.get(TEST_REDIS_ENV) || undefined;
  let unavailable: string | undefined;
  let stop = () => {};
  try {
    if (url) await checkRedis(url);
    else ({ url, stop } = await startTestRedis());
  } catch (error) {
    if (!(error instanceof TestRedisUnavailableError)) throw error;
    unavailable = error.message;
    url = undefined;
  }
  // Stopped (or killed) from outside: pass the signal on, stop Redis, exit as the signal says.
  let current: Deno.ChildProcess | undefined;
  for (const [signal, number] of [["SIGINT", 2], ["SIGTERM", 15], ["SIGHUP", 1]] as const) {
    Deno.addSignalListener(signal, () => {
      try {
        current?.kill(signal);
      } catch {
        // it has just exited
      }
      stop();
      Deno.exit(128 + number);
    });
  }
  const run = async (paths: string[], env: Record<string, string>) => {
    current = new Deno.Command(Deno.execPath(), {
      args: [...TEST, ...args, ...paths],
      cwd: ROOT,
      env,
      clearEnv: true,
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    return (await current.status).code;
  };
  try {
    const inherited = Deno.env.toObject();
    delete inherited.REDIS_URL;
    let code = 0;
    if (url) {
      code = await run(["mod.ts", ...docPaths()], { ...inherited, REDIS_URL: url });
    } else {
      console.error(
        `error: ${unavailable}; the documentation examples of mod.ts and src/ need it and were not run`,
      );
      code = 1;
    }
    const env = url ? { ...inherited, [TEST_REDIS_ENV]: url } : inherited;
    const bundled = await new Deno.Command(Deno.execPath(), {
      args: ["task", "bundle:console"],
      cwd: ROOT,
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!bundled.success) code = 1;
    return await run(["tests/"], env) || code;
  } finally {
    stop();
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
