/*
 * The つながり page's ふるさと住民登録 sections (docs/certificate.md):
 *
 * 1. #certificate — the activity certificate (活動証明書) of one municipality:
 *    GET /api/v1/people/{address}/certificate?region=&from=&to= (the unsigned certificate and its
 *    EIP-712 typed data) → sign with this browser's key (keys.js) → POST /api/v1/certificates (the
 *    certificate with {"signature": {"type": "EIP-712", "value": …}}) → the verdict and links to
 *    the JSON file, the PDF and the verifier page. #certificate-status[data-state] goes
 *    idle → preparing → signing → saving → ready, or error.
 * 2. #listing — per municipality, the opt-in to be listed to its staff as eligible, with a contact
 *    the person chooses: GET …/listings/typed-data → sign EligibilityListing → POST …/listings;
 *    GET …/listings shows where they are listed now (never the contact: it is not sent back).
 *
 * Without this address's key in the browser both explain why and what to do, and offer nothing.
 */
(function () {
  "use strict";

  const T = window.Tsunagari;
  const t = T.t;
  const $ = (id) => document.getElementById(id);

  const section = $("certificate");
  if (!section) return;
  const ADDRESS = section.dataset.address || "";
  const signer = window.TsunagariKeys.signer(ADDRESS);

  function problem(result) {
    const error = T.apiError(result);
    return new T.HttpError(result.status, error.code, error.message);
  }

  /* ---------- the certificate ---------- */

  const form = $("certificate-form");
  const button = $("certificate-button");
  const status = $("certificate-status");
  const message = $("certificate-message");
  const result = $("certificate-result");

  function say(state, text) {
    status.dataset.state = state;
    message.textContent = text;
  }

  function showCertificate(certificate, saved) {
    const summary = certificate.summary || {};
    $("certificate-verdict").textContent = summary.text || "";
    $("certificate-premium").textContent = summary.premium ? t("cert.premium_yes") : t("cert.premium_no");
    $("certificate-premium").dataset.premium = summary.premium ? "true" : "false";
    const until = $("certificate-until");
    until.hidden = !(summary.premium && summary.eligible_until);
    until.textContent = until.hidden ? "" : t("cert.eligible_until", { day: summary.eligible_until });
    $("certificate-records").textContent = t("cert.records", {
      records: (certificate.records || []).length,
      start: certificate.range.from,
      end: certificate.range.to,
    });
    $("certificate-json").href = saved.json_url;
    // the PDF in the page's language (the sheet is Japanese first; ?lang=en prints it in English)
    $("certificate-pdf").href = saved.pdf_url + (document.documentElement.lang === "en" ? "?lang=en" : "");
    $("certificate-verify").href = saved.verify_url;
    result.hidden = false;
  }

  /**
   * A typed date as YYYY-MM-DD: 2026-12-07, 2026/12/7, 2026年12月7日 or 20261207, full-width digits
   * too (the server's ledger.jst.parse_date_text reads the same); "" when empty, null when unreadable.
   */
  function isoDay(text) {
    const typed = text.normalize("NFKC").replace(/\s/g, "");
    if (!typed) return "";
    const m = typed.match(/^(\d{4})(?:[-/.](\d{1,2})[-/.](\d{1,2})|年(\d{1,2})月(\d{1,2})日?|(\d{2})(\d{2}))$/);
    if (!m) return null;
    const year = Number(m[1]);
    const month = Number(m[2] || m[4] || m[6]);
    const day = Number(m[3] || m[5] || m[7]);
    const check = new Date(Date.UTC(year, month - 1, day));
    if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) return null;
    return `${year}-${String(month).padStart(2, "0")}-${String(day).padStart(2, "0")}`;
  }

  async function makeCertificate() {
    const query = new URLSearchParams({ region: $("certificate-region").value });
    const from = isoDay($("certificate-from").value);
    const to = isoDay($("certificate-to").value);
    if (from === null || to === null) {
      say("error", t("cert.bad_date"));
      return;
    }
    if (from) query.set("from", from);
    if (to) query.set("to", to);
    if (from && to && from > to) {
      say("error", t("cert.bad_range"));
      return;
    }
    result.hidden = true;
    say("preparing", t("cert.preparing"));
    const draft = await T.fetchJson("/api/v1/people/" + ADDRESS + "/certificate?" + query.toString(), {}, 20000);
    if (draft.status !== 200) throw problem(draft);
    say("signing", signer.kind === "wallet" ? t("cert.wallet_signing") : t("cert.signing"));
    let signature;
    try {
      signature = await signer.signTypedData(draft.body.typed_data);
    } catch (err) {
      say("error", t("cert.wallet_error"));
      return;
    }
    const signed = Object.assign({}, draft.body.certificate, { signature: { type: "EIP-712", value: signature } });
    say("saving", t("cert.saving"));
    const saved = await T.fetchJson(
      "/api/v1/certificates",
      { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(signed) },
      20000,
    );
    if (saved.status !== 201) throw problem(saved);
    showCertificate(signed, saved.body);
    say("ready", t("cert.ready"));
  }

  if (!signer) {
    $("certificate-no-key").hidden = false;
    if (button) button.disabled = true;
  } else if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      button.disabled = true;
      try {
        await makeCertificate();
      } catch (err) {
        if (err instanceof T.NetworkError) say("error", t("error.network"));
        else if (err instanceof T.HttpError) say("error", t("cert.rejected", { message: err.message || err.code }));
        else say("error", t("error.unknown"));
      } finally {
        button.disabled = false;
      }
    });
  }

  /* ---------- the eligibility listing ---------- */

  const forms = Array.prototype.slice.call(document.querySelectorAll("form.listing-form"));
  if (!forms.length) return;
  if (!signer) $("listing-no-key").hidden = false;

  function showListed(region, listed) {
    const state = $("listing-state-" + region);
    state.dataset.listed = listed === null ? "unknown" : String(listed);
    if (listed === null) state.textContent = t("listing.state_unknown");
    else state.textContent = listed ? t("listing.state_listed") : t("listing.state_not_listed");
    $("listing-out-" + region).disabled = !signer || listed !== true;
  }

  async function loadListings() {
    try {
      const answer = await T.fetchJson("/api/v1/people/" + ADDRESS + "/listings");
      if (answer.status !== 200 || !answer.body) throw problem(answer);
      const listed = new Set((answer.body.listings || []).filter((l) => l.listed).map((l) => String(l.region)));
      forms.forEach((f) => showListed(f.dataset.region, listed.has(f.dataset.region)));
    } catch (err) {
      forms.forEach((f) => showListed(f.dataset.region, null));
    }
  }

  async function sendListing(region, listed) {
    const contactInput = $("listing-contact-" + region);
    const status = $("listing-status-" + region);
    const report = (state, text) => {
      status.dataset.state = state;
      status.textContent = text;
    };
    const contact = listed ? contactInput.value.trim() : "";
    if (listed && !contact) {
      report("error", t("listing.contact_needed"));
      contactInput.focus();
      return;
    }
    const query = new URLSearchParams({ region: region, contact: contact, listed: listed ? "true" : "false" });
    try {
      report("signing", t("listing.signing"));
      const prepared = await T.fetchJson("/api/v1/people/" + ADDRESS + "/listings/typed-data?" + query.toString());
      if (prepared.status !== 200) throw problem(prepared);
      const typed = prepared.body;
      let signature;
      try {
        signature = await signer.signTypedData(typed);
      } catch (err) {
        report("error", t("cert.wallet_error"));
        return;
      }
      report("saving", t("listing.saving"));
      const posted = await T.fetchJson("/api/v1/people/" + ADDRESS + "/listings", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          region: typed.message.region,
          contact: typed.message.contact,
          listed: typed.message.listed,
          issued_at: typed.message.issuedAt,
          signature: signature,
        }),
      });
      if (posted.status !== 200 && posted.status !== 201) throw problem(posted);
      showListed(region, Boolean(posted.body && posted.body.listed));
      if (!listed) contactInput.value = "";
      report("done", listed ? t("listing.listed") : t("listing.unlisted"));
    } catch (err) {
      if (err instanceof T.NetworkError) report("error", t("error.network"));
      else if (err instanceof T.HttpError) report("error", t("listing.rejected", { message: err.message || err.code }));
      else report("error", t("error.unknown"));
    }
  }

  forms.forEach((f) => {
    const region = f.dataset.region;
    const inButton = $("listing-in-" + region);
    const outButton = $("listing-out-" + region);
    const unlock = () => {
      inButton.disabled = !signer;
      outButton.disabled = !signer || $("listing-state-" + region).dataset.listed !== "true";
    };
    inButton.disabled = !signer;
    outButton.disabled = true;
    f.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!signer) return;
      inButton.disabled = true;
      outButton.disabled = true;
      try {
        await sendListing(region, true);
      } finally {
        unlock();
      }
    });
    outButton.addEventListener("click", async () => {
      if (!signer) return;
      inButton.disabled = true;
      outButton.disabled = true;
      try {
        await sendListing(region, false);
      } finally {
        unlock();
      }
    });
  });
  loadListings();
})();
