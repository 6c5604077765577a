import { api, describe, procedure, services } from "../api";
import { banner, button, field, h, replace, table, time } from "../dom";
import { Role } from "../gen/nuxari/v1/types_pb";
import { can, principal, roleName } from "../session";

const roles = [Role.OWNER, Role.ADMIN, Role.APPROVER, Role.REQUESTER, Role.AUDITOR, Role.READONLY];

function roleSelect(name: string, selected: Role = Role.READONLY): HTMLSelectElement {
  return h("select", { name }, roles.map((r) => h("option", { value: r, selected: r === selected }, roleName(r))));
}

// secretOnce shows a secret the server returns only once, with what to
// do with it; it is never stored by the console.
function secretOnce(what: string, value: string, note: string): HTMLElement {
  return banner("info", h("strong", null, `${what}, shown only now: `), h("code", { class: "secret" }, value), h("br"), note);
}

// membersPage lists the org's people and lets owners and admins add
// members, change roles and remove them: the same audited RPCs as
// nuxctl member.
export async function membersPage(main: HTMLElement): Promise<void> {
  const status = h("div", { "aria-live": "polite" });
  const list = h("section", { "aria-labelledby": "members-title" });
  replace(main, h("h1", null, "Members"), status, addForm(status, () => void refresh()), list);
  const refresh = async () => {
    const res = await api.org.listMembers({ pageSize: 1000 });
    const me = principal()?.userId;
    const manage = can(procedure(services.OrgService, "SetMemberRole"));
    const remove = can(procedure(services.OrgService, "RemoveMember"));
    replace(
      list,
      h("h2", { id: "members-title" }, `People (${res.members.length})`),
      table(
        ["Name", "Email", "User ID", "Role", "Added", ""],
        res.members.map((m) => {
          let role: Node | string = roleName(m.role);
          if (manage && m.userId !== me) {
            const sel = roleSelect(`role-${m.userId}`, m.role);
            sel.setAttribute("aria-label", `Role of ${m.email}`);
            sel.addEventListener("change", async () => {
              try {
                await api.org.setMemberRole({ userId: m.userId, role: Number(sel.value) as Role });
                replace(status, banner("ok", `${m.email} is now ${roleName(Number(sel.value) as Role)}.`));
              } catch (e) {
                replace(status, banner("fail", describe(e)));
                sel.value = String(m.role);
              }
            });
            role = sel;
          }
          return [
            m.displayName,
            m.email,
            h("code", null, m.userId),
            role,
            time(m.createTime),
            remove && m.userId !== me
              ? button(`Remove`, async () => {
                  if (!confirm(`Remove ${m.email} from the org? Their sessions and API tokens end.`)) return;
                  try {
                    await api.org.removeMember({ userId: m.userId });
                    replace(status, banner("ok", `${m.email} was removed.`));
                    await refresh();
                  } catch (e) {
                    replace(status, banner("fail", describe(e)));
                  }
                }, { class: "danger", "aria-label": `Remove ${m.email}` })
              : "",
          ];
        }),
        "No members.",
      ),
    );
  };
  await refresh();
}

function addForm(status: HTMLElement, added: () => void): HTMLElement {
  if (!can(procedure(services.OrgService, "AddMember"))) return h("span");
  const email = h("input", { name: "email", type: "email", required: true });
  const name = h("input", { name: "name" });
  const role = roleSelect("role");
  const form = h("form", { class: "filters", "aria-labelledby": "add-title" }, h("h2", { id: "add-title" }, "Add a member"), field("Email", email), field("Name", name), field("Role", role), h("button", { type: "submit" }, "Add member"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const res = await api.org.addMember({ email: email.value.trim(), displayName: name.value.trim(), role: Number(role.value) as Role });
      replace(
        status,
        banner("ok", `${res.member?.email} was added as ${roleName(res.member?.role)}.`),
        secretOnce("Password setup token", res.setup?.setupToken ?? "", "Hand it to them over a trusted channel; they set their own password with it (nuxctl password setup)."),
      );
      form.reset();
      added();
    } catch (err) {
      replace(status, banner("fail", describe(err)));
    }
  });
  return form;
}

// tokensPage lists the org's API tokens, creates and revokes them.
export async function tokensPage(main: HTMLElement): Promise<void> {
  const status = h("div", { "aria-live": "polite" });
  const list = h("section", { "aria-labelledby": "tokens-title" });
  const name = h("input", { name: "name", required: true });
  const role = roleSelect("role");
  const days = h("input", { name: "days", type: "number", min: 1, max: 366, value: 90 });
  const form = h("form", { class: "filters", "aria-labelledby": "new-title" }, h("h2", { id: "new-title" }, "New API token"), field("Name", name), field("Role", role, "At most your own permissions"), field("Valid for (days)", days), h("button", { type: "submit" }, "Create token"));
  replace(main, h("h1", null, "API tokens"), status, form, list);
  const refresh = async () => {
    const res = await api.auth.listAPITokens({ pageSize: 1000 });
    replace(
      list,
      h("h2", { id: "tokens-title" }, "Tokens"),
      table(
        ["Name", "ID", "Role", "Created by", "Created", "Expires", ""],
        res.tokens.map((t) => [
          t.name,
          h("code", null, t.tokenId),
          roleName(t.role),
          h("code", null, t.createdBy),
          time(t.createTime),
          time(t.expireTime),
          button("Revoke", async () => {
            if (!confirm(`Revoke the API token ${t.name}? Whatever uses it stops working.`)) return;
            try {
              await api.auth.revokeAPIToken({ tokenId: t.tokenId });
              replace(status, banner("ok", `${t.name} was revoked.`));
              await refresh();
            } catch (e) {
              replace(status, banner("fail", describe(e)));
            }
          }, { class: "danger", "aria-label": `Revoke ${t.name}` }),
        ]),
        "No API tokens.",
      ),
    );
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const d = Number(days.value);
      if (!Number.isInteger(d) || d < 1 || d > 366) throw new Error("Valid for: 1 to 366 days.");
      const res = await api.auth.createAPIToken({ name: name.value.trim(), role: Number(role.value) as Role, ttl: { seconds: BigInt(d * 86400), nanos: 0 } });
      replace(status, secretOnce(`API token ${res.token?.name}`, res.secret, "Store it in your secret manager now: the server keeps only its hash."));
      form.reset();
      await refresh();
    } catch (err) {
      replace(status, banner("fail", describe(err)));
    }
  });
  await refresh();
}
