import { api, describe, setCSRF } from "../api";
import { banner, field, h, replace } from "../dom";
import { setPrincipal } from "../session";

// signIn asks for org, email and password, and signs in with a cookie
// session: the session token never reaches this page's scripts.
export function signIn(app: HTMLElement, done: () => void): void {
  const org = h("input", { name: "org", autocomplete: "organization", required: true, spellcheck: "false" });
  const email = h("input", { name: "email", type: "email", autocomplete: "username", required: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const status = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    { class: "signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in to Nuxari"),
    field("Organization", org),
    field("Email", email),
    field("Password", password),
    submit,
    status,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    submit.disabled = true;
    replace(status);
    try {
      const res = await api.auth.login({ orgId: org.value.trim(), email: email.value.trim(), password: password.value, cookieSession: true });
      password.value = "";
      setCSRF(res.csrfToken);
      setPrincipal(res.principal);
      done();
    } catch (err) {
      replace(status, banner("fail", describe(err)));
      password.focus();
    } finally {
      submit.disabled = false;
    }
  });
  replace(app, h("main", { class: "center" }, form));
  org.focus();
}
