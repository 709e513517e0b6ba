// The shell: who is signed in, the navigation, and the page the hash route names.
import { useCallback, useEffect, useState } from "react";
import { ApiError, api } from "./api/client";
import type { Me } from "./api/types";
import { useRoute } from "./lib/route";
import { can } from "./lib/roles";
import { SignIn } from "./pages/signin/SignIn";
import { Runs } from "./pages/runs/Runs";
import { Run } from "./pages/run/Run";
import { Document } from "./pages/document/Document";
import { Approvals } from "./pages/approvals/Approvals";
import { NewRun } from "./pages/newrun/NewRun";
import { Usage } from "./pages/usage/Usage";
import { Audit } from "./pages/audit/Audit";

/** Who the API says we are: a user, null when a sign-in is needed, or "open" when the API has no auth. */
type Session =
  | { state: "loading" }
  | { state: "signed-out"; ssoUrl: string | null }
  | { state: "in"; me: Me; open: boolean };

const OPEN_USER: Me = { name: "local", roles: ["admin"] };

export function App() {
  const [session, setSession] = useState<Session>({ state: "loading" });
  const route = useRoute();

  // the Sign in page offers the identity provider's sign-in when the API has one configured
  const signedOut = useCallback(() => {
    api.authConfig().then(
      (config) => setSession({ state: "signed-out", ssoUrl: config.oidc ? config.oidc_login_url : null }),
      () => setSession({ state: "signed-out", ssoUrl: null }),
    );
  }, []);
  const refresh = useCallback(() => {
    api.me().then(
      (me) => setSession({ state: "in", me, open: false }),
      (err: unknown) => {
        // 404: an API without the auth routes (or with auth off) — everything is open
        if (err instanceof ApiError && err.status === 404) setSession({ state: "in", me: OPEN_USER, open: true });
        else signedOut();
      },
    );
  }, [signedOut]);
  useEffect(refresh, [refresh]);

  if (session.state === "loading") return <p className="p-8 text-slate-500">Loading…</p>;
  if (session.state === "signed-out")
    return <SignIn ssoUrl={session.ssoUrl} onSignedIn={(me) => setSession({ state: "in", me, open: false })} />;
  const me = session.me;

  const signOut = async () => {
    try { await api.signOut(); } finally { signedOut(); }
  };

  const links: [string, string][] = [["runs", "Runs"], ["approvals", "Approvals"], ["new", "New run"], ["usage", "Usage"]];
  if (can.audit(me)) links.push(["audit", "Audit"]);

  return (
    <div className="min-h-screen">
      <header className="bg-slate-900 text-white">
        <nav aria-label="Main" className="mx-auto flex max-w-7xl items-center gap-4 px-4 py-2">
          <a href="#/runs" className="font-bold tracking-wide">BotArmy</a>
          {links.map(([page, label]) => (
            <a key={page} href={`#/${page}`}
               aria-current={route.page === page ? "page" : undefined}
               className={`rounded px-2 py-1 text-sm ${route.page === page ? "bg-slate-700" : "hover:bg-slate-800"}`}>
              {label}
            </a>
          ))}
          <span className="ml-auto text-sm text-slate-300" data-testid="whoami">
            {me.name} ({me.roles.join(", ")}){session.open ? " · auth off" : ""}
          </span>
          {!session.open && (
            <button type="button" onClick={signOut} className="rounded px-2 py-1 text-sm hover:bg-slate-800">Sign out</button>
          )}
        </nav>
      </header>
      <main>{page(route.page, route.parts, route.params, me)}</main>
    </div>
  );
}

function page(name: string, parts: string[], params: URLSearchParams, me: Me) {
  switch (name) {
    case "runs":
      if (parts[0] && parts[1] === "documents" && parts[2])
        return <Document runId={parts[0]} name={parts.slice(2).join("/")} params={params} />;
      if (parts[0]) return <Run runId={parts[0]} me={me} />;
      return <Runs params={params} />;
    case "approvals":
      // keyed by the filter: another view of the inbox starts without the last view's confirmation
      return <Approvals key={params.get("run") ?? ""} me={me} runFilter={params.get("run")} />;
    case "new":
      return <NewRun me={me} preset={params.get("workflow")} />;
    case "usage":
      return <Usage />;
    case "audit":
      return <Audit me={me} />;
    default:
      return <Runs params={params} />;
  }
}
