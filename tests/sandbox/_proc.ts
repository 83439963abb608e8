// Reading processes from /proc, for the sandbox tests: which processes a
// process started, whether one still runs, how much CPU one used.

// The fields of /proc/<pid>/stat after the command name: [0] state, [1] parent,
// [11] utime, [12] stime. Undefined when the process is gone.
function statFields(pid: number): string[] | undefined {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/stat`).replace(/^.*\) /, "").split(" ");
  } catch {
    return undefined;
  }
}

/** Whether `pid` runs (a zombie has ended). */
export function alive(pid: number): boolean {
  const fields = statFields(pid);
  return fields !== undefined && fields[0] !== "Z";
}

/** The running processes whose parent is `pid`. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const fields = statFields(Number(entry.name));
    if (fields && Number(fields[1]) === pid && fields[0] !== "Z") out.push(Number(entry.name));
  }
  return out;
}

/** CPU clock ticks (user + system) `pid` has used, 0 once it is gone. */
export function cpuTicks(pid: number): number {
  const fields = statFields(pid);
  return fields ? Number(fields[11]) + Number(fields[12]) : 0;
}
