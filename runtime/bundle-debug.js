// The checks of a debug bundle (`mlc build --debug`), inlined into name.js after
// runtime/bundle-runtime.js only in debug builds; MLC_DEBUG is the table that
// compiler/codegen-wasm/debug.ts writes (its header says what each event checks).
//
// The module calls `mlc_debug.probe(entry, event)` around every kernel. Dead bytes hold the
// poison word; every value is snapshotted when written and compared when read; dead slots must
// still be poison when a kernel is about to write them and when the entry ends. A failed check
// throws an MlcDebugError out of the entry call naming the bundle, the entry, the kernel (node,
// op, step, source location), the value and its arena bytes, and what most likely wrote there.

class MlcDebugError extends Error {
  name = "MlcDebugError";
}

/** The probe's import object and `attach(memory)`, to call once the module is instantiated. */
function debugProbe(table, bundleName) {
  const POISON = table.poison | 0;
  let words = null; // Int32Array over the memory (it never grows)
  let bytes = null;
  // Per call: the entry, snapshots of live values, when each value was written (kernel index,
  // -1: given at the start), and per 16-byte granule the kernel after which it was poisoned.
  let entry = null;
  let snapshots = new Map();
  let writtenBy = new Map();
  let releasedAfter = null;
  let lastKernel = -1;

  const kernelName = (k) => {
    const [node, op, step, , , loc] = entry.kernels[k];
    return `kernel ${k} (${op} %${node}, step ${step}${loc ? `, ${loc}` : ""})`;
  };
  const valueName = (v) => {
    const [name, type, offset, size, , source] = entry.values[v];
    return `${source === "node" ? "%" : `${source} `}${name} (${type}, arena bytes [${offset}, ${offset + size}))`;
  };
  const fail = (when, message) => {
    throw new MlcDebugError(`mlc debug check failed in ${bundleName}.${entry.name}, ${when}: ${message}`);
  };
  const writer = (v) => (writtenBy.get(v) >= 0 ? kernelName(writtenBy.get(v)) : "the app (before the call)");

  const poison = (offset, size, after) => {
    new Int32Array(words.buffer, offset, size >> 2).fill(POISON);
    releasedAfter.fill(after, offset >> 4, (offset + size + 15) >> 4);
  };
  /** The first byte of [offset, +size) holding the poison word, or -1 (whole words only). */
  const firstPoison = (offset, size) => {
    const i = new Int32Array(words.buffer, offset, size >> 2).indexOf(POISON);
    return i < 0 ? -1 : offset + 4 * i;
  };
  const firstNotPoison = (offset, size) => {
    const base = offset >> 2;
    for (let i = 0, n = size >> 2; i < n; i++) if (words[base + i] !== POISON) return offset + 4 * i;
    return -1;
  };
  const poisonRun = (at, end) => {
    let b = at;
    while (b + 4 <= end && words[b >> 2] === POISON) b += 4;
    return b;
  };
  const firstDifference = (offset, snapshot) => {
    const n = snapshot.length;
    const w = n >> 2;
    const saved = new Int32Array(snapshot.buffer, 0, w);
    const base = offset >> 2;
    for (let i = 0; i < w; i++) if (words[base + i] !== saved[i]) return offset + 4 * i;
    for (let i = 4 * w; i < n; i++) if (bytes[offset + i] !== snapshot[i]) return offset + i;
    return -1;
  };
  const covers = (v, at) => {
    const [, , offset, , slot] = entry.values[v];
    return at >= offset && at < offset + slot;
  };
  /** Kernels that ran after kernel `since` (-1: the call's start), the one whose buffers are nearest byte `at` first. */
  const suspects = (since, at) => {
    const distance = ([offset, size]) => (at < offset ? offset - at : at >= offset + size ? at - (offset + size) + 1 : 0);
    const where = ([offset, size]) => (at < offset ? `[${offset}, ${offset + size}) start ${offset - at} bytes after it` : `[${offset}, ${offset + size}) end ${at - (offset + size)} bytes before it`);
    const ran = [];
    for (let k = since + 1; k <= lastKernel; k++) {
      const [, , , output, ws] = entry.kernels[k];
      const [, , offset, , slot] = entry.values[output];
      for (const span of ws ? [[offset, slot], ws] : [[offset, slot]]) ran.push({ k, d: distance(span), span });
    }
    ran.sort((a, b) => a.d - b.d || b.k - a.k);
    if (ran.length === 0) return "no kernel ran since";
    const [first] = ran;
    const others = [...new Set(ran.map((s) => s.k))].filter((k) => k !== first.k);
    return `the nearest kernel that ran since is ${kernelName(first.k)}, whose buffer ${where(first.span)}` +
      (others.length > 0 ? `; others: ${others.slice(0, 3).map(kernelName).join(", ")}${others.length > 3 ? ", ..." : ""}` : "");
  };
  const releasedWhen = (at) => {
    const j = releasedAfter[at >> 4];
    return j < 0 ? "since the call began" : `since they were released after ${kernelName(j)}`;
  };
  /** Bytes of a dead region that hold data: a live value planned there, or a stray write. */
  const deadWritten = (at, what) => {
    for (const v of snapshots.keys()) {
      if (covers(v, at)) return `${what} holds live data at byte ${at}: the plan overlaps it with ${valueName(v)}, written by ${writer(v)} and still live`;
    }
    return `${what} was written at byte ${at} ${releasedWhen(at)}, while no value lived there: a kernel wrote outside its buffers; ${suspects(releasedAfter[at >> 4], at)}`;
  };

  const read = (when, v) => {
    const [, , offset, size, , source] = entry.values[v];
    const snapshot = snapshots.get(v);
    if (source === "node") {
      const at = firstPoison(offset, size);
      if (at >= 0) {
        const j = releasedAfter[at >> 4];
        const owners = j >= 0 ? (entry.events[j + 1].dead ?? []).filter((w) => w !== v && covers(w, at)) : [];
        fail(when, `${valueName(v)} holds the poison word at bytes [${at}, ${poisonRun(at, offset + size)}): ` +
          (owners.length > 0
            ? `the plan puts ${valueName(owners[0])} over it, and its lifetime ended after ${kernelName(j)} while ${entry.values[v][0]} was still live`
            : snapshot ? `its bytes were released ${j >= 0 ? `after ${kernelName(j)}` : ""} while it was still live (a wrong plan)` : "it is read before any kernel wrote it"));
      }
    }
    if (!snapshot) fail(when, `${valueName(v)} is read but no kernel has written it in this call (or its lifetime already ended)`);
    const at = firstDifference(offset, snapshot);
    if (at < 0) return;
    const since = writtenBy.get(v);
    const others = [...snapshots.keys()].filter((w) => w !== v && writtenBy.get(w) > since && covers(w, at));
    fail(when, `${valueName(v)} changed at byte ${at} after ${writer(v)} wrote it: ` +
      (others.length > 0
        ? `the plan puts ${valueName(others[0])}, written by ${writer(others[0])}, over it while both are live`
        : `no live value is planned there, so a kernel wrote outside its buffers; ${suspects(since, at)}`));
  };

  const probe = (entryIndex, event) => {
    const e = table.entries[entryIndex];
    const ev = e.events[event];
    if (event === 0) {
      entry = e;
      snapshots = new Map();
      writtenBy = new Map();
      lastKernel = -1;
      for (const [offset, size] of table.scratch) poison(offset, size, -1);
    }
    if (ev.after !== undefined) {
      lastKernel = ev.after;
      const when = `after ${kernelName(ev.after)}`;
      const v = entry.kernels[ev.after][3];
      const [, , offset, size] = entry.values[v];
      const at = firstPoison(offset, size);
      if (at >= 0) fail(when, `its result ${valueName(v)} still holds the poison word at bytes [${at}, ${poisonRun(at, offset + size)}): the kernel left part of its result unwritten`);
      snapshots.set(v, bytes.slice(offset, offset + size));
      writtenBy.set(v, ev.after);
    }
    for (const [offset, size] of ev.release ?? []) poison(offset, size, lastKernel);
    for (const v of ev.dead ?? []) snapshots.delete(v);
    for (const v of ev.start ?? []) {
      const [, , offset, size] = entry.values[v];
      snapshots.set(v, bytes.slice(offset, offset + size));
      writtenBy.set(v, -1);
    }
    const last = event === e.events.length - 1;
    const when = ev.before !== undefined ? `before ${kernelName(ev.before)}` : last ? "at the end of the call" : "before the end-of-step copies";
    for (const v of ev.read ?? []) read(when, v);
    for (const [offset, size, owner] of ev.fresh ?? []) {
      const at = firstNotPoison(offset, size);
      if (at >= 0) fail(when, deadWritten(at, `the dead slot [${offset}, ${offset + size}) of ${owner >= 0 ? `its result ${valueName(owner)}` : "its workspace"}`));
    }
    for (const [offset, size] of ev.sweep ?? []) {
      const at = firstNotPoison(offset, size);
      if (at >= 0) fail(when, deadWritten(at, `the dead bytes [${offset}, ${offset + size})`));
    }
  };

  return {
    imports: { mlc_debug: { probe } },
    attach(memory) {
      words = new Int32Array(memory.buffer);
      bytes = new Uint8Array(memory.buffer);
      releasedAfter = new Int32Array(Math.ceil(memory.buffer.byteLength / 16)).fill(-1);
    },
  };
}
