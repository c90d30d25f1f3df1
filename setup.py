"""Packaging for bihm_jax: Bidirectional Helmholtz Machines in JAX."""

import setuptools

setuptools.setup(
    name="bihm_jax",
    version="0.1.0",
    description="Bidirectional Helmholtz Machines (Bornschein et al., ICML 2016) in JAX",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=setuptools.find_packages(include=["bihm_jax", "bihm_jax.*", "experiments", "experiments.*"]),
    python_requires=">=3.11",
    install_requires=[
        "jax>=0.4.30",
        "jaxlib>=0.4.30",
        "flax",
        "optax",
        "numpy",
        "absl-py",
        "ml_collections",
        "tensorboardX",
        "tqdm",
    ],
    extras_require={
        "test": ["pytest", "scipy", "tensorflow-datasets", "matplotlib", "nbclient", "nbformat", "ipykernel"],
        "tfds": ["tensorflow-datasets"],
        "plots": ["matplotlib"],
    },
)
