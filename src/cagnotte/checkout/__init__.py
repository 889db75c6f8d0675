"""The register check: quote, commit, refund, built on the programs' contributors."""
