import { api, describe } from "../api";
import { banner, h, hex, link, replace, table, time } from "../dom";
import { AgentState, TaskState } from "../gen/nuxari/v1/agent_pb";

const agentState: Record<number, string> = {
  [AgentState.ACTIVE]: "active",
  [AgentState.DECOMMISSIONED]: "decommissioned",
};
const taskState: Record<number, string> = {
  [TaskState.PENDING]: "pending",
  [TaskState.DELIVERED]: "delivered",
  [TaskState.SUCCEEDED]: "succeeded",
  [TaskState.FAILED]: "failed",
};

export async function agentsPage(main: HTMLElement): Promise<void> {
  const res = await api.agents.listAgents({ pageSize: 500 });
  replace(
    main,
    h("h1", null, "Agents"),
    table(
      ["Agent", "Host", "State", "Enrolled", "Last seen"],
      res.agents.map((a) => [link(`#/agents/${encodeURIComponent(a.agentId)}`, h("code", null, a.agentId)), a.hostname, agentState[a.state] ?? "unknown", time(a.enrollTime), time(a.lastSeenTime)]),
      "No agents have enrolled. Create a join token with nuxctl agent join-token, then enrol an agent with it.",
    ),
  );
}

// agentPage shows an agent and its tasks: the tasks are found in the
// org's log (agent.task.created events whose subject is the agent),
// their state asked of the server.
export async function agentPage(main: HTMLElement, params: string[]): Promise<void> {
  const id = decodeURIComponent(params[0]);
  const { agent } = await api.agents.getAgent({ agentId: id });
  if (!agent) throw new Error("the server returned no agent");
  const tasks = h("section", { "aria-labelledby": "tasks-title", "aria-live": "polite" }, h("h2", { id: "tasks-title" }, "Tasks"), h("p", { class: "muted" }, "Loading…"));
  replace(
    main,
    h("p", null, link("#/agents", "← Agents")),
    h("h1", null, "Agent ", h("code", null, agent.agentId)),
    h(
      "dl",
      null,
      h("dt", null, "Host"),
      h("dd", null, agent.hostname),
      h("dt", null, "State"),
      h("dd", null, agentState[agent.state] ?? "unknown"),
      h("dt", null, "Public key"),
      h("dd", null, h("code", null, hex(agent.publicKey))),
      h("dt", null, "Enrolled"),
      h("dd", null, time(agent.enrollTime)),
      h("dt", null, "Last seen"),
      h("dd", null, time(agent.lastSeenTime)),
    ),
    tasks,
  );
  try {
    const ids: string[] = [];
    let pageToken = "";
    // The newest 200 tasks at most, from the log.
    for (let page = 0; page < 20 && ids.length < 200; page++) {
      const ev = await api.ledger.listEvents({ types: ["agent.task.created"], pageSize: 1000, pageToken });
      for (const e of ev.events) {
        try {
          const leaf = JSON.parse(new TextDecoder().decode(e.leaf));
          const task = leaf?.event?.data?.task_id;
          if (leaf?.event?.subject === `agent:${id}` && typeof task === "string") ids.push(task);
        } catch {
          // A purged or unreadable leaf names no task.
        }
      }
      if (!ev.nextPageToken) break;
      pageToken = ev.nextPageToken;
    }
    const rows = await Promise.all(
      ids.reverse().slice(0, 200).map(async (t) => {
        const { task } = await api.agents.getTask({ taskId: t });
        return task
          ? [h("code", null, task.taskId), task.collector, h("code", null, task.target), taskState[task.state] ?? "unknown", task.detail, time(task.createTime), time(task.completeTime), String(task.evidence.length)]
          : [t, "", "", "", "", "", "", ""];
      }),
    );
    replace(tasks, h("h2", { id: "tasks-title" }, "Tasks"), table(["Task", "Collector", "Target", "State", "Detail", "Created", "Completed", "Evidence"], rows, "No tasks for this agent."));
  } catch (e) {
    replace(tasks, h("h2", { id: "tasks-title" }, "Tasks"), banner("fail", describe(e)));
  }
}
