/**
 * Runs every benchmark script `bench/*_bench.ts`, one after the other, each
 * in its own subprocess (`deno run --unstable-worker-options -A`),
 * forwarding its output as it comes; then prints, as its own last lines,
 * the JSON figure lines (`{"bench", "value", "unit", "baseline", "ratio"}`)
 * of all scripts. A script that fails is reported before them, and the exit
 * code is then 1.
 *
 * `deno task bench` runs it. Flags: `--skip a,b` leaves scripts out (by
 * name, with or without `_bench` and `.ts`); `--help`.
 *
 * @module
 */
import { parseArgs } from "node:util";

const HELP = `Usage: deno task bench [--skip <names>]

  --skip <names>   comma-separated scripts to leave out, e.g. "stores,orchestrator"
  --help           this help

Runs every bench/*_bench.ts in its own subprocess, in name order. No
environment variables are read here; the scripts read theirs (REDIS_URL).`;

interface Outcome {
  script: string;
  code: number;
  figures: string[];
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      skip: { type: "string", default: "" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const skip = new Set(values.skip.split(",").map(scriptName).filter((name) => name !== ""));
  const dir = new URL("./", import.meta.url);
  const scripts: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && entry.name.endsWith("_bench.ts")) scripts.push(entry.name);
  }
  scripts.sort();
  const unknown = [...skip].filter((name) => !scripts.some((s) => scriptName(s) === name));
  if (unknown.length > 0) {
    throw new TypeError(
      `Invalid --skip "${unknown.join(",")}": no such benchmark (have: ${
        scripts.map(scriptName).join(", ")
      })`,
    );
  }
  const outcomes: Outcome[] = [];
  for (const script of scripts) {
    if (skip.has(scriptName(script))) {
      console.log(`# skipped ${script}`);
      continue;
    }
    console.log(`# running ${script}`);
    outcomes.push(await run(new URL(script, dir), script));
  }
  const failed = outcomes.filter((o) => o.code !== 0);
  for (const o of failed) console.log(`# ${o.script} failed with exit code ${o.code}`);
  console.log(`# figures of ${outcomes.length - failed.length} of ${outcomes.length} scripts`);
  for (const o of outcomes) for (const line of o.figures) console.log(line);
  return failed.length > 0 ? 1 : 0;
}

// Runs one script, echoing its output line by line and keeping its figure lines.
async function run(url: URL, script: string): Promise<Outcome> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--unstable-worker-options", "-A", url.pathname],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const figures: string[] = [];
  let pending = "";
  const take = (line: string) => {
    console.log(line);
    if (isFigure(line)) figures.push(line.trim());
  };
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) take(line);
  }
  if (pending !== "") take(pending);
  const { code } = await child.status;
  return { script, code, figures };
}

function isFigure(line: string): boolean {
  const text = line.trim();
  if (!text.startsWith("{")) return false;
  try {
    const value = JSON.parse(text) as Record<string, unknown>;
    return typeof value.bench === "string" && typeof value.value === "number" &&
      typeof value.unit === "string" && "baseline" in value && "ratio" in value;
  } catch {
    return false;
  }
}

function scriptName(name: string): string {
  return name.trim().replace(/\.ts$/, "").replace(/_bench$/, "");
}

if (import.meta.main) Deno.exit(await main());
