// A priority task scheduler with concurrency limits, cancellation and retries.

export type Priority = 'high' | 'normal' | 'low';

export interface Task<T> {
  readonly id: string;
  priority: Priority;
  run: (signal: AbortSignal) => Promise<T>;
  retries?: number;
}

interface Queued<T> {
  task: Task<T>;
  resolve: (value: T) => void;
  reject: (reason: unknown) => void;
  attempts: number;
}

const ORDER: Record<Priority, number> = { high: 0, normal: 1, low: 2 };

export class CancelledError extends Error {
  constructor(public readonly taskId: string) {
    super(`task ${taskId} was cancelled`);
    this.name = 'CancelledError';
  }
}

export class Scheduler {
  private queue: Queued<unknown>[] = [];
  private running = new Map<string, AbortController>();
  private completed = 0;

  constructor(private readonly concurrency: number = 2) {
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError('concurrency must be a positive integer');
    }
  }

  submit<T>(task: Task<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const item: Queued<T> = { task, resolve, reject, attempts: 0 };
      this.queue.push(item as Queued<unknown>);
      this.queue.sort((a, b) => ORDER[a.task.priority] - ORDER[b.task.priority]);
      this.pump();
    });
  }

  cancel(id: string): boolean {
    const index = this.queue.findIndex((q) => q.task.id === id);
    if (index >= 0) {
      const [item] = this.queue.splice(index, 1);
      item.reject(new CancelledError(id));
      return true;
    }
    const controller = this.running.get(id);
    controller?.abort();
    return controller !== undefined;
  }

  get stats(): { queued: number; running: number; completed: number } {
    return { queued: this.queue.length, running: this.running.size, completed: this.completed };
  }

  private pump(): void {
    while (this.running.size < this.concurrency && this.queue.length > 0) {
      const item = this.queue.shift()!;
      void this.execute(item);
    }
  }

  private async execute(item: Queued<unknown>): Promise<void> {
    const { task } = item;
    const controller = new AbortController();
    this.running.set(task.id, controller);
    try {
      item.attempts += 1;
      const value = await task.run(controller.signal);
      this.completed += 1;
      item.resolve(value);
    } catch (err: unknown) {
      if (controller.signal.aborted) {
        item.reject(new CancelledError(task.id));
      } else if (item.attempts <= (task.retries ?? 0)) {
        this.queue.unshift(item);
      } else {
        item.reject(err);
      }
    } finally {
      this.running.delete(task.id);
      this.pump();
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new Error('aborted'));
    });
  });
}
