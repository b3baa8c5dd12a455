// Loopback addresses for pods (127.1.0.0/16) and Service proxies (127.96.0.0/16) are
// picked at random, so devclusters side by side on one machine rarely want the same one.
// "Rarely" is not enough for lanes of tests that run at the same time (scripts/test.sh):
// DEVCLUSTER_ADDRESS_BLOCK=N (0-3) confines this process's picks to the third octets
// N*64 .. N*64+63 of each range, so two lanes with different blocks never meet.

const BLOCKS = 4;
const PER_BLOCK = 256 / BLOCKS;

/** The block this process may use, from DEVCLUSTER_ADDRESS_BLOCK; undefined: the whole range. */
export function addressBlock(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env["DEVCLUSTER_ADDRESS_BLOCK"];
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n >= BLOCKS)
    throw new Error(`DEVCLUSTER_ADDRESS_BLOCK must be an integer from 0 to ${BLOCKS - 1}, not ${JSON.stringify(raw)}`);
  return n;
}

/**
 * A random host address `<prefix><third>.<fourth>` (prefix like "127.1.") inside the
 * block, or undefined for an address a host cannot have (fourth octet 0 or 255).
 */
export function randomAddress(prefix: string, random: () => number, block: number | undefined): string | undefined {
  const thirds = block === undefined ? 254 : PER_BLOCK;
  const first = block === undefined ? 0 : block * PER_BLOCK;
  const i = 1 + Math.floor(random() * (thirds * 256 - 2));
  const third = first + (i >> 8);
  const fourth = i & 255;
  if (fourth === 0 || fourth === 255) return undefined;
  return `${prefix}${third}.${fourth}`;
}
