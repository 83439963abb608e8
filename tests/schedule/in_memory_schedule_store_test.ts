import { InMemoryScheduleStore } from "../../src/schedule/in_memory_schedule_store.ts";
import { testScheduleStoreConformance } from "./_conformance.ts";

testScheduleStoreConformance("InMemoryScheduleStore", () => {
  const store = new InMemoryScheduleStore();
  return Promise.resolve({
    store,
    another: () => Promise.resolve(store),
    cleanup: () => store.close(),
  });
});
