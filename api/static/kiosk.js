/*
 * The venue kiosk (/kiosk/{activity_id}?k=...): a full-screen QR code that changes every
 * rotation_s seconds, the activity, live counts, and a clear screen when check-in is not open.
 *
 * It polls GET /api/v1/kiosk/{id}/frame every ~2 s and right when the QR code rotates. When the
 * network drops it keeps the last QR code (still valid for the server's grace period), shows an
 * offline badge and keeps trying; a QR code that can no longer be valid is hidden.
 *
 * A presence kiosk (units 0: hours of help, days of a stay) says that the one code serves both
 * arrival and departure, and counts the people checked in now beside the other counts.
 */
(function () {
  "use strict";

  const T = window.Tsunagari;
  const t = T.t;
  const POLL_MS = 2000;
  const MAX_BACKOFF_MS = 10000;
  const ROTATION_LEAD_MS = 150; // ask a moment after the rotation so the server is past it

  const main = document.getElementById("main");
  const activityId = main.dataset.activityId;
  const session = main.dataset.session || "";
  const lang = main.dataset.lang || "ja";
  const frameUrl = "/api/v1/kiosk/" + encodeURIComponent(activityId) + "/frame?k=" + encodeURIComponent(session);
  const $ = (id) => document.getElementById(id);

  let skewMs = 0; // server clock minus ours
  let frame = null;
  let failures = 0;
  let pollTimer = null;
  let stopped = false;

  const serverNow = () => (Date.now() + skewMs) / 1000;

  function setOffline(offline) {
    $("offline-badge").hidden = !offline;
    main.classList.toggle("is-offline", offline);
  }

  function showStateScreen(title, text, activityName) {
    $("state-screen").hidden = false;
    $("state-title").textContent = title;
    $("state-text").textContent = text;
    $("state-activity").textContent = activityName || "";
  }

  function renderCounts(counts) {
    const accepted = counts && typeof counts.accepted === "number" ? counts.accepted : null;
    const confirmed = counts && typeof counts.confirmed === "number" ? counts.confirmed : null;
    $("count-accepted").textContent = accepted === null ? "–" : T.formatNumber(accepted, lang);
    $("count-confirmed").textContent = confirmed === null ? "–" : T.formatNumber(confirmed, lang);
    const present = counts && typeof counts.present === "number" ? counts.present : null;
    $("count-present-box").hidden = present === null;
    $("count-present").textContent = present === null ? "–" : T.formatNumber(present, lang);
    $("state-counts").textContent =
      accepted === null ? "" : t("kiosk.state_counts", { accepted: T.formatNumber(accepted, lang), confirmed: T.formatNumber(confirmed || 0, lang) });
  }

  function renderQr(next) {
    const box = $("qr");
    if (box.dataset.slot === String(next.slot) && box.dataset.claimUrl === next.claim_url) return;
    // The server's inline SVG (segno) has no xmlns: parse it as HTML, which puts <svg> in the SVG namespace.
    const parsed = new DOMParser().parseFromString(next.qr_svg, "text/html");
    const svg = parsed.body.querySelector("svg");
    if (!svg) return;
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    box.replaceChildren(document.importNode(svg, true));
    box.dataset.slot = String(next.slot);
    box.dataset.claimUrl = next.claim_url;
    box.classList.remove("expired");
  }

  // What one check-in here brings: per visit, or per hour / day times the units this kiosk records.
  function rewardText(activity) {
    if (activity.units === 0 && (activity.unit === "hour" || activity.unit === "day")) {
      const each = T.formatNumber(activity.reward, lang);
      return t(activity.unit === "hour" ? "kiosk.reward_per_hour" : "kiosk.reward_per_day", { reward: each });
    }
    const units = activity.units || 1;
    const reward = T.formatNumber(activity.reward * units, lang);
    if (activity.unit === "hour") return t("kiosk.reward_hour", { units: units, reward: reward });
    if (activity.unit === "day") return t("kiosk.reward_day", { units: units, reward: reward });
    return t("kiosk.reward", { reward: reward });
  }

  function render(next) {
    frame = next;
    skewMs = next.server_time * 1000 - Date.now();
    const activity = next.activity || {};
    main.dataset.state = next.state;
    $("activity-name").textContent = activity.name || "";
    $("activity-region").textContent = activity.region_name || "";
    $("activity-reward").textContent = activity.reward !== undefined ? rewardText(activity) : "";
    $("activity-designated").hidden = !activity.designated;
    const presence = activity.units === 0 && (activity.unit === "hour" || activity.unit === "day");
    $("presence-scan").hidden = !presence;
    main.classList.toggle("is-presence", presence);
    document.title = (activity.name ? activity.name + " — " : "") + t("kiosk.title");
    renderCounts(next.counts);
    if (next.state === "open" && next.qr_svg) {
      $("state-screen").hidden = true;
      renderQr(next);
    } else {
      $("qr").replaceChildren();
      $("qr").dataset.slot = "";
      $("qr").dataset.claimUrl = "";
      const state = T.has("state." + next.state) ? next.state : "closed";
      showStateScreen(t("state." + state), t("kiosk.state_" + state + "_text"), activity.name);
    }
    tickCountdown();
  }

  function tickCountdown() {
    if (!frame || frame.state !== "open") {
      $("rotation").hidden = true;
      return;
    }
    $("rotation").hidden = false;
    const remaining = frame.rotates_at - serverNow();
    const rotation = frame.rotation_s || 30;
    const fraction = Math.max(0, Math.min(1, remaining / rotation));
    $("rotation-fill").style.transform = "scaleX(" + fraction.toFixed(3) + ")";
    const box = $("qr");
    if (remaining > 0) {
      $("rotation-text").textContent = t("kiosk.next_in", { seconds: Math.ceil(remaining) });
      box.classList.remove("stale", "expired");
    } else if (remaining > -rotation) {
      // Not refreshed yet (offline?): the code is still accepted for the grace period.
      $("rotation-text").textContent = t("kiosk.refreshing");
      box.classList.add("stale");
    } else {
      $("rotation-text").textContent = t("kiosk.qr_expired");
      box.classList.add("expired");
    }
  }

  function schedule() {
    if (stopped) return;
    clearTimeout(pollTimer);
    let delay = failures ? Math.min(POLL_MS * Math.pow(2, failures - 1), MAX_BACKOFF_MS) : POLL_MS;
    if (!failures && frame && frame.state === "open") {
      const untilRotation = (frame.rotates_at - serverNow()) * 1000 + ROTATION_LEAD_MS;
      if (untilRotation > 0) delay = Math.min(delay, untilRotation);
    }
    pollTimer = setTimeout(poll, delay);
  }

  async function poll() {
    let result;
    try {
      result = await T.fetchJson(frameUrl, { headers: { Accept: "application/json" } }, 5000);
    } catch (err) {
      failures += 1;
      setOffline(true);
      schedule();
      return;
    }
    if (result.status === 200 && result.body) {
      failures = 0;
      setOffline(false);
      render(result.body);
      schedule();
      return;
    }
    const error = T.apiError(result);
    if (error.code === "kiosk_session_invalid" || result.status === 401) {
      stopped = true;
      setOffline(false);
      main.dataset.state = "session_invalid";
      $("qr").replaceChildren();
      showStateScreen(t("kiosk.session_invalid_title"), t("kiosk.session_invalid_text"), "");
      return;
    }
    if (result.status === 404 || result.status === 422) {
      stopped = true;
      main.dataset.state = "unknown_activity";
      showStateScreen(t("kiosk.unknown_activity_title"), t("kiosk.unknown_activity_text"), "");
      return;
    }
    failures += 1; // 5xx, 429: the server is struggling; keep the last QR code and back off
    setOffline(true);
    schedule();
  }

  /* Keep the tablet awake and offer full screen (both need a browser that allows them). */
  let wakeLock = null;
  async function keepAwake() {
    try {
      if (navigator.wakeLock && document.visibilityState === "visible" && !wakeLock) {
        wakeLock = await navigator.wakeLock.request("screen");
        wakeLock.addEventListener("release", () => {
          wakeLock = null;
        });
      }
    } catch (err) {
      wakeLock = null;
    }
  }
  document.addEventListener("visibilitychange", () => {
    keepAwake();
    if (document.visibilityState === "visible" && !stopped) poll();
  });

  const fullscreenButton = $("fullscreen-button");
  if (!document.documentElement.requestFullscreen) {
    fullscreenButton.hidden = true;
  } else {
    fullscreenButton.addEventListener("click", () => {
      if (document.fullscreenElement) document.exitFullscreen().catch(() => undefined);
      else document.documentElement.requestFullscreen().catch(() => undefined);
    });
    document.addEventListener("fullscreenchange", () => {
      fullscreenButton.textContent = document.fullscreenElement ? t("kiosk.exit_fullscreen") : t("kiosk.fullscreen");
      keepAwake();
    });
  }

  setInterval(tickCountdown, 250);
  keepAwake();
  poll();
})();
