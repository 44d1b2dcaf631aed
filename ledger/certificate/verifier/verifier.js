/*
 * Tsunagari standalone certificate verifier (活動証明書の確認).
 *
 * The same checks, in the same order, as ledger/certificate/verify.py, and the same Premium rule as
 * ledger/certificate/eligibility.py; tests/certificate/test_verifier_page.py runs both on the same
 * certificates and compares the reason codes. Everything the two must share (EIP-712 types,
 * event topics, call selectors, reason texts, kind and municipality names) comes from Python in
 * the page's JSON config (ledger/certificate/standalone.py), not from this file.
 *
 * It needs nothing but the node the user names: ethers (inlined) talks JSON-RPC to it, batched.
 * This file is the checks only (published as window.TsunagariVerifier); page.js shows them.
 */
(function () {
  "use strict";

  const CONFIG = JSON.parse(document.getElementById("verifier-config").textContent);
  const MIN = CONFIG.premium_min_activities;
  const ABI = CONFIG.abi;
  const coder = ethers.AbiCoder.defaultAbiCoder();

  // -------------------------------------------------------------------------------------------
  // Days: JST calendar days as "YYYY-MM-DD" (ISO strings sort as dates)
  // -------------------------------------------------------------------------------------------

  const DAY_MS = 86400000;
  const JST_OFFSET_S = 9 * 3600;

  function pad(n, width) {
    return String(n).padStart(width, "0");
  }

  function isoDay(y, m, d) {
    return `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}`;
  }

  function splitDay(iso) {
    return { y: Number(iso.slice(0, 4)), m: Number(iso.slice(5, 7)), d: Number(iso.slice(8, 10)) };
  }

  function isLeap(y) {
    return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  }

  function daysInMonth(y, m) {
    return [31, isLeap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
  }

  function utcDay(ms) {
    const t = new Date(ms);
    return isoDay(t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate());
  }

  function addDays(iso, n) {
    const { y, m, d } = splitDay(iso);
    const t = new Date(0);
    t.setUTCFullYear(y, m - 1, d);
    return utcDay(t.getTime() + n * DAY_MS);
  }

  /** The same date `delta` years later or earlier; 29 February becomes 28 February. */
  function shiftYear(iso, delta) {
    const { y, m, d } = splitDay(iso);
    const year = y + delta;
    return isoDay(year, m, m === 2 && d === 29 && !isLeap(year) ? 28 : d);
  }

  function yearAfter(iso) {
    return shiftYear(iso, 1);
  }

  /** The 12 months ending on `asOf`, both ends included (eligibility.window). */
  function eligibilityWindow(asOf) {
    return [addDays(shiftYear(asOf, -1), 1), asOf];
  }

  /** eligibility.eligibility: the verdict for the designated live records dated `days`. */
  function eligibility(days, asOf) {
    const [start, end] = eligibilityWindow(asOf);
    const inside = days.filter((d) => start <= d && d <= end).sort().reverse();
    const eligible = inside.length >= MIN;
    return {
      as_of: asOf,
      designated: inside.length,
      eligible,
      eligible_until: eligible ? addDays(yearAfter(inside[MIN - 1]), -1) : null,
    };
  }

  function jstDay(timestamp) {
    return utcDay((timestamp + JST_OFFSET_S) * 1000);
  }

  function todayJst() {
    return jstDay(Math.floor(Date.now() / 1000));
  }

  function dayInt(iso) {
    return Number(iso.replaceAll("-", ""));
  }

  // -------------------------------------------------------------------------------------------
  // The certificate, parsed as strictly as ledger/certificate/model.py parse_certificate
  // -------------------------------------------------------------------------------------------

  class FormatError extends Error {
    constructor(where, message) {
      super(where ? `${where}: ${message}` : message);
      this.where = where;
    }
  }

  const HEX32 = /^0x[0-9a-f]{64}$/;
  const HEX_ADDRESS = /^0x[0-9a-fA-F]{40}$/;
  const HEX_SIGNATURE = /^0x[0-9a-fA-F]{130}$/;
  const DATE = /^\d{4}-\d{2}-\d{2}$/;
  const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  function get(obj, key, where) {
    if (!isObject(obj)) throw new FormatError(where, "must be an object");
    if (!(key in obj)) throw new FormatError(where ? `${where}.${key}` : key, "is missing");
    return obj[key];
  }

  function int(value, where, lo = 0, hi = 2 ** 64 - 1) {
    if (typeof value !== "number" || !Number.isInteger(value) || value < lo || value > hi) {
      throw new FormatError(where, `must be an integer from ${lo} to ${hi}`);
    }
    if (!Number.isSafeInteger(value)) throw new FormatError(where, "is too large for this verifier");
    return value;
  }

  function hex32(value, where) {
    if (typeof value !== "string" || !HEX32.test(value.toLowerCase())) {
      throw new FormatError(where, "must be 0x and 64 hex digits");
    }
    return value.toLowerCase();
  }

  function address(value, where) {
    if (typeof value !== "string" || !HEX_ADDRESS.test(value)) {
      throw new FormatError(where, "must be an address (0x and 40 hex digits)");
    }
    return ethers.getAddress(value.toLowerCase()); // the checksum is ours to make, as eth_utils does
  }

  function date(value, where) {
    if (typeof value !== "string" || !DATE.test(value)) throw new FormatError(where, "must be a date YYYY-MM-DD");
    const { y, m, d } = splitDay(value);
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > daysInMonth(y, m)) {
      throw new FormatError(where, "is not a calendar date");
    }
    return value;
  }

  function optionalText(value, where, limit = 2000) {
    if (value === null || value === undefined) return null;
    if (typeof value !== "string" || [...value].length > limit) {
      throw new FormatError(where, `must be text of at most ${limit} characters or null`);
    }
    return value;
  }

  function unixOf(value) {
    const m = typeof value === "string" ? ISO_TIME.exec(value) : null;
    if (!m) return null;
    let offset = 0;
    if (m[7] !== "Z") {
      const zone = m[7].replace(":", "");
      offset = (zone[0] === "-" ? -1 : 1) * (Number(zone.slice(1, 3)) * 3600 + Number(zone.slice(3, 5)) * 60);
    }
    const t = new Date(0);
    t.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
    t.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6] || 0));
    return Math.floor(t.getTime() / 1000) - offset;
  }

  function nameOf(document) {
    if (document === null) return null;
    try {
      const value = JSON.parse(document);
      return isObject(value) && typeof value.name === "string" ? value.name : null;
    } catch (_) {
      return null;
    }
  }

  function parseRecord(raw, where) {
    const activity = get(raw, "activity", where);
    if (!isObject(activity)) throw new FormatError(`${where}.activity`, "must be an object");
    const designated = get(raw, "designated", where);
    if (typeof designated !== "boolean") throw new FormatError(`${where}.designated`, "must be true or false");
    const document = optionalText(activity.document, `${where}.activity.document`, 20000);
    return {
      tx_hash: hex32(get(raw, "tx_hash", where), `${where}.tx_hash`),
      log_index: int(get(raw, "log_index", where), `${where}.log_index`, 0, 2 ** 32 - 1),
      block_hash: hex32(get(raw, "block_hash", where), `${where}.block_hash`),
      block_number: int(get(raw, "block_number", where), `${where}.block_number`),
      day: date(get(raw, "date", where), `${where}.date`),
      activity_id: int(get(raw, "activity_id", where), `${where}.activity_id`, 1),
      units: int(get(raw, "units", where), `${where}.units`, 1, 65535),
      designated,
      metadata_hash: hex32(get(raw, "metadata_hash", where), `${where}.metadata_hash`),
      kind: int(get(raw, "kind", where), `${where}.kind`, 0, 255),
      unit: int(get(raw, "unit", where), `${where}.unit`, 0, 2),
      coins: int(get(raw, "coins", where), `${where}.coins`),
      document,
      name: nameOf(document),
    };
  }

  function parseCertificate(text) {
    if (text.length > CONFIG.max_bytes) throw new FormatError("", `is larger than ${CONFIG.max_bytes} bytes`);
    let raw;
    try {
      raw = JSON.parse(text);
    } catch (error) {
      throw new FormatError("", `is not JSON (${error.message})`);
    }
    if (!isObject(raw) || raw.format !== CONFIG.format) {
      throw new FormatError("format", `must be "${CONFIG.format}": this is not an activity certificate`);
    }
    if (raw.version !== CONFIG.format_version) {
      throw new FormatError("version", `is ${JSON.stringify(raw.version)}; this verifier reads version ${CONFIG.format_version}`);
    }
    const chain = get(raw, "chain", "");
    const municipality = get(raw, "municipality", "");
    const period = get(raw, "range", "");
    const records = get(raw, "records", "");
    if (!Array.isArray(records)) throw new FormatError("records", "must be a list");
    if (records.length > CONFIG.max_records) {
      throw new FormatError("records", `has ${records.length} lines; at most ${CONFIG.max_records}`);
    }
    const region = int(get(municipality, "region", "municipality"), "municipality.region", 1, 2 ** 32 - 1);
    const code = pad(region, 5);
    if (get(municipality, "code", "municipality") !== code) {
      throw new FormatError("municipality.code", `must be '${code}', the region's JIS code`);
    }
    let signature = null;
    if (raw.signature !== null && raw.signature !== undefined) {
      const value = get(raw.signature, "value", "signature");
      if (get(raw.signature, "type", "signature") !== "EIP-712" || typeof value !== "string") {
        throw new FormatError("signature", 'must be {"type": "EIP-712", "value": "0x…"} or null');
      }
      if (!HEX_SIGNATURE.test(value)) throw new FormatError("signature.value", "must be 0x and 130 hex digits");
      signature = value.toLowerCase();
    }
    const issuedAt = unixOf(get(raw, "issued_at", ""));
    if (issuedAt === null || issuedAt < 0) throw new FormatError("issued_at", "must be an ISO 8601 time with its zone");
    const from = date(get(period, "from", "range"), "range.from");
    const to = date(get(period, "to", "range"), "range.to");
    if (from > to) throw new FormatError("range", "starts after it ends");
    const summary = raw.summary || {};
    if (!isObject(summary)) throw new FormatError("summary", "must be an object");
    return {
      chain_id: int(get(chain, "chain_id", "chain"), "chain.chain_id", 1),
      ledger: address(get(chain, "ledger", "chain"), "chain.ledger"),
      holder: address(get(raw, "holder", ""), "holder"),
      municipality: {
        region,
        code,
        name: optionalText(municipality.name, "municipality.name", 100),
        name_en: optionalText(municipality.name_en, "municipality.name_en", 100),
      },
      from,
      to,
      issued_at: issuedAt,
      records: records.map((r, i) => parseRecord(r, `records[${i}]`)),
      signature,
      site: optionalText(raw.site, "site", 500),
      rpc_hint: optionalText(chain.rpc_hint, "chain.rpc_hint", 500),
      summary,
    };
  }

  // -------------------------------------------------------------------------------------------
  // EIP-712, as ledger/certificate/typed.py
  // -------------------------------------------------------------------------------------------

  function domain(name, chainId, ledger) {
    return { name, version: CONFIG.typed.version, chainId, verifyingContract: ethers.getAddress(ledger) };
  }

  function certificateTypedData(cert) {
    return {
      domain: domain(CONFIG.typed.certificate_domain, cert.chain_id, cert.ledger),
      types: CONFIG.typed.certificate_types,
      message: {
        holder: cert.holder,
        region: cert.municipality.region,
        fromDay: dayInt(cert.from),
        toDay: dayInt(cert.to),
        issuedAt: cert.issued_at,
        records: cert.records.map((r) => ({
          txHash: r.tx_hash,
          logIndex: r.log_index,
          blockHash: r.block_hash,
          activityId: r.activity_id,
          units: r.units,
          day: dayInt(r.day),
          designated: r.designated,
          metadataHash: r.metadata_hash,
        })),
      },
    };
  }

  function holderProofTypedData(chainId, ledger, holder, nonce, expiresAt, audience) {
    return {
      domain: domain(CONFIG.typed.holder_proof_domain, chainId, ledger),
      types: CONFIG.typed.holder_proof_types,
      message: { holder: ethers.getAddress(holder.toLowerCase()), nonce, expiresAt, audience },
    };
  }

  /** The checksummed signer of `document`, or null when the signature cannot be read (recover_typed). */
  function recoverTyped(document, signature) {
    try {
      return ethers.verifyTypedData(document.domain, document.types, document.message, signature);
    } catch (_) {
      return null;
    }
  }

  // -------------------------------------------------------------------------------------------
  // JSON-RPC, as ledger/indexer/rpc.py HttpJsonRpc: batches, falling back to single calls
  // -------------------------------------------------------------------------------------------

  class RpcError extends Error {
    constructor(method, error) {
      super(`${method}: ${isObject(error) && "message" in error ? error.message : JSON.stringify(error)}`);
      this.method = method;
      this.error = error;
    }
  }

  class ChainUnavailable extends Error {}

  function jsonRpc(url, timeoutMs = 10000) {
    let id = 0;
    let batching = true; // switched off for good when the node refuses batch requests

    async function post(payload) {
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), timeoutMs);
      try {
        let response;
        try {
          response = await fetch(url, {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify(payload),
            signal: abort.signal,
            cache: "no-store",
            credentials: "omit",
            referrerPolicy: "no-referrer",
          });
        } catch (error) {
          throw new ChainUnavailable(`${url}: ${error.name}: ${error.message}`);
        }
        if (response.status >= 500 || response.status === 429) {
          throw new ChainUnavailable(`${url} answered HTTP ${response.status}`);
        }
        let text;
        try {
          text = await response.text();
        } catch (error) {
          throw new ChainUnavailable(`${url}: ${error.name}: ${error.message}`);
        }
        try {
          return JSON.parse(text);
        } catch (_) {
          throw new ChainUnavailable(`${url} sent malformed JSON (HTTP ${response.status})`);
        }
      } finally {
        clearTimeout(timer);
      }
    }

    async function call(method, params) {
      id += 1;
      const answer = await post({ jsonrpc: "2.0", id, method, params });
      if (!isObject(answer)) throw new ChainUnavailable(`${url} sent an unexpected answer to ${method}`);
      if ("error" in answer) throw new RpcError(method, answer.error);
      return answer.result === undefined ? null : answer.result;
    }

    async function batch(calls) {
      if (!calls.length) return [];
      if (!batching) return sequential(calls);
      const first = id + 1;
      id += calls.length;
      const answers = await post(calls.map(([method, params], i) => ({ jsonrpc: "2.0", id: first + i, method, params })));
      if (!Array.isArray(answers)) {
        batching = false; // a node without batch support answers with one error object
        return sequential(calls);
      }
      const byId = new Map(answers.filter(isObject).map((a) => [a.id, a]));
      return calls.map(([method], i) => {
        const answer = byId.get(first + i);
        if (answer === undefined) throw new ChainUnavailable(`${url} left call ${method} of a batch unanswered`);
        if ("error" in answer) throw new RpcError(method, answer.error);
        return answer.result === undefined ? null : answer.result;
      });
    }

    async function sequential(calls) {
      const out = [];
      for (const [method, params] of calls) out.push(await call(method, params));
      return out;
    }

    return { url, call, batch };
  }

  /** Answers of `calls` in order; an answer that is an error is the RpcError itself (verify._batched). */
  async function batched(rpc, calls) {
    const out = [];
    for (let start = 0; start < calls.length; start += ABI.batch) {
      const chunk = calls.slice(start, start + ABI.batch);
      try {
        out.push(...(await rpc.batch(chunk)));
      } catch (error) {
        if (!(error instanceof RpcError)) throw error;
        for (const [method, params] of chunk) {
          // one bad call: ask one by one to know which
          try {
            out.push(await rpc.call(method, params));
          } catch (inner) {
            if (!(inner instanceof RpcError)) throw inner;
            out.push(inner);
          }
        }
      }
    }
    return out;
  }

  function hexInt(value) {
    if (typeof value === "string") return Number(BigInt(/^0x/i.test(value) ? value : `0x${value}`));
    return Number(value);
  }

  function callData(selector, types, values) {
    return selector + coder.encode(types, values).slice(2);
  }

  // -------------------------------------------------------------------------------------------
  // Verification (ledger/certificate/verify.py verify_certificate), step for step
  // -------------------------------------------------------------------------------------------

  function problem(code, detail = "") {
    return { code, detail };
  }

  /**
   * Check `cert` against the node behind `rpc`.
   * trustedLedger: the ledger address the verifier trusts, or null (then: untrusted_ledger).
   * trustedChainId: the chain the trusted ledger is on, or null. The Python verifier takes the
   * chain from the node the operator chose; here the node may be the certificate's own rpc_hint,
   * so a ledger on another chain is not the trusted one either (untrusted_ledger).
   */
  async function verifyCertificate(cert, rpc, { trustedLedger, trustedChainId = null, asOf }) {
    const report = { certificate: cert, as_of: asOf, problems: [], lines: [], block_number: null, block_hash: null, verdict: null };
    const ledger = cert.ledger.toLowerCase();
    if (trustedLedger === null) {
      report.problems.push(problem("untrusted_ledger", "no trusted ledger was given"));
    } else if (trustedLedger.toLowerCase() !== ledger) {
      report.problems.push(problem("untrusted_ledger", `${cert.ledger} is not ${trustedLedger}`));
    } else if (trustedChainId !== null && trustedChainId !== cert.chain_id) {
      report.problems.push(problem("untrusted_ledger", `chain ${cert.chain_id} is not the trusted chain ${trustedChainId}`));
    }
    if (cert.signature === null) {
      report.problems.push(problem("unsigned"));
    } else {
      const signer = recoverTyped(certificateTypedData(cert), cert.signature);
      if (signer === null || signer.toLowerCase() !== cert.holder.toLowerCase()) {
        report.problems.push(problem("signature_invalid", `signed by ${signer || "no valid key"}`));
      }
    }
    let chainId, code, head;
    try {
      [chainId, code, head] = await batched(rpc, [
        ["eth_chainId", []],
        ["eth_getCode", [ledger, "latest"]],
        ["eth_getBlockByNumber", ["latest", false]],
      ]);
    } catch (error) {
      if (!(error instanceof ChainUnavailable)) throw error;
      report.problems.push(problem("rpc_unavailable", error.message));
      return finish(report);
    }
    if (chainId instanceof RpcError || hexInt(chainId) !== cert.chain_id) {
      const found = chainId instanceof RpcError ? "?" : String(hexInt(chainId));
      report.problems.push(problem("chain_id_mismatch", `node ${found}, certificate ${cert.chain_id}`));
      return finish(report);
    }
    if (code instanceof RpcError || code === null || code === "0x" || code === "0x0") {
      report.problems.push(problem("no_ledger", cert.ledger));
      return finish(report);
    }
    if (head instanceof RpcError || !isObject(head)) {
      report.problems.push(problem("rpc_unavailable", "the node gave no latest block"));
      return finish(report);
    }
    const pinned = `0x${hexInt(head.number).toString(16)}`;
    try {
      await checkLines(cert, rpc, report, pinned);
    } catch (error) {
      if (!(error instanceof ChainUnavailable)) throw error;
      report.problems.push(problem("rpc_unavailable", error.message));
      report.lines = [];
      return finish(report);
    }
    report.block_number = hexInt(head.number);
    report.block_hash = String(head.hash);
    const [start, end] = eligibilityWindow(asOf);
    const counted = [];
    for (const line of report.lines) {
      line.in_window = start <= line.record.day && line.record.day <= end;
      if (line.status === "ok" && line.in_window && line.record.designated) counted.push(line.record.day);
    }
    report.verdict = eligibility(counted, asOf);
    return finish(report);
  }

  function finish(report) {
    report.checked = report.block_number !== null;
    report.valid = report.checked && !report.problems.length && report.lines.every((l) => l.status !== "failed");
    report.premium = report.valid && report.verdict !== null && report.verdict.eligible;
    return report;
  }

  function keccakText(text) {
    try {
      return ethers.keccak256(ethers.toUtf8Bytes(text));
    } catch (_) {
      return null;
    }
  }

  async function checkLines(cert, rpc, report, pinned) {
    const ledger = cert.ledger.toLowerCase();
    const holderTopic = `0x${"0".repeat(24)}${cert.holder.toLowerCase().slice(2)}`;
    const lines = cert.records.map((record, i) => ({ line: i + 1, record, status: "ok", reasons: [], in_window: false }));
    report.lines = lines;
    const fail = (line, reason) => {
      if (!line.reasons.includes(reason)) line.reasons.push(reason);
      line.status = "failed";
    };
    const seenLogs = new Set();
    const seenActivities = new Set();
    for (const line of lines) {
      const r = line.record;
      const logKey = `${r.tx_hash}:${r.log_index}`;
      if (seenLogs.has(logKey) || seenActivities.has(r.activity_id)) fail(line, "duplicate");
      seenLogs.add(logKey);
      seenActivities.add(r.activity_id);
      if (!(cert.from <= r.day && r.day <= cert.to)) fail(line, "outside_range");
      if (r.document !== null && keccakText(r.document) !== r.metadata_hash) fail(line, "name_mismatch");
    }

    const txHashes = [...new Set(lines.map((l) => l.record.tx_hash))].sort();
    const blockHashes = [...new Set(lines.map((l) => l.record.block_hash))].sort();
    const activityIds = [...new Set(lines.map((l) => l.record.activity_id))].sort((a, b) => a - b);
    const calls = [
      ...txHashes.map((h) => ["eth_getTransactionReceipt", [h]]),
      ...blockHashes.map((h) => ["eth_getBlockByHash", [h, false]]),
      ...activityIds.map((a) => ["eth_call", [{ to: ledger, data: callData(ABI.activity_info, ["uint64"], [a]) }, pinned]]),
      ...activityIds.map((a) => [
        "eth_call",
        [{ to: ledger, data: callData(ABI.record_of, ["uint64", "address"], [a, cert.holder]) }, pinned],
      ]),
    ];
    const answers = await batched(rpc, calls);
    const nTx = txHashes.length;
    const nBlocks = blockHashes.length;
    const nAct = activityIds.length;
    const receipts = new Map(txHashes.map((h, i) => [h, answers[i]]));
    const blocks = new Map(blockHashes.map((h, i) => [h, answers[nTx + i]]));
    const infos = new Map(activityIds.map((a, i) => [a, answers[nTx + nBlocks + i]]));
    const recordOfs = new Map(activityIds.map((a, i) => [a, answers[nTx + nBlocks + nAct + i]]));

    const activities = new Map();
    for (const [activityId, raw] of infos) {
      if (raw instanceof RpcError || !raw || raw === "0x") {
        activities.set(activityId, null);
        continue;
      }
      const [info, metadata] = coder.decode([ABI.activity_tuple, "bytes32"], raw);
      activities.set(activityId, { info, metadata: metadata.toLowerCase() });
    }
    const historyNeeded = [
      ...new Set(
        lines
          .filter((l) => {
            const found = activities.get(l.record.activity_id);
            return found && found.metadata !== l.record.metadata_hash;
          })
          .map((l) => l.record.activity_id),
      ),
    ].sort((a, b) => a - b);
    const history = await metadataHistory(rpc, ledger, historyNeeded, pinned);

    for (const line of lines) {
      const r = line.record;
      const receipt = receipts.get(r.tx_hash);
      if (receipt instanceof RpcError) {
        fail(line, "rpc_error");
        continue;
      }
      if (receipt === null || receipt === undefined) {
        fail(line, "tx_not_found");
        continue;
      }
      if (hexInt(receipt.status ?? "0x1") !== 1) {
        fail(line, "tx_failed");
        continue;
      }
      if (String(receipt.blockHash ?? "").toLowerCase() !== r.block_hash) fail(line, "block_mismatch");
      const log = (receipt.logs || []).find((entry) => hexInt(entry.logIndex) === r.log_index);
      if (log === undefined) {
        fail(line, "log_not_found");
      } else {
        const topics = (log.topics || []).map((t) => String(t).toLowerCase());
        if (String(log.address ?? "").toLowerCase() !== ledger || !topics.length || topics[0] !== ABI.recorded_topic) {
          fail(line, "not_a_record");
        } else {
          if (topics.length < 2 || topics[1] !== holderTopic) fail(line, "wrong_holder");
          const [activityId, units] = coder.decode(["uint64", "uint16"], log.data);
          if (activityId !== BigInt(r.activity_id)) fail(line, "activity_mismatch");
          if (units !== BigInt(r.units)) fail(line, "units_mismatch");
        }
      }
      const block = blocks.get(r.block_hash);
      if (block instanceof RpcError) {
        fail(line, "rpc_error");
      } else if (block === null || block === undefined) {
        fail(line, "block_mismatch");
      } else if (jstDay(hexInt(block.timestamp)) !== r.day) {
        fail(line, "date_mismatch");
      }
      const found = activities.get(r.activity_id);
      if (!found) {
        fail(line, "wrong_municipality");
      } else {
        const [region, kind, flags, , , , , , , reward] = found.info;
        const flagBits = Number(flags);
        if (Number(region) !== cert.municipality.region) fail(line, "wrong_municipality");
        const designated = (flagBits & ABI.designated_flag) !== 0;
        if (r.designated && !designated) {
          fail(line, "not_designated");
        } else if (r.designated !== designated) {
          fail(line, "designation_mismatch");
        }
        if (Number(kind) !== r.kind) fail(line, "kind_mismatch");
        if (((flagBits >> 2) & 3) !== r.unit) fail(line, "unit_mismatch");
        if (BigInt(reward) * BigInt(r.units) !== BigInt(r.coins)) fail(line, "coins_mismatch");
        if (r.metadata_hash !== found.metadata && !(history.get(r.activity_id) || new Set()).has(r.metadata_hash)) {
          fail(line, "metadata_unknown");
        }
      }
      const state = recordOfs.get(r.activity_id);
      if (state instanceof RpcError || !state || state === "0x") {
        fail(line, "rpc_error");
      } else if (line.status !== "failed") {
        const [, revoked] = coder.decode(["bool", "bool"], state);
        if (revoked) {
          line.status = "revoked";
          line.reasons.push("revoked");
        }
      }
    }
  }

  /** Every metadata hash each activity ever had (registration and changes), from its logs. */
  async function metadataHistory(rpc, ledger, activityIds, pinned) {
    const out = new Map();
    if (!activityIds.length) return out;
    const query = {
      address: ledger,
      fromBlock: "0x0",
      toBlock: pinned,
      topics: [[ABI.registered_topic, ABI.metadata_topic], activityIds.map((a) => ethers.zeroPadValue(ethers.toBeHex(a), 32))],
    };
    let logs;
    try {
      logs = await rpc.call("eth_getLogs", [query]);
    } catch (error) {
      if (error instanceof RpcError) return out;
      throw error;
    }
    for (const log of logs || []) {
      const activityId = Number(BigInt(String(log.topics[1])));
      const data = String(log.data).slice(2);
      // which data word holds metadataHash: from the ABI, through the page's config
      const registered = String(log.topics[0]).toLowerCase() === ABI.registered_topic;
      const word = registered ? ABI.registered_metadata_word : ABI.metadata_changed_word;
      if (!out.has(activityId)) out.set(activityId, new Set());
      out.get(activityId).add(`0x${data.slice(64 * word, 64 * word + 64).toLowerCase()}`);
    }
    return out;
  }

  /** Reason codes why `proof` does not show the presenter holds `holder`'s key (verify_holder_proof). */
  function verifyHolderProof(proof, { chainId, ledger, holder, nonce, now, audience = null }) {
    const reasons = [];
    if (!isObject(proof)) return ["wrong_nonce", "expired", "bad_signature"];
    if (String(proof.nonce ?? "").toLowerCase() !== nonce.toLowerCase()) reasons.push("wrong_nonce");
    const expiresAt = proof.expires_at;
    if (typeof expiresAt !== "number" || !Number.isInteger(expiresAt) || expiresAt < now) reasons.push("expired");
    let document;
    try {
      for (const key of ["holder", "nonce", "expires_at", "audience"]) {
        if (!(key in proof)) throw new Error(key);
      }
      const when = Number(proof.expires_at);
      if (!Number.isSafeInteger(when)) throw new Error("expires_at");
      document = holderProofTypedData(chainId, ledger, String(proof.holder), String(proof.nonce), when, String(proof.audience));
    } catch (_) {
      return [...reasons, "bad_signature"];
    }
    const signer = recoverTyped(document, String(proof.signature ?? ""));
    if (signer === null) {
      reasons.push("bad_signature");
    } else if (signer.toLowerCase() !== holder.toLowerCase() || String(proof.holder).toLowerCase() !== holder.toLowerCase()) {
      reasons.push("wrong_signer");
    }
    // The challenge's audience is signed: an answer made for another desk is not an answer to ours.
    if (audience !== null && String(proof.audience) !== audience) reasons.push("wrong_audience");
    return reasons;
  }

  // -------------------------------------------------------------------------------------------
  // What the page (page.js), the tests and anyone scripting the page use
  // -------------------------------------------------------------------------------------------

  window.TsunagariVerifier = Object.freeze({
    config: CONFIG,
    FormatError,
    parseCertificate,
    certificateTypedData,
    holderProofTypedData,
    jsonRpc,
    verifyCertificate,
    verifyHolderProof,
    eligibility,
    eligibilityWindow,
    yearAfter,
    jstDay,
    todayJst,
    splitDay,
    pad,
    isObject,
  });
})();
