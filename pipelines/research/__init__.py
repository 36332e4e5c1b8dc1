"""The research pipeline: plan queries, gather from sources, fetch and extract, rank, synthesise, store."""
