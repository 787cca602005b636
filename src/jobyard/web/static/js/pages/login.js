// Sign in: name and password for a session cookie (POST /api/v1/session).

import { api } from "../api.js";
import { h, replace } from "../dom.js";

export const title = "Sign in";

export async function render(ctx) {
  const next = ctx.query.get("next");
  const safeNext = next && next.startsWith("/ui/") && !next.startsWith("//") ? next : "/ui/";
  if (ctx.session && ctx.session.signed_in) {
    ctx.navigate(safeNext, { replace: true });
    return;
  }
  const name = h("input", { name: "name", autocomplete: "username", required: true, autofocus: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const error = h("p", { class: "error-text", role: "alert", hidden: true });
  const submit = h("button", { class: "primary", type: "submit" }, "Sign in");
  const form = h("form", {},
    h("label", { class: "field" }, "Name", name),
    h("label", { class: "field" }, "Password", password),
    error, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.hidden = true;
    try {
      await api("/session", { method: "POST", body: { name: name.value, password: password.value } });
      await ctx.signedIn();
      ctx.navigate(safeNext, { replace: true });
    } catch (e) {
      error.textContent = e.status === 401 ? "Wrong name or password." : e.message;
      error.hidden = false;
      submit.disabled = false;
      password.select();
    }
  });
  replace(ctx.main, h("div", { class: "panel login" }, h("h1", {}, "Sign in to jobyard"), form));
  name.focus();
}
