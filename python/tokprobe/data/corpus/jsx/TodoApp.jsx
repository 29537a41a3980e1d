import React, { useCallback, useEffect, useMemo, useReducer, useRef, useState } from 'react';

const STORAGE_KEY = 'todo-app/v1';

function reducer(state, action) {
  switch (action.type) {
    case 'add':
      return [...state, { id: crypto.randomUUID(), title: action.title, done: false }];
    case 'toggle':
      return state.map((t) => (t.id === action.id ? { ...t, done: !t.done } : t));
    case 'remove':
      return state.filter((t) => t.id !== action.id);
    case 'clearDone':
      return state.filter((t) => !t.done);
    default:
      throw new Error(`unknown action ${action.type}`);
  }
}

function loadInitial() {
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY)) ?? [];
  } catch {
    return [];
  }
}

function TodoItem({ todo, onToggle, onRemove }) {
  return (
    <li className={todo.done ? 'todo done' : 'todo'}>
      <label htmlFor={`todo-${todo.id}`}>
        <input
          id={`todo-${todo.id}`}
          type="checkbox"
          checked={todo.done}
          onChange={() => onToggle(todo.id)}
        />
        {todo.title}
      </label>
      <button type="button" aria-label={`Delete ${todo.title}`} onClick={() => onRemove(todo.id)}>
        ×
      </button>
    </li>
  );
}

export default function TodoApp() {
  const [todos, dispatch] = useReducer(reducer, undefined, loadInitial);
  const [draft, setDraft] = useState('');
  const [filter, setFilter] = useState('all');
  const inputRef = useRef(null);

  useEffect(() => {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(todos));
  }, [todos]);

  useEffect(() => {
    inputRef.current?.focus();
  }, []);

  const visible = useMemo(() => {
    if (filter === 'open') return todos.filter((t) => !t.done);
    if (filter === 'done') return todos.filter((t) => t.done);
    return todos;
  }, [todos, filter]);

  const handleSubmit = useCallback(
    (event) => {
      event.preventDefault();
      const title = draft.trim();
      if (!title) return;
      dispatch({ type: 'add', title });
      setDraft('');
    },
    [draft],
  );

  const toggle = useCallback((id) => dispatch({ type: 'toggle', id }), []);
  const remove = useCallback((id) => dispatch({ type: 'remove', id }), []);
  const remaining = todos.filter((t) => !t.done).length;

  return (
    <section className="todo-app">
      <form onSubmit={handleSubmit}>
        <input ref={inputRef} value={draft} placeholder="What needs doing?" onChange={(e) => setDraft(e.target.value)} />
        <button type="submit" disabled={!draft.trim()}>Add</button>
      </form>
      <ul>
        {visible.map((todo) => (
          <TodoItem key={todo.id} todo={todo} onToggle={toggle} onRemove={remove} />
        ))}
      </ul>
      <footer>
        <span>{remaining} left</span>
        {['all', 'open', 'done'].map((f) => (
          <button key={f} className={f === filter ? 'active' : undefined} onClick={() => setFilter(f)}>
            {f}
          </button>
        ))}
        <button onClick={() => dispatch({ type: 'clearDone' })}>Clear done</button>
      </footer>
    </section>
  );
}
