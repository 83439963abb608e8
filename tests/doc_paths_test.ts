// The test command runs the documentation examples of every part of src/:
// each entry of src/ but the console's (a workspace member, whose presence
// makes `deno test --doc src/` find no file at all).
import assert from "node:assert/strict";
import { docPaths } from "./_support/test_command.ts";

Deno.test("the documentation examples cover every entry of src/ but the console", () => {
  const paths = docPaths();
  for (const part of ["src/actor", "src/orchestrator", "src/redis", "src/kv", "src/errors.ts"]) {
    assert.ok(paths.includes(part), `${part} in ${paths.join(" ")}`);
  }
  assert.ok(!paths.some((p) => p.startsWith("src/console")));
  assert.ok(!paths.includes("src/"), "src/ as a whole finds nothing beside a workspace member");
});
