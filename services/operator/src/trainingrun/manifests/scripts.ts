import { z } from "zod";

// Two small Python programs the children run inside the user's nnU-Net image (which always
// has python3), passed with `python3 -c`. They exist because nnU-Net itself has no flag for
// either job: training with a batch size other than the plans' needs a plans file that says
// so, and `nnUNetv2_train --val` writes its Dice to validation/summary.json, not to the
// termination message the operator reads.

/**
 * argv: preprocessed_dir dataset plans configuration batch_size.
 * Writes `<plans>_bs<N>.json` beside the plans with only batch_size changed (what the
 * calibrator writes too), atomically; an existing file with that batch size is kept, so
 * the calibrator's own file and a rerun are both fine.
 */
export const DERIVE_PLANS_PY = `
import json, os, sys, tempfile
root, dataset, plans, config, bs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
src = os.path.join(root, dataset, plans + ".json")
dst = os.path.join(root, dataset, "%s_bs%d.json" % (plans, bs))
if os.path.exists(dst):
    with open(dst) as f:
        have = json.load(f)
    if have.get("configurations", {}).get(config, {}).get("batch_size") == bs:
        sys.exit(0)
    sys.exit("%s exists with another batch size for %s; remove it" % (dst, config))
if not os.path.exists(src):
    sys.exit("plans file %s not found: run nnUNetv2_plan_and_preprocess or fix spec.plans" % src)
with open(src) as f:
    p = json.load(f)
if config not in p.get("configurations", {}):
    sys.exit("configuration %s is not in %s: fix spec.configuration" % (config, src))
p["configurations"][config]["batch_size"] = bs
fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dst), suffix=".tmp")
with os.fdopen(fd, "w") as f:
    json.dump(p, f, indent=4)
os.replace(tmp, dst)
`.trim();

/**
 * argv: fold_dir checkpoint(best|final) then the nnUNetv2_train command line.
 * nnU-Net's validation-only mode insists on checkpoint_final.pth, which an early-stopped
 * fold never wrote; the fold's chosen checkpoint is linked as the final one (which also
 * makes nnUNetv2_predict use it by default). The Dice summary goes to the termination
 * message, compact and under 4 KiB.
 */
export const VALIDATE_PY = `
import json, math, os, subprocess, sys
fold_dir, checkpoint, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
final = os.path.join(fold_dir, "checkpoint_final.pth")
if not os.path.exists(final):
    src = "checkpoint_best.pth" if checkpoint == "best" else "checkpoint_latest.pth"
    if os.path.exists(os.path.join(fold_dir, src)):
        os.symlink(src, final)
rc = subprocess.call(cmd)
if rc != 0:
    sys.exit(rc)
with open(os.path.join(fold_dir, "validation", "summary.json")) as f:
    s = json.load(f)
num = lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 5)
per = [num(v.get("Dice")) for v in s.get("mean", {}).values() if isinstance(v, dict)]
msg = {"schemaVersion": 1, "checkpoint": checkpoint, "meanDice": num(s["foreground_mean"]["Dice"]), "perClassDice": per}
text = json.dumps(msg, separators=(",", ":"))
if len(text) > 4000:
    del msg["perClassDice"]
    text = json.dumps(msg, separators=(",", ":"))
print(text)
with open(os.environ.get("TERMINATION_MESSAGE_PATH", "/dev/termination-log"), "w") as f:
    f.write(text)
`.trim();

/** What VALIDATE_PY writes to the termination message. */
export const ValidationMessage = z
  .object({
    schemaVersion: z.literal(1),
    checkpoint: z.enum(["best", "final"]),
    meanDice: z.number(),
    /** null where nnU-Net reported NaN (a class absent from every case). */
    perClassDice: z.array(z.number().nullable()).optional(),
  })
  .strict();
export type ValidationMessage = z.infer<typeof ValidationMessage>;
