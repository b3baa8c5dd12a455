import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { parse } from "yaml";
import { z } from "zod";

// The kubelet's image map (images.yaml): which local program runs a container of an
// image. Resolution is pure: image + command + args -> argv and extra env, or the reason
// a real node would give (the image cannot be pulled; the executable is not in the image).

export const ImageCommand = z
  .object({ run: z.array(z.string()).min(1), env: z.record(z.string(), z.string()).optional() })
  .strict();
export const ImageEntry = z
  .object({
    image: z.string().min(1),
    entrypoint: z.array(z.string()).min(1).optional(),
    /** The image's CMD: the arguments when the container gives neither command nor args. */
    cmd: z.array(z.string()).optional(),
    /** Files the image ships, by their path in the image, as local files: an argument naming one runs the local file. */
    files: z.record(z.string(), z.string()).optional(),
    /** Flags whose next argument is a configuration file with container paths in it: a copy with the paths rewritten is passed instead. */
    configFlags: z.array(z.string()).optional(),
    /**
     * The image's USER (a uid or a name), which the kubelet checks against runAsNonRoot.
     * Absent: a non-root numeric user, as our own images have.
     */
    user: z.string().min(1).optional(),
    commands: z.record(z.string(), ImageCommand),
  })
  .strict();
export const ImageMap = z.object({ images: z.array(ImageEntry) }).strict();
export type ImageMap = z.infer<typeof ImageMap>;
export type ImageEntry = z.infer<typeof ImageEntry>;

export class ImageMapError extends Error {
  override readonly name = "ImageMapError";
}

export function loadImageMap(path: string): ImageMap {
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, "utf8"));
  } catch (cause) {
    throw new ImageMapError(
      `cannot read the image map ${path}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
  const r = ImageMap.safeParse(raw);
  if (!r.success)
    throw new ImageMapError(
      `invalid image map ${path}: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  return r.data;
}

/** The repository of an image reference: no tag, no digest. */
export function imageRepository(image: string): string {
  const noDigest = image.split("@")[0]!;
  const slash = noDigest.lastIndexOf("/");
  const colon = noDigest.lastIndexOf(":");
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

function globMatch(pattern: string, value: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split("*")
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
      .join(".*")}$`,
  );
  return re.test(value);
}

export function findImage(map: ImageMap, image: string): ImageEntry | undefined {
  const repo = imageRepository(image);
  return map.images.find((e) => globMatch(imageRepository(e.image), repo) || globMatch(e.image, image));
}

export type Resolved =
  /**
   * argv[0..prefix) is the local program; the rest came from the container (paths in it get
   * rewritten), except the indices in `local`: files the image ships, already local paths.
   */
  | {
      kind: "ok";
      argv: string[];
      prefix: number;
      local?: number[];
      env: Record<string, string>;
      configFlags?: string[];
      user?: string;
    }
  | { kind: "pull"; message: string }
  | { kind: "exec"; message: string };

export interface Placeholders {
  repo: string;
  node: string;
  tsx: string;
  /** The simulated nnU-Net bundled to plain JavaScript (run with `node`, no loader). */
  fakeNnunet: string;
  /** The pod shim (kubelet/pod-shim.ts) for `--import` into Node.js programs. */
  podShim?: string;
  /** The pod's IP, for programs told where to listen on their command line (nats-server --addr). */
  podIp?: string;
}

const fill = (s: string, p: Placeholders) =>
  s
    .replaceAll("${repo}", p.repo)
    .replaceAll("${node}", p.node)
    .replaceAll("${tsx}", p.tsx)
    .replaceAll("${fake-nnunet}", p.fakeNnunet)
    .replaceAll("${pod-shim}", p.podShim ?? "")
    .replaceAll("${pod-ip}", p.podIp ?? "127.0.0.1");

/** argv for a container: command (or the image's entrypoint) and args, with command[0] mapped to a local program. */
export function resolveCommand(
  map: ImageMap,
  image: string,
  command: readonly string[] | undefined,
  args: readonly string[] | undefined,
  p: Placeholders,
): Resolved {
  const entry = findImage(map, image);
  if (!entry) {
    return {
      kind: "pull",
      // containerd's words for a registry without the image (the operator tells a missing
      // image from a registry outage by them), then ours.
      message: `rpc error: code = NotFound desc = failed to pull and unpack image "${image}": failed to resolve reference "${image}": ${image}: not found (the devcluster image map has no entry for ${imageRepository(image)})`,
    };
  }
  // Kubernetes' rule: command replaces the entrypoint (and drops CMD); args alone replace CMD.
  const own = command && command.length > 0;
  const cmd = own ? command : (entry.entrypoint ?? []);
  const rawArgs = own || (args && args.length > 0) ? (args ?? []) : (entry.cmd ?? []);
  const [exe, ...rest] = cmd;
  if (exe === undefined)
    return {
      kind: "exec",
      message: `failed to create containerd task: no command specified (image ${image} has no entrypoint in the image map)`,
    };
  const mapped = entry.commands[basename(exe)];
  if (!mapped) {
    return {
      kind: "exec",
      message: `failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "${exe}": executable file not found in $PATH: unknown`,
    };
  }
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(mapped.env ?? {})) env[k] = fill(v, p);
  const files = entry.files ?? {};
  const run = mapped.run.map((s) => fill(s, p));
  const raw = [...rest, ...rawArgs];
  const tail = raw.map((a) => (files[a] !== undefined ? fill(files[a]!, p) : a));
  const local = raw.flatMap((a, i) => (files[a] !== undefined ? [run.length + i] : []));
  return {
    kind: "ok",
    argv: [...run, ...tail],
    prefix: run.length,
    ...(local.length > 0 ? { local } : {}),
    env,
    ...(entry.configFlags ? { configFlags: entry.configFlags } : {}),
    ...(entry.user ? { user: entry.user } : {}),
  };
}
