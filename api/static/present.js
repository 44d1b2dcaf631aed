/*
 * /present: answer a verifier's challenge (the holder proof, docs/certificate.md).
 *
 * The challenge (nonce, expiry, audience) comes parsed in the page data; the page shows this
 * browser's key, and the button fetches the HolderProof typed data for this deployment
 * (GET /api/v1/holder-proofs/typed-data), signs it with the key (keys.js) and posts it to
 * /api/v1/presentations, where the verifier's screen picks it up. #present-status[data-state]:
 * idle → signing → sending → sent, or error with data-error = malformed | expired | no_key |
 * network | too_many | rejected | wallet.
 *
 * Expiry is judged on the server's clock: the page carries the server's time when it was made,
 * and the difference to this phone's clock is applied to every check.
 */
(function () {
  "use strict";

  const T = window.Tsunagari;
  const t = T.t;
  const $ = (id) => document.getElementById(id);

  const dataElement = $("page-data");
  const DATA = dataElement ? JSON.parse(dataElement.textContent || "{}") : {};
  const challenge = DATA.challenge;
  if (!challenge) return; // malformed link: the page already says so
  const skewS = (DATA.now || Date.now() / 1000) - Date.now() / 1000;
  const serverNow = () => Date.now() / 1000 + skewS;

  const button = $("present-button");
  const status = $("present-status");
  const message = $("present-message");
  let sent = false;

  function say(state, text, error) {
    status.dataset.state = state;
    status.dataset.error = error || "";
    message.textContent = text;
  }

  function expired() {
    return serverNow() > challenge.expires_at;
  }

  function showRemaining() {
    if (sent) return;
    if (expired()) {
      $("present-remaining").textContent = "";
      button.disabled = true;
      say("error", t("present.expired"), "expired");
      return;
    }
    const minutes = Math.max(1, Math.ceil((challenge.expires_at - serverNow()) / 60));
    $("present-remaining").textContent = "（" + t("present.remaining", { minutes: minutes }) + "）";
  }

  const signer = window.TsunagariKeys.signer(null);
  if (!signer) {
    button.disabled = true;
    say("error", t("present.no_key"), "no_key");
    return;
  }
  $("present-address").textContent = signer.address;
  T.copyButton($("present-answer-copy"), () => $("present-answer-text").value);
  const people = $("present-people");
  people.href = "/people/" + signer.address;
  people.hidden = false;
  showRemaining();
  const timer = setInterval(showRemaining, 15000);

  async function answer() {
    if (expired()) {
      say("error", t("present.expired"), "expired");
      return;
    }
    say("signing", signer.kind === "wallet" ? t("present.wallet_signing") : t("present.signing"));
    const query = new URLSearchParams({
      holder: signer.address,
      nonce: challenge.nonce,
      expires_at: String(challenge.expires_at),
      audience: challenge.audience,
    });
    const prepared = await T.fetchJson("/api/v1/holder-proofs/typed-data?" + query.toString());
    if (prepared.status !== 200) {
      const error = T.apiError(prepared);
      throw new T.HttpError(prepared.status, error.code, error.message);
    }
    let signature;
    try {
      signature = await signer.signTypedData(prepared.body);
    } catch (err) {
      say("error", t("present.wallet_error"), "wallet");
      return;
    }
    const body = {
      holder: signer.address,
      nonce: challenge.nonce,
      expires_at: challenge.expires_at,
      audience: challenge.audience,
      signature: signature,
    };
    // The same answer as text, for a verifier that cannot reach this site: staff paste it.
    $("present-answer-text").value = JSON.stringify(body);
    $("present-answer").hidden = false;
    say("sending", t("present.sending"));
    const posted = await T.fetchJson("/api/v1/presentations", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (posted.status !== 201) {
      const error = T.apiError(posted);
      throw new T.HttpError(posted.status, error.code, error.message);
    }
    sent = true;
    clearInterval(timer);
    $("present-remaining").textContent = "";
    say("sent", t("present.sent"));
  }

  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await answer();
    } catch (err) {
      if (err instanceof T.NetworkError) say("error", t("present.network"), "network");
      else if (err instanceof T.HttpError && err.code === "challenge_expired") say("error", t("present.expired"), "expired");
      else if (err instanceof T.HttpError && err.code === "too_many_answers") say("error", t("present.too_many"), "too_many");
      else if (err instanceof T.HttpError) say("error", t("present.rejected", { message: err.message || err.code }), "rejected");
      else say("error", t("error.unknown"), "unknown");
    } finally {
      button.disabled = sent || expired();
    }
  });
})();
