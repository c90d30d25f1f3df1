"""Command-line programs of bihm_jax: training, evaluation and sampling."""
