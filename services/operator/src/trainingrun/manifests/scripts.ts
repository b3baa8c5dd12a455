import { z } from "zod";

// Two small Python programs the children run inside the user's nnU-Net image (which always
// has python3), passed with `python3 -c`. They exist because nnU-Net itself has no flag for
// either job: training with a batch size other than the plans' needs a plans file that says
// so, and `nnUNetv2_train --val` writes its Dice to validation/summary.json, not to the
// termination message the operator reads.

/**
 * argv: preprocessed_dir dataset plans configuration batch_size.
 * Writes `<plans>_bs<N>.json` beside the plans by the calibrator's rule
 * (services/calibrator/nnunet_calibrate/derive.py), so whichever of the two writes it first
 * the file is the same: only `configurations.<C>.batch_size` and `plans_name` (set to
 * `<plans>_bs<N>`, which nnU-Net names the results folder after) change, serialised as
 * json.dumps(indent=4) plus a newline. An existing file with that content is kept; a
 * different one is never overwritten. Written to a temporary file and linked into place,
 * so two writers racing cannot clobber each other.
 */
export const DERIVE_PLANS_PY = `
import json, os, sys
root, dataset, plans, config, bs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
name = "%s_bs%d" % (plans, bs)
src = os.path.join(root, dataset, plans + ".json")
dst = os.path.join(root, dataset, name + ".json")
if not os.path.exists(src):
    sys.exit("plans file %s not found: run nnUNetv2_plan_and_preprocess or fix spec.plans" % src)
with open(src) as f:
    p = json.load(f)
if config not in p.get("configurations", {}):
    sys.exit("configuration %s is not in %s: fix spec.configuration" % (config, src))
p["configurations"][config]["batch_size"] = bs
if "plans_name" in p:
    p["plans_name"] = name
def same():
    try:
        with open(dst) as f:
            have = json.load(f)
    except ValueError:
        sys.exit("%s exists and is not a readable plans file; will not overwrite it: remove it" % dst)
    if have != p:
        sys.exit("%s exists with different content; will not overwrite it: remove it" % dst)
if os.path.exists(dst):
    same()
    sys.exit(0)
tmp = os.path.join(os.path.dirname(dst), ".%s.%d.tmp" % (os.path.basename(dst), os.getpid()))
try:
    with open(tmp, "w") as f:
        f.write(json.dumps(p, indent=4) + "\\n")
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, dst)
    except FileExistsError:
        same()
    except OSError:
        os.replace(tmp, dst)
finally:
    if os.path.exists(tmp):
        os.unlink(tmp)
`.trim();

/**
 * argv: fold_dir checkpoint(best|final) then the nnUNetv2_train command line.
 * nnU-Net's validation-only mode insists on checkpoint_final.pth, which an early-stopped
 * fold never wrote; the fold's chosen checkpoint is linked as the final one (which also
 * makes nnUNetv2_predict use it by default). The Dice summary goes to the termination
 * message, compact and under 4 KiB.
 */
export const VALIDATE_PY = `
import json, math, os, shutil, subprocess, sys
fold_dir, checkpoint, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
best = os.path.join(fold_dir, "checkpoint_best.pth")
aside = os.path.join(fold_dir, ".checkpoint_best_at_end.pth")
# A pod killed while validating an audit's kept checkpoint left the run's own aside: back first.
if os.path.exists(aside):
    os.replace(aside, best)
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
# An audited fold: the reporter kept checkpoint_best.pth as of the would-be stop. Validate it
# too, in place of checkpoint_best.pth for the time of one run (put back in any case), with
# the first validation's output kept aside and the second's saved as validation_at_decision.
kept = os.path.join(fold_dir, "checkpoint_best_at_decision.pth")
if os.path.exists(kept):
    val, val_end, val_dec = (os.path.join(fold_dir, d) for d in ("validation", "validation_at_end", "validation_at_decision"))
    for d in (val_end, val_dec):
        shutil.rmtree(d, ignore_errors=True)
    os.rename(val, val_end)
    os.replace(best, aside)
    try:
        shutil.copyfile(kept, best)
        rc2 = subprocess.call(cmd + ([] if "--val_best" in cmd else ["--val_best"]))
    finally:
        os.replace(aside, best)
    if rc2 == 0 and os.path.exists(os.path.join(val, "summary.json")):
        with open(os.path.join(val, "summary.json")) as f:
            s2 = json.load(f)
        msg["atDecision"] = {"meanDice": num(s2["foreground_mean"]["Dice"]), "perClassDice": [num(v.get("Dice")) for v in s2.get("mean", {}).values() if isinstance(v, dict)]}
        os.rename(val, val_dec)
    else:
        msg["atDecisionError"] = "validation of checkpoint_best_at_decision.pth exited %d" % rc2
        shutil.rmtree(val, ignore_errors=True)
    os.rename(val_end, val)
text = json.dumps(msg, separators=(",", ":"))
for drop in (("atDecision", "perClassDice"), ("perClassDice",)):
    if len(text) <= 4000:
        break
    if len(drop) == 2 and drop[0] in msg:
        msg[drop[0]].pop(drop[1], None)
    elif len(drop) == 1:
        msg.pop(drop[0], None)
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
    /** An audited fold: the validation of the checkpoint kept at the would-be stop. */
    atDecision: z
      .object({ meanDice: z.number(), perClassDice: z.array(z.number().nullable()).optional() })
      .strict()
      .optional(),
    atDecisionError: z.string().optional(),
  })
  .strict();
export type ValidationMessage = z.infer<typeof ValidationMessage>;
