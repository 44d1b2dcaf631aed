/*
 * The claim page (/c/{token}): the participant's phone after scanning a kiosk QR code.
 *
 * 1. load the check-in context (activity + EIP-712 typed data) for the token;
 * 2. use the key kept in this browser (created on first use with ethers.Wallet.createRandom) or,
 *    when chosen, an existing wallet through window.ethereum (eth_signTypedData_v4);
 * 3. sign the Claim, POST it, say 「受け付けました」 at once, then follow the claim's status every
 *    second until it is confirmed on chain (and indexed).
 *
 * The signed body is kept until the server answers, and a retry always resends the SAME body: the
 * server treats an identical body as a replay and answers with the claim id. What is stored in
 * localStorage is described in docs/pages-checkin.md.
 */
(function () {
  "use strict";

  const T = window.Tsunagari;
  const t = T.t;
  const ethers = window.ethers;

  const KEY_STORE = "tsunagari.key.v1"; // {address, privateKey, phrase, createdAt, backedUp}
  const MODE_STORE = "tsunagari.mode.v1"; // "browser" | "wallet"
  const WALLET_STORE = "tsunagari.wallet.v1"; // {address} of the external wallet last used
  const CLAIMS_STORE = "tsunagari.claims.v1"; // {token: {claimId, activityId, participant, reward, name, region, at}}
  const PENDING_STORE = "tsunagari.pending.v1"; // {token: signed body not yet answered}
  const MAX_REMEMBERED_CLAIMS = 50;
  const POLL_MS = 1000;
  const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000];
  const AFTER_CONFIRMED_POLLS = 60;
  // After "confirmed", the page keeps looking (slowly) for a while: on a chain without instant
  // finality a block can still be replaced, and then the relayer records the claim again. The page
  // says so instead of showing a coin that is not (yet again) on chain.
  const WATCH_AFTER_CONFIRMED_MS = 120000;
  const WATCH_POLL_MS = 5000;

  const main = document.getElementById("main");
  const token = main.dataset.token;
  const lang = main.dataset.lang || document.documentElement.lang || "ja";
  const $ = (id) => document.getElementById(id);

  const STATE_ERRORS = {
    closed: "activity_closed",
    full: "activity_full",
    not_started: "activity_not_started",
    ended: "activity_ended",
  };
  const NOT_RETRYABLE = new Set([
    "token_malformed",
    "token_forged",
    "token_expired",
    "token_wrong_activity",
    "token_wrong_region",
    "bad_address",
    "bad_signature",
    "unknown_activity",
    "activity_closed",
    "activity_not_started",
    "activity_ended",
    "activity_full",
    "too_large",
    "invalid_request",
    "invalid",
    "not_found",
  ]);

  /* ---------- storage (localStorage may be missing or full; keep working in memory) ---------- */

  const memory = {};
  let storageOk = true;
  function load(name) {
    try {
      const raw = window.localStorage.getItem(name);
      return raw === null ? null : JSON.parse(raw);
    } catch (err) {
      storageOk = false;
      return Object.prototype.hasOwnProperty.call(memory, name) ? memory[name] : null;
    }
  }
  function save(name, value) {
    memory[name] = value;
    try {
      if (value === null) window.localStorage.removeItem(name);
      else window.localStorage.setItem(name, JSON.stringify(value));
    } catch (err) {
      storageOk = false;
    }
  }
  function updateMap(name, key, value) {
    const map = load(name) || {};
    if (value === null) delete map[key];
    else map[key] = value;
    const keys = Object.keys(map);
    if (keys.length > MAX_REMEMBERED_CLAIMS) {
      keys.sort((a, b) => (map[a].at || 0) - (map[b].at || 0));
      keys.slice(0, keys.length - MAX_REMEMBERED_CLAIMS).forEach((k) => delete map[k]);
    }
    save(name, map);
  }

  /* ---------- the key ---------- */

  function browserKey() {
    const key = load(KEY_STORE);
    return key && typeof key.privateKey === "string" && typeof key.address === "string" ? key : null;
  }

  function mode() {
    return load(MODE_STORE) === "wallet" && window.ethereum ? "wallet" : "browser";
  }

  function createBrowserKey() {
    const wallet = ethers.Wallet.createRandom();
    const key = {
      address: wallet.address,
      privateKey: wallet.privateKey,
      phrase: wallet.mnemonic ? wallet.mnemonic.phrase : null,
      createdAt: Date.now(),
      backedUp: false,
    };
    save(KEY_STORE, key);
    save(MODE_STORE, "browser");
    if (navigator.storage && navigator.storage.persist) {
      navigator.storage.persist().catch(() => undefined); // ask the browser not to evict the key
    }
    return key;
  }

  function currentAddress() {
    if (mode() === "wallet") {
      const wallet = load(WALLET_STORE);
      return wallet ? wallet.address : null;
    }
    const key = browserKey();
    return key ? key.address : null;
  }

  async function walletAddress() {
    const accounts = await window.ethereum.request({ method: "eth_requestAccounts" });
    if (!accounts || !accounts.length) throw new Error("no account");
    const address = ethers.getAddress(accounts[0]);
    save(WALLET_STORE, { address: address });
    return address;
  }

  /** Sign the Claim with the key in use; returns {participant, signature, requestedAt}. */
  async function signClaim(context, requestedAt) {
    const typed = context.typed_data;
    const claimTypes = { Claim: typed.types.Claim };
    if (mode() === "wallet") {
      const participant = await walletAddress();
      const message = { activityId: context.activity.id, token: context.token, participant: participant, requestedAt: requestedAt };
      const domainType = [
        { name: "name", type: "string" },
        { name: "version", type: "string" },
        { name: "chainId", type: "uint256" },
        { name: "verifyingContract", type: "address" },
      ].filter((field) => Object.prototype.hasOwnProperty.call(typed.domain, field.name));
      const payload = {
        types: { EIP712Domain: domainType, Claim: typed.types.Claim },
        primaryType: "Claim",
        domain: typed.domain,
        message: message,
      };
      const signature = await window.ethereum.request({
        method: "eth_signTypedData_v4",
        params: [participant, JSON.stringify(payload)],
      });
      const recovered = ethers.verifyTypedData(typed.domain, claimTypes, message, signature);
      if (ethers.getAddress(recovered) !== participant) throw new Error("wallet signature does not match");
      return { participant: participant, signature: signature };
    }
    let key = browserKey();
    if (!key) key = createBrowserKey();
    const signer = new ethers.Wallet(key.privateKey);
    const message = { activityId: context.activity.id, token: context.token, participant: signer.address, requestedAt: requestedAt };
    const signature = await signer.signTypedData(typed.domain, claimTypes, message);
    return { participant: signer.address, signature: signature };
  }

  /* ---------- rendering ---------- */

  let clockSkewMs = 0; // server clock minus this phone's clock, from the Date header
  let lastContext = null;

  function setState(state, headline, detail) {
    $("status").dataset.state = state;
    $("status-headline").textContent = headline;
    $("status-detail").textContent = detail || "";
  }

  // The coins a check-in brings: per visit, or per hour / day times the units on the code.
  function rewardText(activity) {
    const units = activity.units || 1;
    const reward = T.formatNumber(activity.reward * units, lang);
    if (activity.unit === "hour") return t("claim.reward_hour", { units: units, reward: reward });
    if (activity.unit === "day") return t("claim.reward_day", { units: units, reward: reward });
    return t("claim.reward", { reward: reward });
  }

  function showActivity(activity) {
    if (!activity) return;
    $("activity").hidden = false;
    $("activity-region").textContent = activity.region_name || String(activity.region || "");
    $("activity-name").textContent = activity.name || "";
    if (activity.reward !== undefined) $("activity-reward").textContent = rewardText(activity);
    $("activity-designated").hidden = !activity.designated;
    if (activity.starts_at && activity.ends_at) {
      $("activity-when").textContent = t("claim.when", {
        start: T.formatTime(activity.starts_at, lang),
        end: T.formatTime(activity.ends_at, lang, activity.starts_at),
      });
    }
  }

  function renderKey() {
    const address = currentAddress();
    const walletMode = mode() === "wallet";
    $("key-none").hidden = Boolean(address);
    $("key-current").hidden = !address;
    if (address) {
      $("key-address").textContent = T.shortHex(address, 6, 4);
      $("key-address").title = address;
      $("key-kind").textContent = walletMode ? t("claim.key_kind_wallet") : t("claim.key_kind_browser");
      const link = $("people-link");
      link.href = "/people/" + address;
    }
    const key = browserKey();
    $("backup").hidden = !key && !walletMode; // nothing to back up yet
    $("backup-unavailable").hidden = Boolean(!walletMode && key && key.phrase);
    $("backup-controls").hidden = walletMode || !(key && key.phrase);
    $("wallet").hidden = !window.ethereum;
    $("use-wallet").hidden = walletMode;
    $("use-browser-key").hidden = !walletMode;
    if (!storageOk) {
      $("key-none").hidden = false;
      $("key-none").textContent = t("claim.storage_unavailable");
    }
  }

  function showError(code, serverMessage) {
    const known = T.has("error." + code);
    const text = known ? t("error." + code) : t("error.unknown");
    const detail = known || !serverMessage ? text : text + " (" + serverMessage + ")";
    setState("error", t("claim.error_headline"), detail);
    $("status").dataset.error = code;
  }

  const STEPS = ["accepted", "submitted", "confirmed", "indexed"];
  function showSteps(status) {
    const reached = STEPS.indexOf(status);
    $("steps").hidden = false;
    document.querySelectorAll("#steps li").forEach((item) => {
      const index = STEPS.indexOf(item.dataset.step);
      item.classList.toggle("done", index <= reached);
      item.classList.toggle("next", index === reached + 1);
      if (index === reached) item.setAttribute("aria-current", "step");
      else item.removeAttribute("aria-current");
    });
  }

  function showTx(claim) {
    if (!claim.tx_hash) return;
    $("tx").hidden = false;
    $("tx-hash").textContent = T.shortHex(claim.tx_hash, 8, 6);
    $("tx-hash").title = claim.tx_hash;
    $("tx-block").textContent = claim.block_number === null || claim.block_number === undefined ? "—" : T.formatNumber(claim.block_number, lang);
  }

  function showBackupReminder() {
    const key = browserKey();
    $("backup-reminder").hidden = !(mode() === "browser" && key && key.phrase && !key.backedUp);
  }

  /* ---------- following a claim ---------- */

  let pollTimer = null;
  let remembered = null;

  function remember(claimId, participant, activity) {
    remembered = {
      claimId: claimId,
      participant: participant,
      activityId: activity ? activity.id : null,
      reward: activity ? activity.reward : null,
      name: activity ? activity.name : null,
      regionName: activity ? activity.region_name : null,
      startsAt: activity ? activity.starts_at : null,
      endsAt: activity ? activity.ends_at : null,
      at: Date.now(),
    };
    updateMap(CLAIMS_STORE, token, remembered);
  }

  let shownStatus = null;

  function showStatus(claim) {
    const status = claim.status;
    const wasOnChain = shownStatus === "confirmed" || shownStatus === "indexed";
    shownStatus = status;
    $("status").dataset.claimId = String(claim.claim_id);
    if (status === "rejected") {
      const error = claim.error || { code: "unknown", message: "" };
      showError(error.code, error.message);
      $("steps").hidden = true;
      return;
    }
    showSteps(status);
    showTx(claim);
    $("people-link").hidden = false;
    const reward = remembered && remembered.reward !== null && remembered.reward !== undefined ? T.formatNumber(remembered.reward, lang) : "";
    if (status === "confirmed" || status === "indexed") {
      setState(status, t("claim.confirmed_headline"), reward ? t("claim.confirmed_detail", { reward: reward }) : t("claim.confirmed_detail_plain"));
      showBackupReminder();
    } else if (wasOnChain) {
      setState("submitted", t("claim.accepted_headline"), t("claim.recording_again_detail"));
    } else if (status === "submitted" && claim.tx_hash) {
      setState(status, t("claim.accepted_headline"), t("claim.mined_detail"));
    } else if (status === "submitted") {
      setState(status, t("claim.accepted_headline"), t("claim.submitted_detail"));
    } else {
      setState("accepted", t("claim.accepted_headline"), t("claim.accepted_detail"));
    }
  }

  function follow(claimId) {
    let failures = 0;
    let afterConfirmed = 0;
    let onChainSince = null;
    const url = "/api/v1/claims/" + encodeURIComponent(claimId);
    const tick = async () => {
      let result;
      try {
        result = await T.fetchJson(url, { headers: { Accept: "application/json" } }, 8000);
      } catch (err) {
        failures += 1;
        $("status-detail").textContent = t("claim.reconnecting");
        pollTimer = setTimeout(tick, Math.min(POLL_MS * (1 + failures), 5000));
        return;
      }
      failures = 0;
      if (result.status !== 200 || !result.body) {
        const error = T.apiError(result);
        if (NOT_RETRYABLE.has(error.code)) {
          showError(error.code, error.message);
          return;
        }
        pollTimer = setTimeout(tick, POLL_MS * 2);
        return;
      }
      const claim = result.body;
      showStatus(claim);
      if (claim.status === "rejected") return;
      if (claim.status === "confirmed" || claim.status === "indexed") {
        onChainSince = onChainSince || Date.now();
        if (Date.now() - onChainSince > WATCH_AFTER_CONFIRMED_MS) return;
        if (claim.status === "confirmed" && ++afterConfirmed > AFTER_CONFIRMED_POLLS) {
          // the indexer is behind; the coin is on chain, which is what matters here
          document.querySelectorAll("#steps li.next").forEach((item) => item.classList.remove("next"));
        }
        pollTimer = setTimeout(tick, claim.status === "indexed" ? WATCH_POLL_MS : POLL_MS * 2);
        return;
      }
      onChainSince = null;
      pollTimer = setTimeout(tick, POLL_MS);
    };
    if (pollTimer) clearTimeout(pollTimer);
    tick();
  }

  /* ---------- sending ---------- */

  async function send(body, attempt) {
    setState("sending", t("claim.sending"), attempt ? t("claim.retrying", { attempt: attempt + 1 }) : "");
    let result;
    try {
      result = await T.fetchJson(
        "/api/v1/claims",
        { method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" }, body: JSON.stringify(body) },
        10000,
      );
    } catch (err) {
      return retryLater(body, attempt || 0, "network");
    }
    if (result.status === 202 || result.status === 200 || result.status === 201) {
      const accepted = result.body;
      updateMap(PENDING_STORE, token, null);
      remember(accepted.claim_id, accepted.participant || body.participant, lastContext && lastContext.activity);
      showStatus({ claim_id: accepted.claim_id, status: "accepted" });
      follow(accepted.claim_id);
      return;
    }
    const error = T.apiError(result);
    if ((error.code === "already_claimed" || error.code === "replayed_request") && error.claim_id !== undefined && error.claim_id !== null) {
      updateMap(PENDING_STORE, token, null);
      remember(error.claim_id, body.participant, lastContext && lastContext.activity);
      if (error.code === "already_claimed") {
        setState("accepted", t("claim.already_headline"), t("claim.already_detail"));
      }
      follow(error.claim_id);
      return;
    }
    if (NOT_RETRYABLE.has(error.code)) {
      updateMap(PENDING_STORE, token, null);
      showError(error.code, error.message);
      return;
    }
    if (error.code === "rate_limited") {
      const wait = Number(result.response.headers.get("Retry-After")) || 0;
      showError("rate_limited", error.message);
      offerRetry(body, wait * 1000);
      return;
    }
    retryLater(body, attempt || 0, error.code);
  }

  function retryLater(body, attempt, code) {
    if (attempt < RETRY_DELAYS_MS.length) {
      setState("sending", t("claim.sending"), t("claim.retrying", { attempt: attempt + 2 }));
      setTimeout(() => send(body, attempt + 1), RETRY_DELAYS_MS[attempt]);
      return;
    }
    showError(code === "network" ? "network" : code, "");
    offerRetry(body, 0);
  }

  function offerRetry(body, afterMs) {
    const button = $("retry-button");
    button.hidden = false;
    button.disabled = afterMs > 0;
    if (afterMs > 0) {
      setTimeout(() => {
        button.disabled = false;
      }, afterMs);
    }
    button.onclick = () => {
      button.hidden = true;
      send(body, 0); // the same signed body: the server answers a replay with the claim id
    };
  }

  async function signAndSend(context) {
    try {
      if (mode() === "wallet") setState("signing", t("claim.wallet_sign_prompt"), "");
      else if (!browserKey()) setState("creating", t("claim.creating_key"), "");
      else setState("signing", t("claim.signing"), "");
      const requestedAt = Math.floor((Date.now() + clockSkewMs) / 1000);
      const signed = await signClaim(context, requestedAt);
      renderKey();
      const body = { token: context.token, participant: signed.participant, requested_at: requestedAt, signature: signed.signature };
      updateMap(PENDING_STORE, token, Object.assign({ at: Date.now() }, { body: body }));
      await send(body, 0);
    } catch (err) {
      if (mode() === "wallet") {
        setState("error", t("claim.error_headline"), t("claim.wallet_error"));
        $("sign-button").hidden = false;
        return;
      }
      throw err;
    }
  }

  function waitForChoice() {
    return new Promise((resolve) => {
      $("choose").hidden = false;
      setState("choose", t("claim.choose_headline"), "");
      $("choose-browser").addEventListener("click", () => {
        save(MODE_STORE, "browser");
        $("choose").hidden = true;
        resolve();
      });
      $("choose-wallet").addEventListener("click", async () => {
        try {
          await walletAddress();
          save(MODE_STORE, "wallet");
          $("choose").hidden = true;
          renderKey();
          resolve();
        } catch (err) {
          setState("choose", t("claim.choose_headline"), t("claim.wallet_rejected"));
        }
      });
      $("choose-browser").focus();
    });
  }

  /* ---------- the flow ---------- */

  async function loadContext() {
    let result;
    for (let attempt = 0; ; attempt++) {
      try {
        result = await T.fetchJson("/api/v1/checkin/" + encodeURIComponent(token), { headers: { Accept: "application/json" } }, 8000);
        break;
      } catch (err) {
        if (attempt >= RETRY_DELAYS_MS.length) throw err;
        $("status-detail").textContent = t("claim.reconnecting");
        await new Promise((resolve) => setTimeout(resolve, RETRY_DELAYS_MS[attempt]));
      }
    }
    const date = Date.parse(result.response.headers.get("Date") || "");
    if (!Number.isNaN(date)) clockSkewMs = date - Date.now();
    return result;
  }

  async function start() {
    renderKey();
    if (!ethers) {
      showError("unavailable", "");
      return;
    }
    const known = (load(CLAIMS_STORE) || {})[token];
    if (known && known.claimId !== undefined && known.claimId !== null) {
      // Already claimed with this QR code (a reload, a language switch): show that claim.
      remembered = known;
      showActivity({ name: known.name, region_name: known.regionName, reward: known.reward, starts_at: known.startsAt, ends_at: known.endsAt });
      setState("accepted", t("claim.accepted_headline"), "");
      follow(known.claimId);
      return;
    }
    const pending = (load(PENDING_STORE) || {})[token];
    let result;
    try {
      result = await loadContext();
    } catch (err) {
      if (pending && pending.body) return send(pending.body, 0);
      showError("network", "");
      $("retry-button").hidden = false;
      $("retry-button").onclick = () => window.location.reload();
      return;
    }
    if (result.status !== 200 || !result.body) {
      const error = T.apiError(result);
      if (pending && pending.body && !NOT_RETRYABLE.has(error.code)) return send(pending.body, 0);
      showError(error.code, error.message);
      return;
    }
    const context = result.body;
    lastContext = context;
    showActivity(context.activity);
    if (pending && pending.body) {
      send(pending.body, 0); // a signed claim the server never answered: send the same body again
      return;
    }
    const state = context.activity.state;
    if (state && state !== "open") {
      showError(STATE_ERRORS[state] || "activity_closed", "");
      return;
    }
    if (!browserKey() && load(MODE_STORE) === null && window.ethereum) {
      await waitForChoice();
    }
    if (mode() === "wallet") {
      // Wallets open a confirmation window: let the participant start it.
      setState("ready", t("claim.wallet_ready"), "");
      const button = $("sign-button");
      button.hidden = false;
      button.onclick = () => {
        button.hidden = true;
        signAndSend(context);
      };
      button.focus();
      return;
    }
    await signAndSend(context);
  }

  /* ---------- key management: backup, restore, wallet ---------- */

  function wireKeyPanel() {
    T.copyButton($("copy-address"), () => currentAddress() || "");
    T.copyButton($("copy-tx"), () => $("tx-hash").title || "");
    T.copyButton($("copy-phrase"), () => {
      const key = browserKey();
      return key && key.phrase ? key.phrase : "";
    });
    $("reveal-phrase").addEventListener("click", () => {
      const key = browserKey();
      if (!key || !key.phrase) return;
      const list = $("phrase-words");
      list.replaceChildren();
      key.phrase.split(" ").forEach((word) => {
        const item = document.createElement("li");
        item.textContent = word;
        list.appendChild(item);
      });
      $("phrase-box").hidden = false;
      $("reveal-phrase").hidden = true;
    });
    $("hide-phrase").addEventListener("click", () => {
      $("phrase-words").replaceChildren();
      $("phrase-box").hidden = true;
      $("reveal-phrase").hidden = false;
      $("reveal-phrase").focus();
    });
    $("confirm-backup").addEventListener("click", () => {
      const key = browserKey();
      if (key) {
        key.backedUp = true;
        save(KEY_STORE, key);
      }
      $("phrase-words").replaceChildren();
      $("phrase-box").hidden = true;
      $("reveal-phrase").hidden = false;
      $("backup-reminder").hidden = true;
      $("confirm-backup").textContent = t("claim.backup_done_thanks");
    });
    $("backup-reminder-open").addEventListener("click", () => {
      $("backup").open = true;
      $("backup").scrollIntoView({ behavior: "smooth", block: "start" });
      $("reveal-phrase").focus();
    });
    $("restore-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const phrase = $("restore-phrase").value.trim().toLowerCase().normalize("NFKD").split(/\s+/).join(" ");
      const errorBox = $("restore-error");
      errorBox.hidden = true;
      if (!ethers.Mnemonic.isValidMnemonic(phrase)) {
        errorBox.textContent = t("claim.restore_invalid");
        errorBox.hidden = false;
        $("restore-phrase").setAttribute("aria-invalid", "true");
        $("restore-phrase").focus();
        return;
      }
      $("restore-phrase").removeAttribute("aria-invalid");
      const wallet = ethers.Wallet.fromPhrase(phrase);
      const current = browserKey();
      if (current && current.address !== wallet.address && !current.backedUp) {
        if (!window.confirm(t("claim.restore_confirm_replace", { address: T.shortHex(current.address, 6, 4) }))) return;
      }
      save(KEY_STORE, { address: wallet.address, privateKey: wallet.privateKey, phrase: phrase, createdAt: Date.now(), backedUp: true });
      save(MODE_STORE, "browser");
      $("restore-phrase").value = "";
      renderKey();
      $("restore-hint").textContent = t("claim.restore_done", { address: T.shortHex(wallet.address, 6, 4) });
    });
    $("use-wallet").addEventListener("click", async () => {
      $("wallet-error").hidden = true;
      try {
        await walletAddress();
        save(MODE_STORE, "wallet");
        renderKey();
      } catch (err) {
        $("wallet-error").textContent = t("claim.wallet_rejected");
        $("wallet-error").hidden = false;
      }
    });
    $("use-browser-key").addEventListener("click", () => {
      save(MODE_STORE, "browser");
      renderKey();
    });
  }

  wireKeyPanel();
  start().catch((err) => {
    showError("unknown", err && err.message ? err.message : String(err));
  });
})();
