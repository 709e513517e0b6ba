// What each role may do in the console. The server enforces it; the console only disables what would be refused.
import type { Me } from "../api/types";

function holds(me: Me | null, role: string): boolean {
  return !!me && (me.roles.includes("admin") || (me.roles as string[]).includes(role));
}

export const can = {
  start: (me: Me | null) => holds(me, "operator"),
  cancel: (me: Me | null) => holds(me, "operator"),
  /** Rerun, retry, pause and resume a run. */
  operate: (me: Me | null) => holds(me, "operator"),
  /** Decide a waiting step: an approver (or admin), holding the step's own role when it names one. */
  decide: (me: Me | null, stepRole?: string | null) => holds(me, "approver") && (!stepRole || holds(me, stepRole)),
  audit: (me: Me | null) => holds(me, "admin"),
};
