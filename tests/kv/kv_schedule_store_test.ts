import { KvScheduleStore } from "../../src/kv/kv_schedule_store.ts";
import { testScheduleStoreConformance } from "../schedule/_conformance.ts";
import { tempKv } from "./_kv_harness.ts";

testScheduleStoreConformance("KvScheduleStore", async () => {
  const temp = await tempKv();
  const store = new KvScheduleStore({ path: temp.path });
  const others: KvScheduleStore[] = [];
  return {
    store,
    another: () => {
      const other = new KvScheduleStore({ path: temp.path });
      others.push(other);
      return Promise.resolve(other);
    },
    cleanup: async () => {
      await Promise.all([store, ...others].map((s) => s.close()));
      await temp.remove();
    },
  };
});
