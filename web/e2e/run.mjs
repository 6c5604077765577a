// The console's browser tests, in headless Chromium driven by
// playwright-core, against the nuxarid that e2e_test.go started and
// seeded (its description arrives in NUXARI_E2E). Each step names what
// it checks; the first failure stops the run with a screenshot.

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const cfg = JSON.parse(process.env.NUXARI_E2E ?? "{}");
mkdirSync(cfg.screenshots, { recursive: true });

const browser = await chromium.launch({
  executablePath: cfg.chromium,
  headless: true,
  // As root, without a sandbox; and nothing reaching for the network.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

let failures = 0;
const problems = []; // CSP or Trusted Types violations, page errors

async function session(role, opts = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, acceptDownloads: true, timezoneId: "Europe/Paris", locale: "en-GB", ...opts });
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy|Trusted Type|Refused to/i.test(m.text())) problems.push(`${role}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`${role}: page error: ${e.message}`));
  return { context, page };
}

async function step(name, page, f) {
  const start = Date.now();
  try {
    await f();
    console.log(`ok   ${name} (${Date.now() - start} ms)`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e.stack ?? e}`);
    if (page) await page.screenshot({ path: join(cfg.screenshots, `failure-${name.replace(/\W+/g, "-")}.png`), fullPage: true }).catch(() => {});
  }
}

function expect(cond, what) {
  if (!cond) throw new Error(what);
}

async function shot(page, name) {
  await page.screenshot({ path: join(cfg.screenshots, `${name}.png`), fullPage: false });
}

async function signIn(page, role, { keyboard = false } = {}) {
  await page.goto(cfg.url + "/");
  await page.getByLabel("Organization").waitFor();
  if (keyboard) {
    // Focus starts on the first field; Tab moves through the form and
    // Enter submits it.
    await page.keyboard.type(cfg.org);
    await page.keyboard.press("Tab");
    await page.keyboard.type(cfg.users[role]);
    await page.keyboard.press("Tab");
    await page.keyboard.type(cfg.password);
    await page.keyboard.press("Enter");
  } else {
    await page.getByLabel("Organization").fill(cfg.org);
    await page.getByLabel("Email").fill(cfg.users[role]);
    await page.getByLabel("Password").fill(cfg.password);
    await page.getByRole("button", { name: "Sign in" }).click();
  }
  await page.locator("main h1").first().waitFor();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
}

const text = (page) => page.locator("main").innerText();

