/*
 * The participant's key in this browser, for the pages that sign EIP-712 documents the server
 * prepared (the certificate and the eligibility listing on the つながり page, the holder proof on
 * /present): window.TsunagariKeys.signer(address) gives a signer, or null when this browser cannot
 * sign for that address.
 *
 * Two kinds, as the claim page sets them up (claim.js, docs/pages-checkin.md):
 *  - the browser key: localStorage["tsunagari.key.v1"] = {address, privateKey, ...}, signed with
 *    ethers (Wallet.signTypedData takes the types without EIP712Domain);
 *  - an external wallet (localStorage["tsunagari.mode.v1"] === "wallet" and window.ethereum):
 *    eth_signTypedData_v4 with the whole document, then checked here with ethers.verifyTypedData.
 * Nothing secret leaves the page: only signatures are sent.
 */
(function () {
  "use strict";

  const KEY_STORE = "tsunagari.key.v1";
  const MODE_STORE = "tsunagari.mode.v1";
  const WALLET_STORE = "tsunagari.wallet.v1";

  function load(name) {
    try {
      const raw = window.localStorage.getItem(name);
      return raw === null ? null : JSON.parse(raw);
    } catch (err) {
      return null; // storage blocked or corrupt: as if there were no key
    }
  }

  function same(a, b) {
    return typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();
  }

  function browserKey() {
    const key = load(KEY_STORE);
    return key && typeof key.privateKey === "string" && typeof key.address === "string" ? key : null;
  }

  function walletMode() {
    return load(MODE_STORE) === "wallet" && Boolean(window.ethereum);
  }

  /** The EIP-712 types without EIP712Domain (what ethers wants). */
  function messageTypes(typed) {
    const types = {};
    Object.keys(typed.types).forEach((name) => {
      if (name !== "EIP712Domain") types[name] = typed.types[name];
    });
    return types;
  }

  function browserSigner(key) {
    return {
      kind: "browser",
      address: window.ethers.getAddress(key.address),
      signTypedData: async (typed) => new window.ethers.Wallet(key.privateKey).signTypedData(typed.domain, messageTypes(typed), typed.message),
    };
  }

  function walletSigner(address) {
    return {
      kind: "wallet",
      address: window.ethers.getAddress(address),
      signTypedData: async (typed) => {
        const accounts = await window.ethereum.request({ method: "eth_requestAccounts" });
        const account = accounts && accounts.length ? window.ethers.getAddress(accounts[0]) : null;
        if (!same(account, address)) throw new Error("the wallet's account is not " + address);
        const signature = await window.ethereum.request({
          method: "eth_signTypedData_v4",
          params: [account, JSON.stringify(typed)],
        });
        const recovered = window.ethers.verifyTypedData(typed.domain, messageTypes(typed), typed.message, signature);
        if (!same(recovered, address)) throw new Error("the wallet's signature is not " + address + "'s");
        return signature;
      },
    };
  }

  /**
   * A signer for `address` (any address when it is null), or null: the key in use here (the
   * wallet in wallet mode, else the browser key) must be that address's.
   */
  function signer(address) {
    if (walletMode()) {
      const wallet = load(WALLET_STORE);
      if (wallet && typeof wallet.address === "string" && (!address || same(wallet.address, address))) {
        return walletSigner(wallet.address);
      }
    }
    const key = browserKey();
    if (key && (!address || same(key.address, address))) return browserSigner(key);
    return null;
  }

  window.TsunagariKeys = { signer: signer, messageTypes: messageTypes };
})();
