"""Analysis of latents: references, clustering, association, ranking, exploration, layer comparison."""
