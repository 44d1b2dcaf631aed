"""ふるさと住民登録 evidence: activity certificates (活動証明書) that anyone verifies against the chain
without our server, the holder proof, and the Premium eligibility rule (docs/certificate.md).

- :mod:`.model`: the certificate's JSON form, parsed strictly;
- :mod:`.typed`: what the participant signs (EIP-712);
- :mod:`.eligibility`: the one definition of "eligible for Premium" and when it lapses;
- :mod:`.issue`: a participant's certificate from the index;
- :mod:`.verify`: every line against any JSON-RPC endpoint of the chain;
- :mod:`.roster`: the staff's eligibility roster (who is eligible, until when, who is close);
- :mod:`.listings`: participants' signed opt-in to be listed to staff with a contact; the CSV;
- :mod:`.pdf`: the printable PDF; :mod:`.standalone`: the one-file verifier page.
"""
