"""Analysis of a run's latents: association, ranking, clustering, embeddings, quality, layer comparison, exploration."""
