"""Building images: Dockerfile parsing, the build context, the cache, the builder."""
