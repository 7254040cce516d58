"""Data lineage: raw-source adapters, the shapes-world generator, filters, MDS shards, streaming datasets."""
