import { createContext, Suspense, useContext, useDebugValue, useEffect, useState, useTransition } from 'react';

const ApiContext = createContext({ baseUrl: '/api', headers: {} });

export function ApiProvider({ baseUrl, token, children }) {
  const value = { baseUrl, headers: token ? { Authorization: `Bearer ${token}` } : {} };
  return <ApiContext.Provider value={value}>{children}</ApiContext.Provider>;
}

export function useFetch(path, { enabled = true } = {}) {
  const { baseUrl, headers } = useContext(ApiContext);
  const [state, setState] = useState({ status: 'idle', data: null, error: null });
  useDebugValue(state.status);

  useEffect(() => {
    if (!enabled) return undefined;
    const controller = new AbortController();
    setState((s) => ({ ...s, status: 'loading' }));
    fetch(`${baseUrl}${path}`, { headers, signal: controller.signal })
      .then((res) => {
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        return res.json();
      })
      .then((data) => setState({ status: 'success', data, error: null }))
      .catch((error) => {
        if (error.name !== 'AbortError') setState({ status: 'error', data: null, error });
      });
    return () => controller.abort();
  }, [baseUrl, path, enabled]);

  return state;
}

function UserCard({ user }) {
  return (
    <article className="user-card">
      <img src={user.avatarUrl} alt="" width={48} height={48} />
      <div>
        <h3>{user.name}</h3>
        <p className="muted">{user.email}</p>
      </div>
    </article>
  );
}

export function UserList({ query }) {
  const { status, data, error } = useFetch(`/users?q=${encodeURIComponent(query)}`, { enabled: query.length > 1 });
  if (status === 'loading') return <p role="status">Loading…</p>;
  if (status === 'error') return <p role="alert">Failed: {error.message}</p>;
  if (!data?.length) return <p>No users match “{query}”.</p>;
  return (
    <div className="user-list">
      {data.map((u) => (
        <UserCard key={u.id} user={u} />
      ))}
    </div>
  );
}

export function UserSearch() {
  const [text, setText] = useState('');
  const [query, setQuery] = useState('');
  const [isPending, startTransition] = useTransition();

  function handleChange(event) {
    setText(event.target.value);
    startTransition(() => setQuery(event.target.value));
  }

  return (
    <ApiProvider baseUrl="/api/v2" token={null}>
      <input type="search" value={text} onChange={handleChange} placeholder="Search users" />
      {isPending && <span className="spinner" aria-hidden="true" />}
      <Suspense fallback={<p>Loading…</p>}>
        <UserList query={query} />
      </Suspense>
    </ApiProvider>
  );
}
