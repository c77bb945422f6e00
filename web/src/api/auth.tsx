// The session: token, current user (from /auth/profile), is_admin, and whether the caller
// must change the bootstrap password first (the API refuses everything else until then).
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, ApiError, session, type Schema } from './client';

export type CurrentUser = Schema<'ProfileUser'>;

export interface Auth {
  /** False until the stored token has been checked against /auth/profile. */
  ready: boolean;
  token: string | null;
  user: CurrentUser | null;
  isAdmin: boolean;
  mustChangePassword: boolean;
  /** The session ended by signing out (not by expiry): sign-in then has no `?next=`. */
  signedOut: boolean;
  /** Why the stored token could not be checked (platform unreachable or busy), else null. */
  profileError: unknown;
  signIn(username: string, password: string): Promise<CurrentUser>;
  signOut(): Promise<void>;
  /** Re-reads the profile (after a password change). */
  refreshProfile(): Promise<CurrentUser | null>;
}

const AuthContext = createContext<Auth | null>(null);

interface LoginData {
  token: string;
  expires_in: number;
  user: CurrentUser;
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [token, setToken] = useState<string | null>(session.token());
  const [user, setUser] = useState<CurrentUser | null>(null);
  const [ready, setReady] = useState(false);
  const [signedOut, setSignedOut] = useState(false);
  const [profileError, setProfileError] = useState<unknown>(null);

  const clear = useCallback(() => {
    session.setToken(null);
    setToken(null);
    setUser(null);
    setProfileError(null);
  }, []);

  const refreshProfile = useCallback(async () => {
    if (!session.token()) {
      setUser(null);
      setProfileError(null);
      return null;
    }
    try {
      const profile = await api.get<CurrentUser>('/auth/profile');
      setUser(profile);
      setToken(session.token());
      setProfileError(null);
      return profile;
    } catch (err) {
      // Only a refused token signs out; a platform briefly unreachable or busy (0, 429,
      // 503) keeps it and says so (RequireAuth offers a retry), never the sign-in form.
      if (err instanceof ApiError && err.status === 401) clear();
      else {
        setUser(null);
        setProfileError(err);
      }
      return null;
    }
  }, [clear]);

  useEffect(() => {
    session.onExpired = clear;
    void refreshProfile().finally(() => setReady(true));
    return () => {
      session.onExpired = null;
    };
  }, [clear, refreshProfile]);

  const signIn = useCallback(async (username: string, password: string) => {
    const data = await api.post<LoginData>('/auth/login', { username, password }, { noAuthRetry: true });
    session.setToken(data.token);
    setToken(data.token);
    setUser(data.user);
    setSignedOut(false);
    setProfileError(null);
    return data.user;
  }, []);

  const signOut = useCallback(async () => {
    try {
      await api.post('/auth/logout', undefined, { noAuthRetry: true });
    } catch {
      // Signed out locally either way; the token also expires on its own.
    }
    setSignedOut(true);
    clear();
  }, [clear]);

  const value = useMemo<Auth>(
    () => ({
      ready,
      token,
      user,
      isAdmin: user?.role === 'admin',
      mustChangePassword: Boolean(user?.password_change_required),
      signedOut,
      profileError,
      signIn,
      signOut,
      refreshProfile,
    }),
    [ready, token, user, signedOut, profileError, signIn, signOut, refreshProfile],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error('useAuth outside AuthProvider');
  return auth;
}
