/*
 * The つながり page (/people/{address}): copy the address, and support (応援) a project with coins.
 *
 * The support is signed in this browser with the key the claim page keeps in localStorage
 * (tsunagari.key.v1, see claim.js and docs/pages-checkin.md) as an EIP-712 `Support`
 * (GET /api/v1/supports/typed-data gives the domain, the next nonce and a deadline), POSTed to
 * /api/v1/supports and relayed without gas; the page then follows its status until it is on chain.
 */
(function () {
  "use strict";

  const T = window.Tsunagari;
  const t = T.t;
  const $ = (id) => document.getElementById(id);
  const KEY_STORE = "tsunagari.key.v1";
  const POLL_MS = 1000;
  const MAX_POLLS = 180;

  const dataElement = $("page-data");
  const DATA = dataElement ? JSON.parse(dataElement.textContent || "{}") : {};
  const LANG = DATA.lang || document.documentElement.lang || "ja";

  const address = $("person-address");
  T.copyButton($("copy-person-address"), () => (address ? address.title : ""));

  const form = $("support-form");
  if (!form) return;
  const section = $("support");
  const projectSelect = $("support-project");
  const amountInput = $("support-amount");
  const button = $("support-button");
  const status = $("support-status");
  const message = $("support-message");
  const txLine = $("support-tx");
  const pageAddress = (section.dataset.address || "").toLowerCase();

  function storedKey() {
    try {
      const raw = window.localStorage.getItem(KEY_STORE);
      const key = raw ? JSON.parse(raw) : null;
      return key && key.privateKey && String(key.address).toLowerCase() === pageAddress ? key : null;
    } catch (err) {
      return null;
    }
  }

  function project() {
    const id = Number(projectSelect.value);
    return (DATA.projects || []).find((p) => p.id === id) || null;
  }

  function showBalance() {
    const chosen = project();
    const balance = chosen ? chosen.balance : 0;
    $("support-balance").textContent = t("support.balance", { balance: T.formatNumber(balance, LANG) });
    amountInput.max = String(balance);
  }

  function say(state, text) {
    status.dataset.state = state;
    message.textContent = text;
  }

  const key = storedKey();
  if (!key) {
    $("support-no-key").hidden = false;
    button.disabled = true;
  }
  projectSelect.addEventListener("change", showBalance);
  showBalance();

  async function follow(supportId) {
    for (let i = 0; i < MAX_POLLS; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      let result;
      try {
        result = await T.fetchJson("/api/v1/supports/" + supportId);
      } catch (err) {
        continue; // offline for a moment: keep asking
      }
      if (result.status !== 200 || !result.body) continue;
      const body = result.body;
      if (body.tx_hash) {
        txLine.hidden = false;
        txLine.textContent = t("support.tx", { hash: T.shortHex(body.tx_hash, 8, 6) });
        txLine.title = body.tx_hash;
      }
      if (body.status === "confirmed") {
        say("confirmed", t("support.confirmed"));
        return;
      }
      if (body.status === "rejected") {
        say("error", t("support.rejected", { message: (body.error && body.error.message) || "" }));
        return;
      }
      if (body.status === "submitted") say("submitted", t("support.submitted"));
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = project();
    const amount = Number(amountInput.value);
    if (!key || !chosen) return;
    if (!Number.isInteger(amount) || amount < 1 || amount > chosen.balance) {
      say("error", t("support.bad_amount"));
      amountInput.focus();
      return;
    }
    button.disabled = true;
    txLine.hidden = true;
    try {
      say("preparing", t("support.preparing"));
      const query = new URLSearchParams({ supporter: key.address, project_id: String(chosen.id), amount: String(amount) });
      const prepared = await T.fetchJson("/api/v1/supports/typed-data?" + query.toString());
      if (prepared.status !== 200) throw new T.HttpError(prepared.status, T.apiError(prepared).code, T.apiError(prepared).message);
      const typed = prepared.body;
      say("signing", t("support.signing"));
      const wallet = new window.ethers.Wallet(key.privateKey);
      const signature = await wallet.signTypedData(typed.domain, { Support: typed.types.Support }, typed.message);
      const posted = await T.fetchJson("/api/v1/supports", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          supporter: key.address,
          project_id: typed.message.projectId,
          amount: typed.message.amount,
          nonce: typed.message.nonce,
          deadline: typed.message.deadline,
          signature: signature,
        }),
      });
      if (posted.status !== 202) throw new T.HttpError(posted.status, T.apiError(posted).code, T.apiError(posted).message);
      say("accepted", t("support.accepted"));
      await follow(posted.body.support_id);
    } catch (err) {
      if (err instanceof T.NetworkError) say("error", t("error.network"));
      else if (err instanceof T.HttpError) say("error", t("support.rejected", { message: err.message || err.code }));
      else say("error", t("error.unknown"));
    } finally {
      button.disabled = false;
    }
  });
})();
