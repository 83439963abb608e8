// A process without --allow-sys, started by sys_permission_test.ts: `import`
// loads the model layer's entry point; `call` makes a model call through an
// orchestrator and prints the execution's report as JSON.
if (Deno.args[0] === "import") {
  await import("../../src/model/mod.ts");
  console.log("loaded");
} else {
  const { Orchestrator } = await import("../../src/orchestrator/orchestrator.ts");
  const orchestrator = new Orchestrator({
    agents: [{
      name: "model-caller",
      module: new URL("../fixtures/model_agent.ts", import.meta.url),
    }],
    models: {
      providers: {
        openai: { apiKey: "sk-local", baseURL: "http://127.0.0.1:9/v1" },
        env: () => undefined,
      },
    },
  });
  const report = await orchestrator.run("model-caller", {
    calls: [{ model: "openai:gpt-4o-mini", prompt: "hi" }],
  });
  await orchestrator.close();
  console.log(JSON.stringify({ status: report.status, error: report.error }));
}
