// Imported first by the model layer's entry point (mod.ts), before the AI
// SDK is evaluated: a process without `sys` permission gets an error naming
// the flag, not a stack trace from inside the SDK. Internal.
import { assertSysPermission } from "./_sys_permission.ts";

assertSysPermission();
