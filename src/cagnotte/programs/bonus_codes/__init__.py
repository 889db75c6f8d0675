"""Bonus code campaigns (the PaySec bonus program).

A merchant asks for a campaign of N single-use codes worth V each, funds it
(V × N moves to the campaign's escrow account), the codes are generated, and
customers redeem them into their platform wallet. After the validity ends, the
unused rest goes back to the merchant's business account or out to its bank.
"""
