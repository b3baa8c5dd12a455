// Long pure computations as generators that yield every STEP_ITEMS items, so that a caller
// may let other work run between steps (the admission loop does, at 10,000 runs); `drain`
// runs one to its end at once. Pure.

/** Items (pods, Jobs, runs) a step handles before it yields. */
export const STEP_ITEMS = 1000;

export type Steps<T> = Generator<void, T, void>;

export function drain<T>(steps: Steps<T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}
