/*
 * The standalone verifier's page: loading a certificate (file, drop, or ?c=<id> from our site),
 * the inputs, the verdict and the lines in Japanese or English, and the holder proof's challenge
 * QR code and answers. Every check is verifier.js's (window.TsunagariVerifier); this file only
 * shows what the checks found.
 */
(function () {
  "use strict";

  const {
    config: CONFIG,
    FormatError,
    parseCertificate,
    jsonRpc,
    verifyCertificate,
    verifyHolderProof,
    eligibilityWindow,
    jstDay,
    todayJst,
    splitDay,
    pad,
    isObject,
  } = window.TsunagariVerifier;
  const MIN = CONFIG.premium_min_activities;
  const JST_OFFSET_S = 9 * 3600;
  const DATE = /^\d{4}-\d{2}-\d{2}$/;

  // -------------------------------------------------------------------------------------------
  // The page
  // -------------------------------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const served = location.protocol === "http:" || location.protocol === "https:";
  let lang = params.get("lang") === "en" ? "en" : "ja";
  try {
    if (!params.has("lang") && localStorage.getItem("tsunagari.verifier.lang") === "en") lang = "en";
  } catch (_) {
    // storage may be off for pages opened from disk
  }

  function t(key, values = {}) {
    const text = (CONFIG.messages[lang] && CONFIG.messages[lang][key]) ?? CONFIG.messages.ja[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : `{${name}}`));
  }

  function pick(pair) {
    return lang === "en" ? pair[1] : pair[0];
  }

  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function formatDay(iso) {
    if (!iso) return "";
    if (lang === "en") return iso;
    const { y, m, d } = splitDay(iso);
    return `${y}年${m}月${d}日`;
  }

  /** Hours, minutes (and seconds) of a unix time in JST, the time every date on the page is in. */
  function formatTime(unix, seconds = true) {
    const t = new Date((unix + JST_OFFSET_S) * 1000);
    const hm = `${pad(t.getUTCHours(), 2)}:${pad(t.getUTCMinutes(), 2)}`;
    return seconds ? `${hm}:${pad(t.getUTCSeconds(), 2)}` : hm;
  }

  function formatDateTime(unix) {
    return `${formatDay(jstDay(unix))} ${formatTime(unix, false)}${lang === "en" ? " JST" : ""}`;
  }

  function municipalityName(cert) {
    const known = CONFIG.municipalities[String(cert.municipality.region)];
    if (known) return `${pick(known)}（${cert.municipality.code}）`;
    const claimed = lang === "en" ? cert.municipality.name_en || cert.municipality.name : cert.municipality.name;
    return claimed ? `${claimed} ${t("cert.name_claimed")}（${cert.municipality.code}）` : cert.municipality.code;
  }

  function applyLanguage() {
    document.documentElement.lang = lang;
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of document.querySelectorAll("[data-i18n-label]")) node.setAttribute("aria-label", t(node.dataset.i18nLabel));
    for (const node of document.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
    $("verifier-lang").lang = lang === "en" ? "ja" : "en";
    document.title = `${t("title")} | ${t("brand")}`;
    $("verifier-trust").textContent =
      CONFIG.ledger ? t("trust.configured", { chain: CONFIG.chain_id ?? "?", ledger: CONFIG.ledger }) : t("trust.none");
    $("verifier-libraries").textContent = t("footer.libraries", {
      libraries: CONFIG.libraries.map((l) => `${l.name} ${l.version}`).join(", "),
    });
    if (state.certificate) showLoaded(state.certificate);
    if (state.report) render(state.report);
    else if (state.message) showState(state.resultState, state.message[0], state.message[1]);
    if (state.challenge) showChallenge();
    if (state.holderMessage) showHolder(...state.holderMessage);
  }

  const state = {
    certificate: null,
    report: null,
    run: 0,
    resultState: "idle",
    message: null,
    challenge: null,
    poll: null,
    holderMessage: null,
  };

  function showState(resultState, key, values = {}) {
    state.resultState = resultState;
    state.message = [key, values];
    const result = $("verifier-result");
    result.dataset.state = resultState;
    $("verifier-state").removeAttribute("data-i18n");
    $("verifier-state").textContent = t(key, values);
    $("verifier-state").hidden = false;
  }

  function clearResult() {
    state.report = null;
    const result = $("verifier-result");
    for (const name of ["valid", "premium", "problems", "designated", "eligibleUntil", "error"]) delete result.dataset[name];
    for (const id of ["verifier-verdict", "verifier-summary", "verifier-lines"]) {
      $(id).hidden = true;
      $(id).replaceChildren();
    }
  }

  function showLoaded(cert) {
    const loaded = $("verifier-loaded");
    loaded.textContent = t("input.loaded", { municipality: municipalityName(cert), holder: cert.holder, count: cert.records.length });
    loaded.hidden = false;
  }

  function loadText(text) {
    clearResult();
    state.certificate = null;
    $("verifier-loaded").hidden = true;
    try {
      state.certificate = parseCertificate(text);
    } catch (error) {
      if (!(error instanceof FormatError)) throw error;
      showState("error", "error.format", { detail: error.message });
      $("verifier-result").dataset.error = "format";
      $("verifier-result").dataset.valid = "false";
      $("verifier-result").dataset.premium = "false";
      return;
    }
    showLoaded(state.certificate);
    if (!$("verifier-rpc").value.trim() && state.certificate.rpc_hint) $("verifier-rpc").value = state.certificate.rpc_hint;
    runVerification();
  }

  async function runVerification() {
    const cert = state.certificate;
    if (!cert) {
      clearResult();
      showState("error", "error.no_certificate");
      return;
    }
    const url = $("verifier-rpc").value.trim() || cert.rpc_hint || "";
    if (!url) {
      clearResult();
      showState("error", "error.no_rpc");
      return;
    }
    const trustedLedger = $("verifier-ledger").value.trim() || null;
    const chainText = $("verifier-chain").value.trim();
    const trustedChainId = /^\d+$/.test(chainText) ? Number(chainText) : null;
    const asOf = DATE.test($("verifier-as-of").value) ? $("verifier-as-of").value : todayJst();
    const run = ++state.run;
    clearResult();
    showState("running", "state.running");
    $("verifier-run").disabled = true;
    try {
      const report = await verifyCertificate(cert, jsonRpc(url), { trustedLedger, trustedChainId, asOf });
      if (run !== state.run) return; // a newer run owns the page
      render(report);
    } catch (error) {
      if (run !== state.run) return;
      showState("error", "error.internal", { detail: error.message });
      $("verifier-result").dataset.error = "internal";
      console.warn(error);
    } finally {
      if (run === state.run) $("verifier-run").disabled = false;
    }
  }

  function reasonTexts(report) {
    const out = report.problems.map((p) => {
      const text = pick(CONFIG.problems[p.code]);
      return p.detail ? (lang === "en" ? `${text} (${p.detail})` : `${text}（${p.detail}）`) : text;
    });
    const failed = report.lines.filter((l) => l.status === "failed").map((l) => l.line);
    if (failed.length) out.push(t("reason.failed_lines", { lines: failed.join(", ") }));
    const revoked = report.lines.filter((l) => l.status === "revoked").map((l) => l.line);
    if (revoked.length) out.push(t("reason.revoked_lines", { lines: revoked.join(", ") }));
    if (report.verdict) {
      const [start, end] = eligibilityWindow(report.as_of);
      const key = report.verdict.eligible ? "reason.counted_enough" : "reason.counted_short";
      out.push(t(key, { n: report.verdict.designated, from: formatDay(start), to: formatDay(end), min: MIN }));
    }
    return out;
  }

  function render(report) {
    state.report = report;
    state.message = null;
    const cert = report.certificate;
    const result = $("verifier-result");
    result.dataset.state = "done";
    state.resultState = "done";
    result.dataset.valid = String(report.valid);
    result.dataset.premium = String(report.premium);
    result.dataset.problems = report.problems.map((p) => p.code).join(",");
    result.dataset.designated = String(report.verdict ? report.verdict.designated : 0);
    result.dataset.eligibleUntil = (report.verdict && report.verdict.eligible_until) || "";
    $("verifier-state").hidden = true;

    const verdict = $("verifier-verdict");
    verdict.className = `verdict ${report.valid ? "valid" : "invalid"}`;
    const premiumKey = report.valid ? (report.premium ? "verdict.premium_yes" : "verdict.premium_no") : "verdict.premium_unknown";
    const parts = [
      el("p", { class: "verdict-head", id: "verifier-verdict-head" }, t(report.valid ? "verdict.valid" : "verdict.invalid")),
      report.verdict && report.valid ? el("p", { class: "verdict-count", id: "verifier-verdict-text" }, t("verdict.text", { n: report.verdict.designated })) : null,
      el("p", { class: "verdict-premium", id: "verifier-premium" }, t(premiumKey, { min: MIN })),
      report.premium && report.verdict.eligible_until
        ? el("p", { id: "verifier-until" }, t("verdict.until", { date: formatDay(report.verdict.eligible_until) }))
        : null,
      el("ul", { id: "verifier-reasons" }, reasonTexts(report).map((text) => el("li", {}, text))),
      report.block_number !== null ? el("p", { class: "block" }, t("verdict.block", { number: report.block_number })) : null,
    ];
    verdict.replaceChildren(...parts.filter((part) => part !== null));
    verdict.hidden = false;

    const summary = $("verifier-summary");
    summary.replaceChildren(
      el("dt", {}, t("cert.municipality")),
      el("dd", {}, municipalityName(cert)),
      el("dt", {}, t("cert.holder")),
      el("dd", { class: "mono" }, cert.holder),
      el("dt", {}, t("cert.range")),
      el("dd", {}, `${formatDay(cert.from)} 〜 ${formatDay(cert.to)}`),
      el("dt", {}, t("cert.chain")),
      el("dd", { class: "mono" }, `${cert.chain_id} · ${cert.ledger}`),
      el("dt", {}, t("cert.issued")),
      el("dd", {}, formatDateTime(cert.issued_at)),
    );
    summary.hidden = false;

    const lines = $("verifier-lines");
    if (!report.lines.length) {
      lines.replaceChildren(...(report.checked ? [el("p", {}, t("lines.empty"))] : []));
      lines.hidden = !report.checked;
      return;
    }
    const head = el(
      "tr",
      {},
      ["col.line", "col.date", "col.activity", "col.kind", "col.units", "col.coins", "col.status"].map((key) => el("th", { scope: "col" }, t(key))),
    );
    const rows = report.lines.map((line) => {
      const r = line.record;
      const kind = CONFIG.kinds[String(r.kind)];
      const statusText = t(`status.${line.status}`);
      return el(
        "tr",
        { "data-line": line.line, "data-status": line.status, "data-reasons": line.reasons.join(",") },
        el("td", { "data-label": t("col.line"), class: "num" }, line.line),
        el("td", { "data-label": t("col.date") }, r.day),
        el(
          "td",
          { class: "activity" },
          r.name ?? t("name.none"),
          " ",
          r.designated ? el("span", { class: "badge" }, t("badge.designated")) : null,
          report.checked && !line.in_window ? el("span", { class: "badge outside" }, t("badge.outside")) : null,
        ),
        el("td", { "data-label": t("col.kind") }, kind ? pick(kind) : t("kind.unknown", { kind: r.kind })),
        el("td", { "data-label": t("col.units"), class: "num" }, t(`units.${r.unit}`, { n: r.units })),
        el("td", { "data-label": t("col.coins"), class: "num" }, t("coins", { n: r.coins.toLocaleString(lang === "en" ? "en-US" : "ja-JP") })),
        el(
          "td",
          { "data-label": t("col.status") },
          el("span", { class: "status" }, statusText),
          line.reasons.length
            ? el("ul", { class: "line-reasons" }, line.reasons.map((code) => el("li", { "data-reason": code }, pick(CONFIG.line_reasons[code]))))
            : null,
        ),
      );
    });
    lines.replaceChildren(el("h2", {}, t("lines.title")), el("table", {}, el("thead", {}, head), el("tbody", {}, rows)));
    lines.hidden = false;
  }

  // -------------------------------------------------------------------------------------------
  // Holder proof: a challenge QR, then the participant's signed answer, checked here
  // -------------------------------------------------------------------------------------------

  const CHALLENGE_S = CONFIG.holder_proof.challenge_s;
  const POLL_MS = CONFIG.holder_proof.poll_ms;

  function challengeSite() {
    if (served) return location.origin;
    const site = (state.certificate && state.certificate.site) || CONFIG.site || "";
    return site.replace(/\/+$/, "");
  }

  function showHolder(holderState, key, values = {}, reasons = []) {
    state.holderMessage = [holderState, key, values, reasons];
    const result = $("holder-result");
    result.dataset.state = holderState;
    result.dataset.reasons = reasons.join(",");
    const texts = reasons.map((code) => pick(CONFIG.holder_proof_reasons[code] || [code, code]));
    result.textContent = t(key, { ...values, reasons: texts.join(lang === "en" ? "; " : "、") });
    result.hidden = false;
  }

  function showChallenge() {
    const c = state.challenge;
    $("holder-scan").textContent = t("holder.scan", { time: formatTime(c.expires_at) });
    $("holder-qr").alt = t("holder.qr_alt");
  }

  function stopPolling() {
    if (state.poll !== null) clearTimeout(state.poll);
    state.poll = null;
  }

  function startChallenge() {
    stopPolling();
    const cert = state.certificate;
    if (!cert) {
      showHolder("failed", "holder.need_certificate");
      return;
    }
    const site = challengeSite();
    if (!site) {
      showHolder("failed", "holder.no_site");
      return;
    }
    const audience = $("holder-audience").value.trim();
    try {
      localStorage.setItem("tsunagari.verifier.audience", audience);
    } catch (_) {
      // not remembered: fine
    }
    const nonce = ethers.hexlify(crypto.getRandomValues(new Uint8Array(32)));
    const expiresAt = Math.floor(Date.now() / 1000) + CHALLENGE_S;
    const url = `${site}/present?n=${nonce}&e=${expiresAt}&a=${encodeURIComponent(audience)}`;
    state.challenge = { nonce, expires_at: expiresAt, audience, url, site, holder: cert.holder, chain_id: cert.chain_id, ledger: cert.ledger };
    const qr = qrcode(0, "M");
    qr.addData(url);
    qr.make();
    const svg = qr.createSvgTag({ cellSize: 4, margin: 16, scalable: true });
    const img = $("holder-qr");
    img.src = `data:image/svg+xml;base64,${btoa(svg)}`;
    img.dataset.url = url;
    $("holder-link").href = url;
    $("holder-challenge").hidden = false;
    $("holder-challenge").dataset.nonce = nonce;
    $("holder-challenge").dataset.expiresAt = String(expiresAt);
    showChallenge();
    showHolder("waiting", "holder.waiting");
    poll(nonce);
  }

  function judge(answers) {
    const c = state.challenge;
    const now = Math.floor(Date.now() / 1000);
    let last = null;
    for (const answer of answers) {
      const reasons = verifyHolderProof(answer, {
        chainId: c.chain_id,
        ledger: c.ledger,
        holder: c.holder,
        nonce: c.nonce,
        now,
        audience: c.audience,
      });
      if (!reasons.length) return [];
      last = reasons;
    }
    return last;
  }

  async function poll(nonce) {
    const c = state.challenge;
    if (!c || c.nonce !== nonce) return;
    if (Math.floor(Date.now() / 1000) > c.expires_at) {
      showHolder("expired", "holder.expired", {}, ["expired"]);
      return;
    }
    let answers = null;
    try {
      const response = await fetch(`${c.site}/api/v1/presentations/${nonce}`, { cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" });
      if (response.ok) answers = (await response.json()).presentations;
    } catch (_) {
      answers = null;
    }
    if (!state.challenge || state.challenge.nonce !== nonce) return;
    if (answers === null || !Array.isArray(answers)) {
      showHolder("unreachable", "holder.unreachable", { site: c.site });
    } else if (answers.length) {
      const reasons = judge(answers);
      if (!reasons.length) {
        showHolder("ok", "holder.ok");
        return; // proven: no need to ask again
      }
      showHolder("failed", "holder.failed", {}, reasons);
    } else if (state.holderMessage && state.holderMessage[0] === "unreachable") {
      showHolder("waiting", "holder.waiting");
    }
    state.poll = setTimeout(() => poll(nonce), POLL_MS);
  }

  function checkPasted() {
    if (!state.certificate) {
      showHolder("failed", "holder.need_certificate");
      return;
    }
    if (!state.challenge) {
      showHolder("failed", "holder.need_challenge");
      return;
    }
    let pasted;
    try {
      pasted = JSON.parse($("holder-paste").value);
    } catch (_) {
      showHolder("failed", "holder.paste_invalid");
      return;
    }
    const answers = Array.isArray(pasted) ? pasted : isObject(pasted) && Array.isArray(pasted.presentations) ? pasted.presentations : [pasted];
    if (!answers.length) {
      showHolder("failed", "holder.paste_invalid");
      return;
    }
    const reasons = judge(answers);
    if (!reasons.length) {
      stopPolling();
      showHolder("ok", "holder.ok");
    } else {
      showHolder("failed", "holder.failed", {}, reasons);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Wiring
  // -------------------------------------------------------------------------------------------

  function readFile(file) {
    if (!file) return;
    showState("loading", "input.loading");
    file.text().then(loadText, (error) => showState("error", "error.fetch", { detail: error.message }));
  }

  async function loadById(id) {
    showState("loading", "input.loading");
    try {
      const response = await fetch(`/api/v1/certificates/${encodeURIComponent(id)}`, { cache: "no-store", credentials: "omit" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      loadText(await response.text());
    } catch (error) {
      showState("error", "error.fetch", { detail: error.message });
      $("verifier-result").dataset.error = "fetch";
    }
  }

  function start() {
    $("verifier-rpc").value = CONFIG.rpc_url || "";
    $("verifier-ledger").value = CONFIG.ledger || "";
    $("verifier-chain").value = CONFIG.chain_id === null ? "" : String(CONFIG.chain_id);
    $("verifier-as-of").value = todayJst();
    try {
      $("holder-audience").value = localStorage.getItem("tsunagari.verifier.audience") || "";
    } catch (_) {
      // nothing remembered
    }
    $("verifier-download-line").hidden = !served;
    applyLanguage();

    $("verifier-lang").addEventListener("click", () => {
      lang = lang === "ja" ? "en" : "ja";
      try {
        localStorage.setItem("tsunagari.verifier.lang", lang);
      } catch (_) {
        // not remembered
      }
      applyLanguage();
    });
    $("verifier-file").addEventListener("change", (event) => readFile(event.target.files[0]));
    const drop = $("verifier-drop");
    for (const name of ["dragenter", "dragover"]) {
      document.addEventListener(name, (event) => {
        event.preventDefault();
        drop.classList.add("dragging");
      });
    }
    document.addEventListener("dragleave", (event) => {
      if (event.relatedTarget === null) drop.classList.remove("dragging");
    });
    document.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("dragging");
      readFile(event.dataTransfer && event.dataTransfer.files[0]);
    });
    $("verifier-run").addEventListener("click", () => runVerification());
    $("holder-start").addEventListener("click", startChallenge);
    $("holder-check").addEventListener("click", checkPasted);

    const id = params.get("c");
    if (id && served) loadById(id);
  }

  start();
})();
