// The library publishes to JSR: `deno publish --dry-run` (offline) passes —
// exports that exist, a license, no slow types — and the package holds the
// library only: no tests, benchmarks, example agents or command line.
import assert from "node:assert/strict";

Deno.test("deno publish --dry-run succeeds and publishes the library only", async () => {
  const root = new URL("../", import.meta.url).pathname;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["publish", "--dry-run", "--allow-dirty"],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert.equal(code, 0, output);
  assert.match(output, /Success Dry run complete/);
  assert.doesNotMatch(output, /^(error|warning)/m, output);
  const files = [...output.matchAll(/file:\/\/\/\S+/g)].map((m) =>
    m[0].slice(`file://${root}`.length)
  );
  assert.ok(files.includes("mod.ts") && files.includes("LICENSE"), files.join("\n"));
  const outside = files.filter((f) =>
    /^(tests|bench|actors|\.ci)\//.test(f) || f.startsWith("src/cli/")
  );
  assert.deepEqual(outside, [], "only the library is published");
});
