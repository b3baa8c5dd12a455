import { readFileSync } from "node:fs";
import { NnunetLogParser, type ParsedEpoch } from "@nnunet-operator/reporter";

// The reporter's parser as its consumer uses it: files in order, a re-emitted epoch (a
// resume) replacing it and what followed.
export { NnunetLogParser };

export function replayLogFiles(files: readonly string[]): { epochs: ParsedEpoch[] }[] {
  const parser = new NnunetLogParser();
  const trainings: { epochs: ParsedEpoch[] }[] = [];
  for (const file of files) {
    parser.startFile();
    for (const line of readFileSync(file, "utf8").split("\n")) {
      const e = parser.push(line);
      if (e === undefined) continue;
      const t = (trainings[parser.training] ??= { epochs: [] });
      while ((t.epochs.at(-1)?.epoch ?? -1) >= e.epoch) t.epochs.pop();
      t.epochs.push(e);
    }
  }
  return trainings;
}