// The auditor: sign in, pin, list, open an event and see it verified.
{
  const { context, page } = await session("auditor");
  await step("the console is served with a strict CSP", page, async () => {
    const res = await page.goto(cfg.url + "/");
    const csp = res.headers()["content-security-policy"] ?? "";
    expect(csp.includes("default-src 'none'") && csp.includes("script-src 'self'") && !csp.includes("unsafe-inline"), `CSP: ${csp}`);
    await shot(page, "signin");
  });
  await step("a wrong password is refused, and says so", page, async () => {
    await page.getByLabel("Organization").fill(cfg.org);
    await page.getByLabel("Email").fill(cfg.users.auditor);
    await page.getByLabel("Password").fill("not the password at all");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").waitFor();
  });
  await step("sign in with the keyboard alone", page, () => signIn(page, "auditor", { keyboard: true }));
  await step("the session token is out of the page's reach", page, async () => {
    const seen = await page.evaluate(() => document.cookie + JSON.stringify(sessionStorage) + JSON.stringify(localStorage));
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === "nuxari_session");
    expect(session && session.httpOnly && session.sameSite === "Strict", `cookie: ${JSON.stringify(session)}`);
    expect(!seen.includes(session.value), "the session token is readable by scripts");
  });
  await step("pin the log key on first use", page, async () => {
    await page.goto(cfg.url + "/#/events/" + cfg.event);
    await page.getByText("pin your org's log key first").waitFor();
    await page.getByRole("link", { name: "Pin the log key" }).click();
    await page.getByRole("heading", { name: "Pin your org's log key" }).waitFor();
    await shot(page, "pin");
    await page.getByRole("button", { name: "Pin this key" }).click();
    await page.getByText("✓ Verified in your browser").waitFor();
  });
  await step("list events, filter them, page through them", page, async () => {
    await page.goto(cfg.url + "/#/events?size=25");
    await page.locator("tbody tr").first().waitFor();
    const rows = await page.locator("tbody tr").count();
    expect(rows === 25, `first page: ${rows} rows`);
    expect((await text(page)).includes("✓ matches"), "leaf hashes are not checked");
    const t = page.locator("tbody time").first();
    expect(/UTC$/.test((await t.getAttribute("title")) ?? ""), "times carry UTC on hover");
    await shot(page, "events");
    await page.getByRole("button", { name: "Next page" }).click();
    await page.getByRole("button", { name: "Previous page" }).waitFor();
    await page.getByLabel("Types").fill("custom.deploy");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForFunction(() => [...document.querySelectorAll("tbody tr td:nth-child(3)")].every((td) => td.textContent === "custom.deploy") && document.querySelectorAll("tbody tr").length === 12);
    await page.getByLabel("Types").fill("custom.nothing");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.getByText("No events match these filters.").waitFor();
  });
  await step("open an event and see it verified in the browser", page, async () => {
    await page.goto(cfg.url + "/#/events");
    await page.getByRole("link", { name: String(cfg.event), exact: true }).click();
    await page.getByText("✓ Verified in your browser").waitFor();
    const t = await text(page);
    expect(t.includes("Inclusion proof") && t.includes("sibling"), "the proof path is shown");
    expect(t.includes("Event (from the verified leaf)"), "the verified leaf is shown");
    await shot(page, "event");
  });
  await step("a flipped byte in a proof fails loudly", page, async () => {
    await page.route("**/nuxari.v1.LedgerService/GetInclusionProof", async (route) => {
      const res = await route.fetch();
      const j = await res.json();
      const h = Buffer.from(j.hashes[0], "base64");
      h[7] ^= 0x01;
      j.hashes[0] = h.toString("base64");
      await route.fulfill({ response: res, json: j });
    });
    await page.goto(cfg.url + "/#/checkpoints");
    await page.goto(cfg.url + "/#/events/" + cfg.event);
    await page.getByText("VERIFICATION FAILED").waitFor();
    expect(!(await text(page)).includes("✓ Verified"), "a tampered proof also shows as verified");
    await shot(page, "event-tampered");
    await page.unroute("**/nuxari.v1.LedgerService/GetInclusionProof");
  });
  await step("a flipped byte in a leaf fails loudly", page, async () => {
    await page.route("**/nuxari.v1.LedgerService/GetEvent", async (route) => {
      const res = await route.fetch();
      const j = await res.json();
      const l = Buffer.from(j.event.leaf, "base64");
      l[l.length - 3] ^= 0x01;
      j.event.leaf = l.toString("base64");
      await route.fulfill({ response: res, json: j });
    });
    await page.goto(cfg.url + "/#/checkpoints");
    await page.goto(cfg.url + "/#/events/" + cfg.event);
    await page.getByText("VERIFICATION FAILED").waitFor();
    await page.unroute("**/nuxari.v1.LedgerService/GetEvent");
  });
  await step("a checkpoint signed by another key fails loudly", page, async () => {
    await page.route("**/nuxari.v1.LedgerService/GetCheckpoint", async (route) => {
      const res = await route.fetch();
      const j = await res.json();
      // Flip a byte of the signature.
      const lines = j.checkpoint.note.split("\n");
      const sig = lines[lines.length - 2];
      const i = sig.lastIndexOf(" ");
      const b = Buffer.from(sig.slice(i + 1), "base64");
      b[10] ^= 0x01;
      lines[lines.length - 2] = sig.slice(0, i + 1) + b.toString("base64");
      j.checkpoint.note = lines.join("\n");
      await route.fulfill({ response: res, json: j });
    });
    await page.goto(cfg.url + "/#/events");
    await page.goto(cfg.url + "/#/checkpoints");
    await page.getByText("VERIFICATION FAILED").waitFor();
    await page.unroute("**/nuxari.v1.LedgerService/GetCheckpoint");
  });
  await step("checkpoints over time, consistent with the pinned one", page, async () => {
    await page.goto(cfg.url + "/#/events");
    await page.goto(cfg.url + "/#/checkpoints");
    await page.getByText("✓ Verified in your browser").waitFor();
    await page.getByLabel("Check an earlier checkpoint").fill(String(cfg.earlier));
    await page.getByRole("button", { name: "Check" }).click();
    await page.getByText("the latest checkpoint extends it").waitFor();
  });
  await step("the log grows: a newer checkpoint is proved consistent, and a forged proof is not", page, async () => {
    // Another member signs in: an event, so a newer checkpoint.
    const other = await session("requester");
    await signIn(other.page, "requester");
    await other.context.close();
    await page.route("**/nuxari.v1.LedgerService/GetConsistencyProof", async (route) => {
      const res = await route.fetch();
      const j = await res.json();
      const h = Buffer.from(j.hashes[j.hashes.length - 1], "base64");
      h[0] ^= 0x80;
      j.hashes[j.hashes.length - 1] = h.toString("base64");
      await route.fulfill({ response: res, json: j });
    });
    await page.goto(cfg.url + "/#/events");
    await page.goto(cfg.url + "/#/checkpoints");
    await page.getByText("VERIFICATION FAILED").waitFor();
    await page.unroute("**/nuxari.v1.LedgerService/GetConsistencyProof");
    // The forged proof advanced nothing: the honest one is checked from
    // the checkpoint trusted before it.
    await page.goto(cfg.url + "/#/events");
    await page.goto(cfg.url + "/#/checkpoints");
    await page.getByText("consistency proof verified").waitFor();
    await page.getByText("✓ consistent with the one before").waitFor();
    await shot(page, "checkpoints");
  });
  await step("export, download and verify a package in the browser", page, async () => {
    await page.goto(cfg.url + "/#/exports");
    await page.getByRole("button", { name: "Pin this signing key" }).click();
    await page.getByRole("button", { name: "Start export" }).click();
    await page.getByRole("button", { name: "Download and verify" }).first().click({ timeout: 60000 });
    await page.getByText("✓ Verified in your browser").waitFor({ timeout: 60000 });
    await shot(page, "evidence");
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Save the package" }).click()]);
    await download.saveAs(join(cfg.downloads, "package.zip"));
  });
  await step("readable at 200% zoom: nothing scrolls sideways", page, async () => {
    await page.setViewportSize({ width: 640, height: 430 }); // 1280×860 at 200%
    for (const route of ["#/events", "#/events/" + cfg.event, "#/checkpoints", "#/exports"]) {
      await page.goto(cfg.url + "/" + route);
      await page.locator("main h1").first().waitFor();
      await page.waitForTimeout(300);
      const wide = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(wide <= 1, `${route} is ${wide}px wider than the window at 200%`);
    }
    await shot(page, "event-zoom200");
  });
  await context.close();
}

