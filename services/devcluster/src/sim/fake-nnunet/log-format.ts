import { openSync, writeSync } from "node:fs";

// nnU-Net v2's training log, byte for byte: `print_to_log_file` writes
// `<datetime>: <message> \n` (str(datetime.now()), one space after each argument), and the
// file is named training_log_<year>_<month>_<day>_<hour>_<minute>_<second>.txt with
// unpadded year, month and day. The clock is the simulated one, so logged timestamps and
// epoch times are the recorded ones whatever the replay speed.

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

export function pythonDatetime(micros: number): string {
  const d = new Date(Math.floor(micros / 1000));
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(Math.floor(micros % 1_000_000), 6)}`;
}

export function logFileName(ms: number): string {
  const d = new Date(ms);
  return `training_log_${d.getFullYear()}_${d.getMonth() + 1}_${d.getDate()}_${pad(d.getHours())}_${pad(d.getMinutes())}_${pad(d.getSeconds())}.txt`;
}

/** A log writer with a simulated clock in milliseconds; the file stays open (one write per call). */
export class TrainingLog {
  /** Each line is a little later than the one before, as printing takes time. */
  private micros = 0;
  private readonly fd: number;
  constructor(
    readonly path: string,
    public clockMs: number,
  ) {
    this.fd = openSync(path, "a");
  }

  /** The lines as print_to_log_file would write them now (not written yet). */
  format(messages: string[]): string {
    let text = "";
    for (const m of messages) {
      this.micros += 137;
      text += `${pythonDatetime(Math.round(this.clockMs * 1000) + this.micros)}: ${m} \n`;
    }
    return text;
  }

  /** Writes the lines and returns them as written. */
  lines(messages: string[]): string {
    const text = this.format(messages);
    writeSync(this.fd, text);
    return text;
  }

  raw(text: string): void {
    writeSync(this.fd, text);
  }
}

/** Python's repr of a JSON value (dicts and lists as nnU-Net prints its plans). */
export function pyRepr(v: unknown): string {
  if (v === null) return "None";
  if (v === true) return "True";
  if (v === false) return "False";
  if (typeof v === "number") return Number.isInteger(v) && !String(v).includes("e") ? String(v) : String(v);
  if (typeof v === "string") return `'${v.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(", ")}]`;
  return `{${Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`)
    .join(", ")}}`;
}

export const CITATION = `
#######################################################################
Please cite the following paper when using nnU-Net:
Isensee, F., Jaeger, P. F., Kohl, S. A., Petersen, J., & Maier-Hein, K. H. (2021). nnU-Net: a self-configuring method for deep learning-based biomedical image segmentation. Nature methods, 18(2), 203-211.
#######################################################################
 
`;
