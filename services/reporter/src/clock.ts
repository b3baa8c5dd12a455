import type { Sleep } from "./publish.js";

// The real clock the composition root hands out; tests inject fakes of the same shapes.

/** Resolves after `ms`, or at once when `signal` aborts; never rejects, keeps no timer alive after abort. */
export const realSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });

export const realNow = (): Date => new Date();
