import type { KubeObject } from "@nnunet-operator/kube";
import { joinOutlooks, type QueueOutlook, runOutlookOf } from "./decide/finish.js";
import type { World } from "./world.js";

// The queue outlook (decide/finish.ts: the GPUs training folds free at their predicted ends,
// and who waits ahead) over every live run, for a waiting run's estimated start. Read run by
// run on every pass, it cost O(runs) parses and key strings per pass: at 10,000 runs most of
// a pass. Each run's part is kept per stored object (the informer cache replaces an object
// on every change, so the object is its version) and only the changed ones are read again.

export class QueueOutlookCache {
  /** Per stored run: its part of the outlook, or null when it is deleted or does not parse. */
  private readonly parts = new WeakMap<KubeObject, QueueOutlook | null>();

  constructor(private readonly world: World) {}

  /** Every live run that parses (parses are cached per resourceVersion), as stored. */
  outlook(): QueueOutlook {
    const parts: QueueOutlook[] = [];
    for (const raw of this.world.runs()) {
      let part = this.parts.get(raw);
      if (part === undefined) {
        const parsed = raw.metadata.deletionTimestamp ? undefined : this.world.parse(raw);
        part = parsed?.ok ? runOutlookOf(parsed.run) : null;
        this.parts.set(raw, part);
      }
      if (part) parts.push(part);
    }
    return joinOutlooks(parts);
  }
}
