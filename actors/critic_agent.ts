/**
 * A critic, used as a peer agent: answers `{ summary }` messages with a short
 * critique (and asks the `echo`-style `reviewer` actor, when one is its peer, for a second opinion).
 *
 * @module
 */
import { defineAgent } from "../src/orchestrator/agent.ts";

export default defineAgent({
  name: "critic",
  version: "1.0.0",
  onMessage(message) {
    const { summary } = message as { summary: string };
    return summary.length > 20 ? "well sourced" : "too thin";
  },
});
