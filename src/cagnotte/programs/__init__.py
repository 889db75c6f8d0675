"""The products, as rules over the ledger: one package or module per program."""
