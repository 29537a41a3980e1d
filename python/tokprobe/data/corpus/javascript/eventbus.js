'use strict';

/**
 * A tiny event bus with wildcard topics, once-listeners and async dispatch.
 */
class EventBus {
  #listeners = new Map();
  #history = [];

  constructor({ historySize = 50 } = {}) {
    this.historySize = historySize;
  }

  on(topic, handler, { once = false } = {}) {
    if (typeof handler !== 'function') {
      throw new TypeError(`handler for "${topic}" must be a function`);
    }
    const list = this.#listeners.get(topic) ?? [];
    const entry = { handler, once };
    list.push(entry);
    this.#listeners.set(topic, list);
    return () => this.off(topic, handler);
  }

  once(topic, handler) {
    return this.on(topic, handler, { once: true });
  }

  off(topic, handler) {
    const list = this.#listeners.get(topic);
    if (!list) return false;
    const index = list.findIndex((e) => e.handler === handler);
    if (index >= 0) list.splice(index, 1);
    if (list.length === 0) this.#listeners.delete(topic);
    return index >= 0;
  }

  static matches(pattern, topic) {
    if (pattern === '*' || pattern === topic) return true;
    if (pattern.endsWith('.*')) {
      return topic.startsWith(pattern.slice(0, -1));
    }
    return false;
  }

  async emit(topic, payload) {
    this.#history.push({ topic, payload, at: Date.now() });
    while (this.#history.length > this.historySize) this.#history.shift();
    const calls = [];
    for (const [pattern, list] of this.#listeners) {
      if (!EventBus.matches(pattern, topic)) continue;
      for (const entry of [...list]) {
        if (entry.once) this.off(pattern, entry.handler);
        calls.push(Promise.resolve().then(() => entry.handler(payload, topic)));
      }
    }
    const results = await Promise.allSettled(calls);
    return results.filter((r) => r.status === 'rejected').map((r) => r.reason);
  }

  get history() {
    return this.#history.slice();
  }
}

function debounce(fn, wait = 100) {
  let timer = null;
  return function debounced(...args) {
    clearTimeout(timer);
    timer = setTimeout(() => fn.apply(this, args), wait);
  };
}

async function demo() {
  const bus = new EventBus({ historySize: 5 });
  const seen = [];
  bus.on('user.*', (p, t) => seen.push(`${t}:${p.name}`));
  bus.once('user.login', () => seen.push('first login'));
  bus.on('user.logout', () => {
    throw new Error('logout handler failed');
  });
  await bus.emit('user.login', { name: 'ada' });
  await bus.emit('user.login', { name: 'grace' });
  const errors = await bus.emit('user.logout', { name: 'ada' });
  console.log(seen.join('\n'));
  console.log(`errors: ${errors.length}, history: ${bus.history.length}`);
}

module.exports = { EventBus, debounce };

if (require.main === module) {
  demo().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