// The approver approves the plan waiting in their inbox.
{
  const { context, page } = await session("approver");
  await step("an approver approves a plan", page, async () => {
    await signIn(page, "approver");
    await page.getByRole("link", { name: "Approvals" }).click();
    const card = page.getByRole("article", { name: `Plan ${cfg.planId}` });
    await card.waitFor();
    await shot(page, "approvals");
    await card.getByLabel("Comment").fill("approved in the console");
    await card.getByRole("button", { name: "Approve" }).click();
    await page.getByText(`Plan ${cfg.planId} approved`).waitFor();
    await page.getByText("Nothing waits for your decision.").waitFor();
  });
  await context.close();
}

// The readonly member sees no admin actions, and is refused when forcing one.
{
  const { context, page } = await session("readonly");
  await step("a readonly member sees no admin actions", page, async () => {
    await signIn(page, "readonly");
    const nav = await page.getByRole("navigation", { name: "Main" }).innerText();
    for (const hidden of ["API tokens", "Approvals", "Evidence", "Events", "Agents"]) expect(!nav.includes(hidden), `readonly sees ${hidden}`);
    await page.goto(cfg.url + "/#/members");
    await page.locator("main h1").waitFor();
    await page.getByRole("heading", { name: /People/ }).waitFor();
    for (const admin of ["Add member", "Remove", "Create token"]) expect(!(await page.getByRole("button", { name: admin }).count()), `readonly sees ${admin}`);
    expect(!(await page.locator("main select").count()), "readonly sees role pickers");
  });
  await step("a readonly member forcing AddMember is refused by the server", page, async () => {
    const res = await page.evaluate(async () => {
      const r = await fetch("/nuxari.v1.OrgService/AddMember", {
        method: "POST",
        headers: { "Content-Type": "application/json", "Nuxari-CSRF": sessionStorage.getItem("nuxari.csrf") ?? "" },
        body: JSON.stringify({ email: "intruder@acme.example", role: "ROLE_OWNER" }),
      });
      return { status: r.status, body: await r.text() };
    });
    expect(res.status === 403 && res.body.includes("permission_denied"), `forced AddMember: ${JSON.stringify(res)}`);
    const noCSRF = await page.evaluate(async () => (await fetch("/nuxari.v1.AuthService/WhoAmI", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" })).status);
    expect(noCSRF === 401, `a call without the CSRF header: ${noCSRF}`);
  });
  await context.close();
}

// The owner's pages.
{
  const { context, page } = await session("owner");
  await step("an owner manages members and tokens", page, async () => {
    await signIn(page, "owner");
    await page.getByRole("link", { name: "Members" }).click();
    await page.getByRole("heading", { name: /People/ }).waitFor();
    await shot(page, "members");
    await page.getByRole("link", { name: "API tokens" }).click();
    await page.getByLabel("Name").fill("ci deploys");
    await page.getByRole("button", { name: "Create token" }).click();
    await page.getByText("shown only now").waitFor();
    await page.getByText("ci deploys").first().waitFor();
    // Every other page answers, with its content or its empty state.
    for (const [route, heading] of [["#/agents", "Agents"], ["#/requests", "My requests"], ["#/drift", "Drift findings"], ["#/reviews", "Access reviews"], ["#/inbox", "Approvals"], ["#/account", "Account"]]) {
      await page.goto(cfg.url + "/" + route);
      await page.getByRole("heading", { name: heading, exact: true }).waitFor();
      await page.locator("main .empty, main table").first().or(page.locator("main dl")).first().waitFor();
      expect(!(await page.locator("main .banner.fail").count()), `${route} shows a failure: ${await text(page)}`);
    }
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in to Nuxari" }).waitFor();
    await page.goto(cfg.url + "/#/members");
    await page.getByRole("heading", { name: "Sign in to Nuxari" }).waitFor();
  });
  await context.close();
}

await browser.close();
if (problems.length) {
  failures++;
  console.log("FAIL the pages logged violations or errors:\n  " + problems.join("\n  "));
}
console.log(failures ? `${failures} failed` : "all passed");
process.exit(failures ? 1 : 0);
