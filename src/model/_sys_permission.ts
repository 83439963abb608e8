// The one system read the model layer needs as it loads: the Vercel AI SDK
// (`ai` → `@ai-sdk/gateway` → `@vercel/oidc`) builds a user agent from the
// hostname when its module is evaluated, so loading it without `sys`
// permission throws from inside that package, naming neither OAO nor the
// model layer. Nothing OAO does can defer that read; the hostname is read
// here first instead, and a refusal says what to grant. Internal.

/**
 * Reads the hostname as the AI SDK will, asking for permission as Deno would
 * (a prompt at a terminal).
 *
 * @throws {Deno.errors.NotCapable} When the process may not read it, naming `--allow-sys`.
 */
export function assertSysPermission(): void {
  try {
    Deno.hostname();
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      throw new Deno.errors.NotCapable(
        "Cannot load the model layer: the Vercel AI SDK reads the hostname as it loads, " +
          "which needs --allow-sys (--allow-sys=hostname is enough)",
        { cause: error },
      );
    }
    throw error;
  }
}
