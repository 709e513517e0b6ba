// Sign in with a token (`botarmy token create NAME --role ROLE`): the API sets a session cookie. With an identity
// provider configured, "Sign in with SSO" goes through it instead (GET /auth/oidc/login, a browser navigation).
import { useState, type FormEvent } from "react";
import { api } from "../../api/client";
import type { Me } from "../../api/types";
import { ErrorLine, button, input, primary } from "../../ui";

export function SignIn({ onSignedIn, ssoUrl = null }: { onSignedIn: (me: Me) => void; ssoUrl?: string | null }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      onSignedIn(await api.signIn(token.trim()));
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="flex min-h-screen items-center justify-center">
      <form onSubmit={submit} className="w-96 rounded-lg bg-white p-6 shadow" aria-labelledby="signin-title">
        <h1 id="signin-title" className="mb-4 text-xl font-semibold">Sign in to BotArmy</h1>
        <label className="mb-1 block text-sm font-medium" htmlFor="token">Token</label>
        <input id="token" type="text" autoComplete="off" spellCheck={false} value={token}
               onChange={(e) => setToken(e.target.value)} className={`${input} mb-3 w-full font-mono`} />
        <p className="mb-3 text-xs text-slate-500">Get one with <code>botarmy token create NAME --role ROLE</code>.</p>
        <ErrorLine error={error} />
        <button type="submit" className={primary} disabled={busy || !token.trim()}>Sign in</button>
        {ssoUrl && (
          <div className="mt-4 border-t border-slate-200 pt-4">
            <button type="button" className={`${button} w-full`} onClick={() => window.location.assign(ssoUrl)}>
              Sign in with SSO
            </button>
          </div>
        )}
      </form>
    </main>
  );
}
