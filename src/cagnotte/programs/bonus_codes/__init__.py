"""Bonus code campaigns (the PaySec bonus program).

A merchant asks for a campaign of N single-use codes worth V each, funds it
(V × N moves to the campaign's escrow account), the codes are generated, and
customers redeem them into their platform wallet. After the validity ends, the
unused rest goes back to the merchant's business account or out to its bank.

One module per use case, over the same pieces:
- `campaigns` (request, read, report, stop), `funding` (business account, bank
  payments and their assignment, activation), `delivery` (mail, one download
  per format), `redemption` (the code as a tender, captcha, attempt limits),
  `settlement` (the rest, payouts, wiping plain codes);
- `codes` and `bank` (pure: drawing and hashing codes, bank accounts and
  variable symbols), `rows` (typed rows), `repository` and `lockouts` (the
  SQL; `lockouts` the attempts' log), `accounts` (the ledger accounts),
  `context` (limits and shared pieces);
- `service.BonusCodeService`, the one entry point of routes, pages and jobs.
"""
