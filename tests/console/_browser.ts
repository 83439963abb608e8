// Chromium (Debian's /usr/bin/chromium) driven by playwright-core, for the
// console's end-to-end tests; screenshots go under SCREENSHOTS.
import { type Browser, chromium, type Page } from "npm:playwright-core@1.65.2";

/** Where the tests write a screenshot of each page. */
export const SCREENSHOTS = new URL("../../.oao/console-screenshots/", import.meta.url).pathname;

/** Launches headless Chromium. */
export async function launchBrowser(): Promise<Browser> {
  return await chromium.launch({
    executablePath: Deno.env.get("OAO_TEST_CHROMIUM") ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** Writes a full-page screenshot named `name.png` and prints its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await Deno.mkdir(SCREENSHOTS, { recursive: true });
  const path = `${SCREENSHOTS}${name}.png`;
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
  return path;
}

/** Collects the page's console errors and failed CSP checks (a test asserts none). */
export function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of 40[14]|status of 409/.test(m.text())) {
      errors.push(m.text());
    }
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  return errors;
}
