/*
 * The claim page (/c/{token}): the participant's phone after scanning a kiosk QR code, or opening
 * the QR code of a single-use claim code (a ふるさと納税 thank-you letter, an online event's mail).
 *
 * 1. load the check-in context (activity + EIP-712 typed data) for the token;
 * 2. use the key kept in this browser (created on first use with ethers.Wallet.createRandom) or,
 *    when chosen, an existing wallet through window.ethereum (eth_signTypedData_v4);
 * 3. sign the Claim, POST it, say 「受け付けました」 at once, then follow the claim's status every
 *    second until it is confirmed on chain (and indexed).
 *
 * A claim code (context.kind "code") signs the canonical code the API answers with (not what
 * was typed in the URL) and is otherwise claimed like a kiosk code. A presence kiosk (context.kind
 * "presence": hours of help, days of a stay) records an arrival on the first scan and offers an
 * explicit 「出発を記録する」 button on the next one; the departure's units come from the server.
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
  const PRESENCE_STORE = "tsunagari.presence.v1"; // {activityId: the open check-in made on this phone}
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
    "invalid_units",
    "code_unknown",
    "code_mistyped",
    "code_used",
    "code_voided",
    "code_expired",
    "not_checked_in",
    "already_checked_in",
    "checkin_expired",
    "overlapping_stay",
  ]);
  // Errors about a typed claim code: the page offers to type it again.
  const CODE_ERRORS = new Set(["code_unknown", "code_mistyped", "code_used", "code_voided", "code_expired"]);
  // A kiosk token has 38 characters; anything else in the URL is a claim code (maybe typed loosely).
  const codePage = token.length !== 38;

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

  // The coins a check-in brings: per visit, or per hour / day times the units on the code; a
  // presence kiosk (units 0) says what an hour or a day brings.
  function rewardText(activity) {
    if (activity.units === 0 && (activity.unit === "hour" || activity.unit === "day")) {
      const each = T.formatNumber(activity.reward, lang);
      return t(activity.unit === "hour" ? "claim.reward_per_hour" : "claim.reward_per_day", { reward: each });
    }
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
    let text = known ? t("error." + code) : t("error.unknown");
    if (code === "rate_limited" && codePage && !lastContext) text = t("claim.code_rate_limited"); // wrong codes
    const detail = known || !serverMessage ? text : text + " (" + serverMessage + ")";
    setState("error", t("claim.error_headline"), detail);
    $("status").dataset.error = code;
    const loose = token.replace(/[\s-]/g, "");
    $("code-entry-link").hidden = !(CODE_ERRORS.has(code) || (code === "token_malformed" && codePage && loose.length >= 12 && loose.length <= 20));
    $("arrive-button").hidden = true;
    $("depart-button").hidden = true;
  }

  /* ---------- a claim code from a letter ---------- */

  function showCode(code) {
    if (!code) return;
    $("code-box").hidden = false;
    $("code-display").textContent = code.display || "";
    $("code-expiry").textContent = code.expires_at ? t("claim.code_expires", { date: T.formatTime(code.expires_at, lang) }) : "";
  }

  /* ---------- check-in and check-out (a presence kiosk) ---------- */

  function serverNowS() {
    return (Date.now() + clockSkewMs) / 1000;
  }

  function sinceText(unit, openedAt) {
    const start = T.formatTime(openedAt, lang, serverNowS());
    const elapsed = Math.max(0, Math.floor(serverNowS() - openedAt));
    if (unit === "day") {
      const days = Math.floor((serverNowS() + 9 * 3600) / 86400) - Math.floor((openedAt + 9 * 3600) / 86400) + 1;
      return t("claim.presence_since_days", { start: start, days: days });
    }
    return t("claim.presence_since_hours", { start: start, hours: Math.floor(elapsed / 3600), minutes: Math.floor((elapsed % 3600) / 60) });
  }

  function unitsText(unit, units) {
    return t(unit === "day" ? "claim.presence_recorded_days" : "claim.presence_recorded_hours", { units: units });
  }

  function presenceNote(text) {
    $("presence-note").hidden = !text;
    $("presence-note").textContent = text || "";
  }

  function rememberArrival(context, answer) {
    const activity = context.activity;
    updateMap(PRESENCE_STORE, String(activity.id), {
      token: token,
      sessionId: answer.session_id,
      openedAt: answer.opened_at,
      expiresAt: answer.expires_at,
      unit: activity.unit,
      name: activity.name,
      regionName: activity.region_name,
      reward: activity.reward,
      at: Date.now(),
    });
  }

  function arrivalMadeWith(qrToken) {
    const map = load(PRESENCE_STORE) || {};
    const id = Object.keys(map).find((key) => map[key] && map[key].token === qrToken);
    return id === undefined ? null : map[id];
  }

  function showArrived(unit, openedAt) {
    setState("arrived", t("claim.arrived_headline"), t("claim.arrived_detail"));
    presenceNote(sinceText(unit, openedAt));
  }

  function offerDeparture(context, session) {
    setState("depart", t("claim.depart_headline"), sinceText(context.activity.unit, session.opened_at));
    const button = $("depart-button");
    button.hidden = false;
    button.onclick = () => {
      button.hidden = true;
      signAndSend(context, "depart");
    };
    button.focus();
  }

  async function startPresence(context) {
    const presence = context.presence || { next: null, session: null };
    const session = presence.session;
    const next = currentAddress() ? presence.next : "arrive"; // a new key has no check-in anywhere
    if (next === "depart" && session) {
      offerDeparture(context, session);
      return;
    }
    if (next === "arrive") {
      if (!browserKey() && load(MODE_STORE) === null && window.ethereum) await waitForChoice();
      if (mode() === "wallet") {
        setState("ready", t("claim.arrive_headline"), "");
        const button = $("arrive-button");
        button.hidden = false;
        button.onclick = () => {
          button.hidden = true;
          signAndSend(context, "arrive");
        };
        button.focus();
        return;
      }
      await signAndSend(context, "arrive"); // an arrival is harmless: recorded on the first scan
      return;
    }
    if (session && session.state === "recorded" && session.claim_id) {
      remember(session.claim_id, session.participant, context.activity, session.units);
      presenceNote(unitsText(context.activity.unit, session.units));
      setState("accepted", t("claim.already_headline"), t("claim.already_detail"));
      follow(session.claim_id);
      return;
    }
    if (session && session.state === "awaiting_staff") {
      setState("awaiting_staff", t("claim.awaiting_staff_headline"), t("claim.awaiting_staff_detail"));
      if (session.units) presenceNote(unitsText(context.activity.unit, session.units));
      return;
    }
    showError("unknown", "");
  }

  /** What a presence kiosk's POST answered: an arrival, a departure not recorded, or one waiting for staff. */
  function showPresenceAnswer(answer) {
    const unit = lastContext ? lastContext.activity.unit : "hour";
    const presence = answer.presence || {};
    if (answer.status === "arrived") {
      if (lastContext) rememberArrival(lastContext, presence);
      showArrived(unit, presence.opened_at);
      return;
    }
    if (lastContext) updateMap(PRESENCE_STORE, String(lastContext.activity.id), null);
    if (answer.status === "too_short") {
      setState("too_short", t("claim.too_short_headline"), t(unit === "day" ? "claim.too_short_detail_days" : "claim.too_short_detail_hours"));
      presenceNote("");
    } else {
      setState("awaiting_staff", t("claim.awaiting_staff_headline"), t("claim.awaiting_staff_detail"));
      presenceNote(presence.units ? unitsText(unit, presence.units) : "");
    }
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

  function remember(claimId, participant, activity, units) {
    // the coins of this record: the activity's reward times its units (hours, days; 1 for a visit)
    const times = units || (activity && activity.units) || 1;
    remembered = {
      claimId: claimId,
      participant: participant,
      activityId: activity ? activity.id : null,
      reward: activity && activity.reward !== undefined && activity.reward !== null ? activity.reward * times : null,
      name: activity ? activity.name : null,
      regionName: activity ? activity.region_name : null,
      startsAt: activity ? activity.starts_at : null,
      endsAt: activity ? activity.ends_at : null,
      at: Date.now(),
    };
    updateMap(CLAIMS_STORE, token, remembered);
    if (lastContext && lastContext.kind === "code" && lastContext.token !== token) {
      updateMap(CLAIMS_STORE, lastContext.token, remembered); // the same code, typed another way
    }
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
      if (accepted.claim_id === null || accepted.claim_id === undefined) {
        showPresenceAnswer(accepted); // a check-in, or a check-out that records nothing (yet)
        return;
      }
      if (accepted.presence) {
        if (lastContext) updateMap(PRESENCE_STORE, String(lastContext.activity.id), null);
        presenceNote(unitsText(lastContext ? lastContext.activity.unit : "hour", accepted.units));
      }
      remember(accepted.claim_id, accepted.participant || body.participant, lastContext && lastContext.activity, accepted.units);
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

  async function signAndSend(context, intent) {
    try {
      if (mode() === "wallet") setState("signing", t("claim.wallet_sign_prompt"), "");
      else if (!browserKey()) setState("creating", t("claim.creating_key"), "");
      else setState("signing", t("claim.signing"), "");
      const requestedAt = Math.floor((Date.now() + clockSkewMs) / 1000);
      const signed = await signClaim(context, requestedAt);
      renderKey();
      const body = {
        token: context.token,
        participant: signed.participant,
        requested_at: requestedAt,
        signature: signed.signature,
        activity_id: context.activity.id,
      };
      if (intent) body.intent = intent;
      updateMap(PENDING_STORE, token, Object.assign({ at: Date.now() }, { body: body }));
      await send(body, 0);
    } catch (err) {
      if (mode() === "wallet") {
        setState("error", t("claim.error_headline"), t("claim.wallet_error"));
        const button = intent === "depart" ? $("depart-button") : intent === "arrive" ? $("arrive-button") : $("sign-button");
        button.hidden = false;
        if (intent) {
          button.onclick = () => {
            button.hidden = true;
            signAndSend(context, intent);
          };
        }
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
        // With the phone's address, a presence kiosk's answer says whether it is checked in now.
        const address = currentAddress();
        const query = address ? "?participant=" + encodeURIComponent(address) : "";
        result = await T.fetchJson("/api/v1/checkin/" + encodeURIComponent(token) + query, { headers: { Accept: "application/json" } }, 8000);
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
    const arrival = arrivalMadeWith(token);
    if (arrival) {
      // This QR code checked the phone in (a reload, a language switch): say so, even offline.
      showActivity({ name: arrival.name, region_name: arrival.regionName });
      showArrived(arrival.unit, arrival.openedAt);
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
    if (context.kind === "code") showCode(context.code);
    if (pending && pending.body) {
      send(pending.body, 0); // a signed claim the server never answered: send the same body again
      return;
    }
    const byCode = context.kind === "code" ? (load(CLAIMS_STORE) || {})[context.token] : null;
    if (byCode && byCode.claimId !== undefined && byCode.claimId !== null) {
      remembered = byCode; // this code, claimed on this phone under another spelling
      setState("accepted", t("claim.accepted_headline"), "");
      follow(byCode.claimId);
      return;
    }
    const state = context.activity.state;
    if (state && state !== "open") {
      showError(STATE_ERRORS[state] || "activity_closed", "");
      return;
    }
    if (context.kind === "presence") {
      await startPresence(context);
      return;
    }
    if (context.kind === "code" && context.code && context.code.used && !currentAddress()) {
      showError("code_used", ""); // someone else's: no key is made for nothing
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
