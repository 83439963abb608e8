import { InMemoryPersistenceAdapter } from "../../src/persistence/in_memory_persistence_adapter.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { testPersistenceConformance } from "./_conformance.ts";

testPersistenceConformance("InMemoryPersistenceAdapter", () => {
  const clock = new ManualClock(1_700_000_000_000);
  const adapter = new InMemoryPersistenceAdapter({ clock });
  return Promise.resolve({
    adapter,
    clock,
    elapse: (ms) => clock.advance(ms),
    cleanup: () => adapter.close(),
  });
});
