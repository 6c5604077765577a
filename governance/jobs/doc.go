// Package jobs is the durable job runner of background work (DESIGN.md,
// "Background work is jobs"): evidence exports, connector syncs, grant
// expiry and plan execution run on one Runner.
//
// A job is a record in its org's state, under Key(kind, id), written in
// the same commit as the event that asks for it (Submit), so that no job
// exists without its event (DESIGN.md, "Events first"). The Runner
// guarantees:
//
//   - Capacity is refused before anything is written: an org with
//     Config.PerOrg jobs queued or running gets ErrBusy, and its log and
//     state are unchanged.
//   - Scheduling is fair across orgs: a free worker takes the next job of
//     the org with the fewest running jobs, ties going round-robin. An org
//     with a job queued and none running starts it at the next worker
//     that frees up, whatever the depth of another org's queue.
//   - A job never runs twice at once and never ends twice: each change of
//     its record (queued → running → succeeded, failed or canceled) is an
//     event committed with a precondition on the record as read, so two
//     runners racing over the same job cannot both start it, and a run
//     that lost its job (to a restart's recovery, say) cannot record its
//     end.
//   - Every start and end is an event of the job's kind (see Kind.Events):
//     <events>.started, then <events>.completed with the handler's data,
//     <events>.failed with a fixed, caller-safe reason, or
//     <events>.canceled. An error's text never reaches an event or the
//     record: the detail goes to the server log with the org and job ID.
//     A handler's panic is a failure like any other; the worker goes on.
//   - Jobs survive restarts: Recover, at start, queues again every job
//     left queued, and each job left running is queued again
//     (RestartResume, up to Kind.MaxAttempts runs) or recorded failed
//     with its event (RestartFail), as its kind says.
//
// Handlers MUST return soon after their context ends (cancellation or
// shutdown). A handler of a RestartResume kind MUST be idempotent: it may
// run again from the start after a restart.
package jobs
