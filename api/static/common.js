/* Tsunagari pages: helpers shared by every page (messages, fetch with timeout, copy). */
(function () {
  "use strict";

  const messagesElement = document.getElementById("messages");
  const MESSAGES = messagesElement ? JSON.parse(messagesElement.textContent || "{}") : {};

  /** The message `key` of the page's language with `{name}` placeholders filled. */
  function t(key, params) {
    const text = Object.prototype.hasOwnProperty.call(MESSAGES, key) ? MESSAGES[key] : key;
    if (!params) return text;
    return text.replace(/\{(\w+)\}/g, (whole, name) =>
      Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : whole,
    );
  }

  function has(key) {
    return Object.prototype.hasOwnProperty.call(MESSAGES, key);
  }

  class HttpError extends Error {
    constructor(status, code, message, body) {
      super(message || code);
      this.status = status;
      this.code = code;
      this.body = body || {};
    }
  }

  class NetworkError extends Error {}

  /**
   * fetch + JSON with a timeout. Resolves to {status, body, response} for any HTTP answer;
   * rejects with NetworkError when no answer arrived (offline, timeout, connection reset).
   */
  async function fetchJson(url, options, timeoutMs) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs || 8000);
    let response;
    try {
      response = await fetch(url, Object.assign({ cache: "no-store", credentials: "same-origin" }, options || {}, { signal: controller.signal }));
    } catch (err) {
      throw new NetworkError(String(err && err.message ? err.message : err));
    } finally {
      clearTimeout(timer);
    }
    let body = null;
    try {
      body = await response.json();
    } catch (err) {
      body = null;
    }
    return { status: response.status, body: body, response: response };
  }

  /** The API's error object `{code, message, ...}` of a response, or a synthetic one. */
  function apiError(result) {
    if (result.body && result.body.error && typeof result.body.error.code === "string") return result.body.error;
    if (result.status === 429) return { code: "rate_limited", message: "" };
    if (result.status === 413) return { code: "too_large", message: "" };
    if (result.status >= 500) return { code: "unavailable", message: "" };
    return { code: "unknown", message: "HTTP " + result.status };
  }

  async function copyText(text) {
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        return true;
      }
    } catch (err) {
      /* fall back below */
    }
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (err) {
      ok = false;
    }
    area.remove();
    return ok;
  }

  /** Wire a button that copies `getText()` and says so for a moment. */
  function copyButton(button, getText) {
    if (!button) return;
    const label = button.textContent;
    button.addEventListener("click", async () => {
      const ok = await copyText(getText());
      button.textContent = ok ? t("common.copied") : t("common.copy_failed");
      setTimeout(() => {
        button.textContent = label;
      }, 1800);
    });
  }

  function shortHex(value, head, tail) {
    if (!value || value.length <= head + tail + 2) return value || "";
    return value.slice(0, head + 2) + "…" + value.slice(-tail);
  }

  function jstDay(unixSeconds) {
    return Math.floor((unixSeconds + 9 * 3600) / 86400);
  }

  /**
   * A time in Japan (where the activities are), with its zone (「12月7日 10:00 JST」); with the date
   * unless it is the same JST day as `sameDayAs`.
   */
  function formatTime(unixSeconds, lang, sameDayAs) {
    const options = { timeZone: "Asia/Tokyo", hour: "2-digit", minute: "2-digit" };
    if (sameDayAs === undefined || jstDay(sameDayAs) !== jstDay(unixSeconds)) {
      options.month = "short";
      options.day = "numeric";
    }
    try {
      const text = new Intl.DateTimeFormat(lang === "ja" ? "ja-JP" : "en-GB", options).format(new Date(unixSeconds * 1000));
      return text + " JST";
    } catch (err) {
      return new Date(unixSeconds * 1000).toISOString();
    }
  }

  function formatNumber(value, lang) {
    try {
      return new Intl.NumberFormat(lang === "ja" ? "ja-JP" : "en-US").format(value);
    } catch (err) {
      return String(value);
    }
  }

  window.Tsunagari = {
    t: t,
    has: has,
    fetchJson: fetchJson,
    apiError: apiError,
    HttpError: HttpError,
    NetworkError: NetworkError,
    copyText: copyText,
    copyButton: copyButton,
    shortHex: shortHex,
    formatTime: formatTime,
    formatNumber: formatNumber,
  };
})();
